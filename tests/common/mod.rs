//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod fixtures;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use autodidact::data::idx::read_idx_pair;
use autodidact::data::{ImageFormat, ImageSet};
use autodidact::encoders::EncoderKind;
use autodidact::methods::{MethodConfig, MethodKind};
use autodidact::train::config::{Budget, DeviceChoice, RunConfig};
use autodidact::train::metrics::TrainOptions;
use autodidact::train::optim::OptimizerConfig;

/// The bundled MNIST sample (10,000 test digits).
pub fn bundled_mnist() -> ImageSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
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

/// The autodidact binary built for this test run.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_autodidact"))
}

/// A SimCLR run config for the bundled 28x28 digits: small CNN, checkpoint every 4 steps,
/// metrics every step.
pub fn mnist_run_config(epochs: usize, batch_size: usize) -> RunConfig {
    RunConfig {
        method: MethodKind::Simclr,
        encoder: EncoderKind::Cnn,
        vit_patch: autodidact::encoders::vit::VIT_PATCH,
        data: "bundled".into(),
        format: ImageFormat::Idx,
        channels: 1,
        image_size: 28,
        budget: Budget::Epochs(epochs),
        batch_size,
        seed: 7,
        device: DeviceChoice::Cpu,
        optimizer: OptimizerConfig::default(),
        method_config: MethodConfig::default(),
        checkpoint_every: 4,
        log_every: 1,
    }
}

/// Loop options that print nothing.
pub fn quiet() -> TrainOptions {
    TrainOptions {
        quiet: true,
        ..TrainOptions::default()
    }
}

/// Runs the binary with `args` (its decoded-image cache in a temporary folder).
pub fn run_cli(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env(
            "AUTODIDACT_CACHE",
            std::env::temp_dir().join("autodidact-test-cache"),
        )
        .output()
        .expect("the binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// `(step, loss)` of every line of a run's `metrics.jsonl`.
pub fn loss_curve(run_dir: &Path) -> Vec<(usize, f64)> {
    autodidact::train::metrics::read_metrics(run_dir)
        .expect("metrics readable")
        .iter()
        .map(|m| (m.step, m.loss))
        .collect()
}
