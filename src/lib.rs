//! autodidact: self-supervised pre-training and few-label evaluation, for images, time series
//! and text. This crate gathers the others under one name:
//!
//! - images (`autodidact-vision`): [`data`], [`augment`], [`encoders`], [`methods`], [`train`],
//!   [`eval`], [`bench`];
//! - [`series`] (`autodidact-series`) and [`text`] (`autodidact-text`);
//! - the modality-free core (`autodidact-core`) is re-exported inside them where it used to live
//!   (`train::checkpoint`, `eval::knn`, ...), and [`kernels`] are the own CPU kernels.

pub use autodidact_core::alloc;
/// The own CPU kernels (their own crate, `autodidact-kernels`).
pub use autodidact_kernels as kernels;
/// Time series (their own crate, `autodidact-series`).
pub use autodidact_series as series;
/// Text (their own crate, `autodidact-text`).
pub use autodidact_text as text;
pub use autodidact_vision::{augment, bench, data, encoders, eval, methods, train};
