//! autodidact's multimodal learning: pairs of an image and its caption or spoken word, two
//! towers built of the modality crates' encoders, CLIP and SigLIP to align them from the pairs
//! alone, and what a user does with the result: cross-modal retrieval (Recall@K), zero-shot
//! classification from prompts, probes of each tower, and search.

pub mod batch;
pub mod data;
pub mod eval;
pub mod methods;
pub mod pairs;
pub mod retrieval;
pub mod search;
pub mod synthetic;
pub mod towers;
pub mod train;
