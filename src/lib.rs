//! autodidact: self-supervised pre-training and few-label evaluation.
//!
//! Data flows one way: `data` (typed samples) -> `augment` (views) -> `encoders` + `methods`
//! (objective) -> `train` (the loop) -> `eval` (embeddings -> k-NN / linear probe / baseline).

pub mod augment;
pub mod bench;
pub mod data;
pub mod encoders;
pub mod eval;
pub mod methods;
pub mod train;

pub use autodidact_core::alloc;
/// Time series (their own crate, `autodidact-series`).
pub use autodidact_series as series;
/// Text (its own crate, `autodidact-text`).
pub use autodidact_text as text;

/// The own CPU kernels (their own crate, `autodidact-kernels`).
pub use autodidact_kernels as kernels;
