//! autodidact's modality-free core: everything a training run and an evaluation need that does
//! not know whether the samples are images, series or text.
//!
//! - [`train`]: checkpoints, run folders, settings and their limits, optimisers and schedules,
//!   metrics, progress, seeding.
//! - [`losses`], [`ema`], [`heads`]: the pieces self-supervised methods share.
//! - [`eval`] and [`split`]: embeddings -> k-NN, linear probe, RBF SVM at label budgets; reports.
//! - [`collective`]: the ranks of a run that spans processes, and what they do together.

pub mod alloc;
pub mod bench;
pub mod collective;
pub mod ema;
pub mod error;
pub mod eval;
pub mod export;
pub mod heads;
pub mod losses;
pub mod method;
pub mod recipe;
pub mod registry;
pub mod split;
pub mod train;
pub mod transformer;
