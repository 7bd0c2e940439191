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
#[cfg(test)]
mod shared_data;
pub mod text;
pub mod train;

pub use autodidact_core::alloc;
/// Time series (their own crate, `autodidact-series`).
pub use autodidact_series as series;

/// The own CPU kernels (their own crate, `autodidact-kernels`).
pub use autodidact_kernels as kernels;
