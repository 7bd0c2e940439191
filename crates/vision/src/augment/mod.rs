//! Augmentations (CPU, parallel, seeded) and the background thread that prepares batches ahead of the step.

mod colour;
pub mod image;
pub mod multicrop;
pub mod prefetch;
