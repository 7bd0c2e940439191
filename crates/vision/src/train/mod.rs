//! The image training loop and its settings, on the shared parts in `autodidact_core::train`.

pub mod config;
pub mod pretrainer;
pub mod recipe;
pub mod trainer;

pub use autodidact_core::train::{
    checkpoint, fit, limits, metrics, optim, progress, run_folder, schedule, seed, settings,
};
