//! Series pre-training end to end on generated `.ts` problems: learning, evaluation, exact
//! resume, and the shared loop's NaN stop and collapse watch on a series method.

use std::path::Path;

use autodidact_core::method::{Method, MethodSettings, StepOutput, device_of};
use autodidact_core::split::sample_fraction;
use autodidact_core::train::checkpoint::load_encoder;
use autodidact_core::train::limits::Settings;
use autodidact_core::train::metrics::{TrainOptions, TrainSummary, read_metrics};
use autodidact_core::train::seed::mix;
use autodidact_series::SeriesSet;
use autodidact_series::batch::SeriesBatch;
use autodidact_series::data::load_series;
use autodidact_series::encoder::{SeriesEncoder, SeriesEncoderConfig};
use autodidact_series::eval::{SeriesBaselineConfig, baseline_at, embed_series};
use autodidact_series::methods::{SeriesMethod, SeriesMethodKind};
use autodidact_series::synthetic::write_waves;
use autodidact_series::train::{METHOD_STREAM, SeriesRunConfig, pretrain, pretrain_with};
use burn::prelude::*;

fn quiet() -> TrainOptions {
    TrainOptions {
        quiet: true,
        ..TrainOptions::default()
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// `(step, loss)` of every line of a run's `metrics.jsonl`.
fn loss_curve(run_dir: &Path) -> Vec<(usize, f64)> {
    read_metrics(run_dir)
        .expect("metrics readable")
        .iter()
        .map(|m| (m.step, m.loss))
        .collect()
}

/// A small encoder keeps the tests fast; the architecture is the real one.
fn small_run(
    method: SeriesMethodKind,
    data: &Path,
    train: &SeriesSet,
    steps: usize,
) -> SeriesRunConfig {
    let mut cfg = SeriesRunConfig::defaults(method, data.to_path_buf(), train);
    cfg.encoder = SeriesEncoderConfig {
        hidden: 16,
        out_dim: 32,
        depth: 4,
        dropout: 0.1,
    };
    cfg.steps = steps;
    cfg.log_every = 1;
    cfg.checkpoint_every = 10;
    cfg.seed = 3;
    cfg
}

#[test]
fn every_series_method_lowers_its_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("Waves");
    write_waves(&data, "Waves", 16, 48).unwrap();
    let problem = load_series(&data).unwrap();
    for method in [
        SeriesMethodKind::TsOrder,
        SeriesMethodKind::TsMask,
        SeriesMethodKind::TsContrast,
    ] {
        let run = tmp.path().join(method.name());
        std::fs::create_dir_all(&run).unwrap();
        let cfg = small_run(method, &data, &problem.train, 80);
        let summary = pretrain(&cfg, &problem.train, &run, &quiet()).unwrap();
        assert_eq!(summary.steps, 80);
        let losses: Vec<f64> = read_metrics(&run).unwrap().iter().map(|m| m.loss).collect();
        let (first, last) = (mean(&losses[..10]), mean(&losses[losses.len() - 10..]));
        assert!(
            last < 0.8 * first,
            "{}: loss {first:.4} -> {last:.4}",
            method.name()
        );
    }
}

#[test]
fn a_pretrained_representation_separates_the_classes_and_the_baseline_learns() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("Waves");
    write_waves(&data, "Waves", 20, 48).unwrap();
    let problem = load_series(&data).unwrap();
    let test = problem.test.as_ref().unwrap();
    let run_dir = tmp.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let cfg = small_run(SeriesMethodKind::TsContrast, &data, &problem.train, 60);
    let summary = pretrain(&cfg, &problem.train, &run_dir, &quiet()).unwrap();
    let device = cfg.device.device().unwrap();
    let encoder = load_encoder(cfg.build_encoder(&device), &summary.encoder_path).unwrap();
    let train_emb = embed_series(&encoder, &problem.train, &cfg.scaler, &device);
    let test_emb = embed_series(&encoder, test, &cfg.scaler, &device);
    let labels = problem.train.labels.as_ref().unwrap();
    let pred = autodidact_core::eval::svm::svm_predict(
        &train_emb,
        labels,
        2,
        &test_emb,
        &autodidact_core::eval::svm::SvmConfig::default(),
    );
    let acc = autodidact_core::eval::knn::accuracy(&pred, test.labels.as_ref().unwrap());
    assert!(acc > 0.8, "svm on the representation: {acc}");

    let baseline = SeriesBaselineConfig {
        steps: 80,
        ..SeriesBaselineConfig::default()
    };
    let base = baseline_at(&cfg, &problem.train, test, 1.0, &baseline, 0, &device).unwrap();
    assert!(base > 0.75, "supervised baseline: {base}");
    assert_eq!(sample_fraction(labels, 0.1, 0).len(), 4);
}

#[test]
fn a_resumed_series_run_ends_where_an_uninterrupted_one_does() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("Waves");
    write_waves(&data, "Waves", 8, 32).unwrap();
    let problem = load_series(&data).unwrap();
    let cfg = small_run(SeriesMethodKind::TsContrast, &data, &problem.train, 20);
    let straight = tmp.path().join("straight");
    let resumed = tmp.path().join("resumed");
    for dir in [&straight, &resumed] {
        std::fs::create_dir_all(dir).unwrap();
    }
    pretrain(&cfg, &problem.train, &straight, &quiet()).unwrap();
    let stop = TrainOptions {
        stop_after: Some(10),
        ..quiet()
    };
    pretrain(&cfg, &problem.train, &resumed, &stop).unwrap();
    let again = TrainOptions {
        resume: true,
        ..quiet()
    };
    let summary = pretrain(&cfg, &problem.train, &resumed, &again).unwrap();
    assert_eq!(summary.steps, 20);
    assert_eq!(loss_curve(&straight), loss_curve(&resumed));
    let device = cfg.device.device().unwrap();
    let embed = |dir: &Path| {
        let encoder =
            load_encoder(cfg.build_encoder(&device), &dir.join("encoder.safetensors")).unwrap();
        embed_series(&encoder, &problem.train, &cfg.scaler, &device).data
    };
    let (a, b) = (embed(&straight), embed(&resumed));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "encoders differ by {worst}");
}

/// A series method whose loss turns NaN at one step's seed (as `i64`: TOML has no larger
/// integers), or whose embeddings are one point.
#[derive(Module, Debug)]
struct Broken {
    encoder: SeriesEncoder,
    nan_at_seed: i64,
    collapse: bool,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct BrokenConfig {
    nan_at_seed: i64,
    collapse: bool,
}

impl MethodSettings for BrokenConfig {
    fn validate(&self, _: &Settings) -> anyhow::Result<()> {
        Ok(())
    }
}

impl SeriesMethod for Broken {
    type Config = BrokenConfig;
    fn new(cfg: &BrokenConfig, encoder: SeriesEncoder, _: &Device) -> Self {
        Self {
            encoder,
            nan_at_seed: cfg.nan_at_seed,
            collapse: cfg.collapse,
        }
    }
}

impl Method for Broken {
    type Batch = SeriesBatch;
    type Encoder = SeriesEncoder;

    fn step(&self, batch: SeriesBatch, seed: u64) -> StepOutput {
        let (x, valid) = batch.tensors(&device_of(self));
        let z = self.encoder.forward(x, valid);
        let mut loss = z.clone().square().mean();
        if seed as i64 == self.nan_at_seed {
            loss = loss.mul_scalar(f32::NAN);
        }
        let z = if self.collapse {
            z.mul_scalar(0.0).add_scalar(1.0)
        } else {
            z
        };
        StepOutput::new(loss, z)
    }

    fn encoder(&self) -> &SeriesEncoder {
        &self.encoder
    }
}

fn broken_run(dir: &Path, cfg: &BrokenConfig) -> anyhow::Result<TrainSummary> {
    let data = dir.join("Waves");
    write_waves(&data, "Waves", 6, 24).unwrap();
    let problem = load_series(&data).unwrap();
    let mut run = small_run(SeriesMethodKind::TsOrder, &data, &problem.train, 6);
    run.method_config = toml::Table::try_from(cfg).unwrap();
    run.checkpoint_every = 2;
    let out = dir.join("run");
    std::fs::create_dir_all(&out).unwrap();
    pretrain_with::<Broken>(&run, &problem.train, &out, &quiet())
}

#[test]
fn a_nan_loss_stops_a_series_run_and_keeps_its_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    // `small_run`'s seed is 3; the method sees the step's seed, not the step.
    let cfg = BrokenConfig {
        nan_at_seed: mix(3 ^ METHOD_STREAM, 3) as i64,
        collapse: false,
    };
    let msg = broken_run(tmp.path(), &cfg).unwrap_err().to_string();
    assert!(msg.contains("NaN") && msg.contains("step 3"), "{msg}");
    let kept = tmp.path().join("run/checkpoints/step-00000002");
    assert!(kept.is_dir() && msg.contains("step-00000002"), "{msg}");
}

#[test]
fn a_collapsing_series_method_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = BrokenConfig {
        nan_at_seed: 0,
        collapse: true,
    };
    let summary = broken_run(tmp.path(), &cfg).unwrap();
    assert_eq!(summary.collapse_warnings, 6, "every logged step");
}
