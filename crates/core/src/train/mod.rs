//! The parts of a training run every modality shares.

pub mod checkpoint;
pub mod fit;
pub mod limits;
pub mod metrics;
pub mod optim;
pub mod order;
pub mod progress;
pub mod ranks;
pub mod run_folder;
pub mod schedule;
pub mod seed;
pub mod settings;
pub mod shard;
