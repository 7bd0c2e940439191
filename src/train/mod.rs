//! The one training loop every method uses, and its parts.

pub mod checkpoint;
pub mod config;
pub mod limits;
pub mod optim;
pub mod progress;
pub mod recipe;
pub mod run_folder;
pub mod schedule;
pub mod seed;
pub mod trainer;
