//! Augmentations (CPU, parallel, seeded) and the background thread that prepares batches ahead of the step.

pub mod image;
pub mod prefetch;
