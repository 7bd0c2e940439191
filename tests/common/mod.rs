//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod fixtures;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use autodidact::train::metrics::TrainOptions;

/// The autodidact binary built for this test run.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_autodidact"))
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
