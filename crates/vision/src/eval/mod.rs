//! Evaluation of image encoders (embeddings, the supervised baseline, the suite, pictures) on the
//! modality-free protocols of `autodidact_core::eval`.

pub mod baseline;
pub mod embed;
pub mod grid;
pub mod suite;

pub use autodidact_core::eval::{Embeddings, knn, linear, npy, report, svm};
