//! Helpers shared by the image library's integration tests.
#![allow(dead_code)]

use std::path::Path;

use autodidact_vision::data::idx::read_idx_pair;
use autodidact_vision::data::{ImageFormat, ImageSet};
use autodidact_vision::methods::MethodKind;
use autodidact_vision::train::config::{Budget, RunConfig};
use autodidact_vision::train::metrics::{TrainOptions, read_metrics};

/// The bundled MNIST sample (10,000 test digits) in the workspace's `data/mnist`.
pub fn bundled_mnist() -> ImageSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    read_idx_pair(
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &dir.join("t10k-labels-idx1-ubyte.gz"),
    )
    .expect("the bundled MNIST files are readable")
}

/// The first `n` images of a set.
pub fn first(set: &ImageSet, n: usize) -> ImageSet {
    set.subset(&(0..n).collect::<Vec<_>>())
}

/// A SimCLR run config for the bundled 28x28 digits: small CNN, checkpoint every 4 steps,
/// metrics every step.
pub fn mnist_run_config(epochs: usize, batch_size: usize) -> RunConfig {
    let digits = first(&bundled_mnist(), 1);
    RunConfig {
        format: ImageFormat::Idx,
        budget: Budget::Epochs(epochs),
        batch_size,
        seed: 7,
        optimizer: Default::default(),
        method_config: Default::default(),
        checkpoint_every: 4,
        log_every: 1,
        ..RunConfig::defaults(MethodKind::Simclr, "bundled".into(), &digits)
    }
}

/// Loop options that print nothing.
pub fn quiet() -> TrainOptions {
    TrainOptions {
        quiet: true,
        ..TrainOptions::default()
    }
}

pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// `(step, loss)` of every line of a run's `metrics.jsonl`.
pub fn loss_curve(run_dir: &Path) -> Vec<(usize, f64)> {
    read_metrics(run_dir)
        .expect("metrics readable")
        .iter()
        .map(|m| (m.step, m.loss))
        .collect()
}
