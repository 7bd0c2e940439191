//! autodidact: self-supervised pre-training and few-label evaluation, for images, time series
//! and text. This crate gathers the others under one name, each modality behind its feature
//! (all on by default):
//!
//! - `vision` (`autodidact-vision`): [`data`], [`augment`], [`encoders`], [`methods`],
//!   [`train`], [`eval`], [`bench`], and the own CPU [`kernels`];
//! - `series` (`autodidact-series`): [`series`]; `text` (`autodidact-text`): [`text`]; `audio`
//!   (`autodidact-audio`): [`audio`]; `multimodal` (`autodidact-multimodal`): [`multimodal`];
//! - the modality-free core (`autodidact-core`) is [`core`], and is re-exported inside the
//!   modalities where it used to live (`train::checkpoint`, `eval::knn`, ...).

/// Audio (its own crate, `autodidact-audio`).
#[cfg(feature = "audio")]
pub use autodidact_audio as audio;
pub use autodidact_core as core;
pub use autodidact_core::alloc;
/// The own CPU kernels (their own crate, `autodidact-kernels`).
#[cfg(feature = "vision")]
pub use autodidact_kernels as kernels;
/// Image-caption and image-speech pairs (their own crate, `autodidact-multimodal`).
#[cfg(feature = "multimodal")]
pub use autodidact_multimodal as multimodal;
/// Time series (their own crate, `autodidact-series`).
#[cfg(feature = "series")]
pub use autodidact_series as series;
/// Text (their own crate, `autodidact-text`).
#[cfg(feature = "text")]
pub use autodidact_text as text;
#[cfg(feature = "vision")]
pub use autodidact_vision::{augment, bench, data, encoders, eval, methods, train};
