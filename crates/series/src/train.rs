//! Pre-training on series: the [`SeriesMethod`] trait, the run's config and its loop.
//!
//! The loop follows TS2Vec's: small batches (8), a fixed number of optimiser steps (200 for data
//! sets of at most 100,000 values, 600 above), a constant learning rate. Like the image loop it
//! derives the batch of step `s` from `(seed, s)` alone, checkpoints atomically, stops with the
//! last good checkpoint kept when the loss is not finite, and resumes exactly.

use std::path::{Path, PathBuf};

use anyhow::bail;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::SeriesSet;
use super::batch::{Scaler, SeriesBatch};
use super::encoder::{SeriesEncoder, SeriesEncoderConfig};
use crate::methods::{
    AfterStep, Method, MethodVisitor, SeriesMethod, SeriesMethodKind, StepOutput,
};
use autodidact_core::ema::{ema_update, momentum_copy};
use autodidact_core::method::read_settings;
use autodidact_core::recipe::{Recipe, StepRun};
use autodidact_core::train::fit::{BatchSource, Budget, LoopSettings, Schedule, fit};
use autodidact_core::train::limits::{self, Settings};
use autodidact_core::train::metrics::{TrainOptions, TrainSummary};
use autodidact_core::train::optim::OptimizerConfig;
use autodidact_core::train::order::epoch_batch;
use autodidact_core::train::progress::Progress;
use autodidact_core::train::seed::seeded_init;
use autodidact_core::train::settings::{DeviceChoice, load_settings, save_settings};

/// Stream of the per-step seed handed to [`SeriesMethod::step`].
pub const METHOD_STREAM: u64 = 0x5345_5249_4553;
/// Stream of the per-epoch sample order.
const ORDER_STREAM: u64 = 0x004f_5244_4552;

/// A method in training and the uniform average of its encoder's weights (TS2Vec evaluates this
/// average, a PyTorch `AveragedModel` that it updates once at construction and after every step,
/// so the initial weights count; it is what the run exports). After step `k` the average holds
/// `k + 1` weight sets, so the step count in the checkpoint is its only state besides the weights.
#[derive(Module, Debug)]
pub struct Averaged<M: Module> {
    pub method: M,
    pub average: SeriesEncoder,
}

impl<M: SeriesMethod> Method for Averaged<M> {
    type Batch = SeriesBatch;
    type Encoder = SeriesEncoder;

    fn step(&self, batch: SeriesBatch, seed: u64) -> StepOutput {
        self.method.step(batch, seed)
    }

    fn after_step(mut self, at: AfterStep, carry: Vec<Tensor<2>>) -> Self {
        self.method = self.method.after_step(at, carry);
        self.average = ema_update(self.average, self.method.encoder(), average_kept(at.step));
        self
    }

    /// The average is what the run exports.
    fn encoder(&self) -> &SeriesEncoder {
        &self.average
    }

    fn watches_collapse(&self) -> bool {
        self.method.watches_collapse()
    }
}

/// The share of the running average kept when the weights after step `step` (1, 2, ...) join
/// it: a uniform mean of the initial weights and those after each step.
fn average_kept(step: usize) -> f64 {
    step as f64 / (step + 1) as f64
}

/// Optimiser steps TS2Vec trains for: 200 for data sets of at most 100,000 values, else 600.
pub fn default_steps(set: &SeriesSet) -> usize {
    let values: usize = set.lengths.iter().sum::<usize>() * set.channels;
    if values <= 100_000 { 200 } else { 600 }
}

/// Everything needed to rerun a series pre-training run (`config.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesRunConfig {
    pub method: SeriesMethodKind,
    pub data: PathBuf,
    /// Channels of the training series (set from the data).
    pub channels: usize,
    pub encoder: SeriesEncoderConfig,
    /// Standardisation fitted on the training series.
    pub scaler: Scaler,
    /// Optimiser steps.
    pub steps: usize,
    /// Stop earlier when this many minutes have passed.
    pub minutes: Option<f64>,
    pub batch_size: usize,
    pub seed: u64,
    pub device: DeviceChoice,
    /// The learning rate is `optimizer.lr` throughout (TS2Vec's constant rate).
    pub optimizer: OptimizerConfig,
    /// The method's own settings (its `Config`'s fields).
    pub method_config: toml::Table,
    pub checkpoint_every: usize,
    pub log_every: usize,
}

impl SeriesRunConfig {
    /// TS2Vec's settings for `method` on `train`: batch 8, AdamW at 1e-3 (weight decay 0.01, as
    /// PyTorch's AdamW), [`default_steps`], the encoder's default sizes.
    pub fn defaults(method: SeriesMethodKind, data: PathBuf, train: &SeriesSet) -> Self {
        Self {
            method,
            data,
            channels: train.channels,
            encoder: SeriesEncoderConfig::default(),
            scaler: Scaler::fit(train),
            steps: default_steps(train),
            minutes: None,
            batch_size: 8,
            seed: 0,
            device: DeviceChoice::Cpu,
            optimizer: OptimizerConfig {
                lr: 1e-3,
                weight_decay: 0.01,
                warmup_fraction: 0.0,
                ..OptimizerConfig::default()
            },
            method_config: method.default_settings(),
            checkpoint_every: 500,
            log_every: 10,
        }
    }

    /// Lays `recipe`'s settings over these (epochs count passes over `train`).
    pub fn apply_recipe(&mut self, recipe: &Recipe, train: &SeriesSet) -> anyhow::Result<()> {
        if recipe.extra.contains_key("encoder") || recipe.extra.contains_key("vit_patch") {
            bail!(
                "`encoder` chooses an image backbone; series methods use the dilated convolutional encoder"
            );
        }
        recipe.apply_to_step_run(
            StepRun {
                batch_size: &mut self.batch_size,
                steps: &mut self.steps,
                minutes: &mut self.minutes,
                seed: &mut self.seed,
                optimizer: &mut self.optimizer,
            },
            train.len(),
        );
        self.method_config = self.method.recipe_settings(recipe)?;
        Ok(())
    }

    /// Full batches in one pass over `train`.
    pub fn steps_per_epoch(&self, train: &SeriesSet) -> usize {
        (train.len() / self.batch_size.clamp(1, train.len().max(1))).max(1)
    }

    /// Writes the config as TOML (atomically).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        save_settings(self, path)
    }

    /// Reads a config written by [`SeriesRunConfig::save`].
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        load_settings(path, Self::validate)
    }

    /// Checks every setting against its accepted range; `source` names where they came from.
    pub fn validate(&self, source: &str) -> anyhow::Result<()> {
        let s = Settings::of(source);
        s.int("batch_size", self.batch_size, limits::BATCH_SIZE)?;
        s.int("steps", self.steps, limits::STEPS)?;
        s.some_real("minutes", self.minutes, limits::MINUTES)?;
        s.int("channels", self.channels, 1..=65_536)?;
        s.int("encoder.hidden", self.encoder.hidden, limits::WIDTH)?;
        s.int("encoder.out_dim", self.encoder.out_dim, limits::WIDTH)?;
        s.int("encoder.depth", self.encoder.depth, limits::DEPTH)?;
        s.real("encoder.dropout", self.encoder.dropout, limits::SHARE)?;
        s.int("checkpoint_every", self.checkpoint_every, limits::EVERY)?;
        s.int("log_every", self.log_every, limits::EVERY)?;
        self.optimizer.validate(&s)?;
        self.method.check_settings(&self.method_config, &s)
    }

    /// A fresh encoder of this run's architecture.
    pub fn build_encoder(&self, device: &Device) -> SeriesEncoder {
        SeriesEncoder::new(self.channels, &self.encoder, device)
    }
}

/// Pre-trains the series method named in `cfg` on `data` (labels ignored) into `run_dir`.
///
/// ```
/// use autodidact_core::train::metrics::TrainOptions;
/// use autodidact_series::data::load_series;
/// use autodidact_series::methods::SeriesMethodKind;
/// use autodidact_series::synthetic::write_waves;
/// use autodidact_series::train::{SeriesRunConfig, pretrain};
///
/// let dir = tempfile::tempdir()?;
/// write_waves(&dir.path().join("Waves"), "Waves", 8, 32)?;
/// let problem = load_series(&dir.path().join("Waves"))?;
/// // TS2Vec's settings, a few steps.
/// let mut cfg = SeriesRunConfig::defaults(
///     SeriesMethodKind::TsContrast,
///     dir.path().join("Waves"),
///     &problem.train,
/// );
/// cfg.steps = 5;
/// let quiet = TrainOptions { quiet: true, ..TrainOptions::default() };
/// let summary = pretrain(&cfg, &problem.train, dir.path(), &quiet)?;
/// assert_eq!(summary.steps, 5);
/// assert!(summary.encoder_path.exists());
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn pretrain(
    cfg: &SeriesRunConfig,
    data: &SeriesSet,
    run_dir: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainSummary> {
    cfg.method.visit(Pretrain {
        cfg,
        data,
        run_dir,
        opts,
    })
}

struct Pretrain<'a> {
    cfg: &'a SeriesRunConfig,
    data: &'a SeriesSet,
    run_dir: &'a Path,
    opts: &'a TrainOptions,
}

impl MethodVisitor for Pretrain<'_> {
    type Output = anyhow::Result<TrainSummary>;
    fn visit<M: SeriesMethod>(self) -> Self::Output {
        pretrain_with::<M>(self.cfg, self.data, self.run_dir, self.opts)
    }
}

/// Checks a recipe's `[method_config]` against `kind`'s settings.
pub fn check_recipe(kind: SeriesMethodKind, recipe: &Recipe) -> anyhow::Result<()> {
    let table = kind.recipe_settings(recipe)?;
    let source = recipe.name();
    kind.check_settings(&table, &Settings::of(&source))
}

/// The series of step `step`: epochs of a seeded shuffle, cut into full batches.
pub fn batch_indices(n: usize, batch: usize, seed: u64, step: usize) -> Vec<usize> {
    epoch_batch(n, batch, seed ^ ORDER_STREAM, step)
}

/// Pre-trains method `M` on `data` into `run_dir`.
pub fn pretrain_with<M: SeriesMethod>(
    cfg: &SeriesRunConfig,
    data: &SeriesSet,
    run_dir: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainSummary> {
    let n = data.len();
    if n == 0 {
        bail!("{}: no series to train on", cfg.data.display());
    }
    let batch = cfg.batch_size.min(n);
    if batch < 2 {
        bail!(
            "{}: contrastive and order pretexts need batches of at least 2 series (have {n} series, --batch-size {})",
            cfg.data.display(),
            cfg.batch_size
        );
    }
    if data.channels != cfg.channels {
        bail!(
            "{}: series have {} channels, the run was configured for {}",
            cfg.data.display(),
            data.channels,
            cfg.channels
        );
    }
    let method_config =
        read_settings::<M::Config>(&cfg.method_config, &Settings::of("config.toml"))?;
    let device = cfg.device.device()?.autodiff();
    let model = seeded_init(&device, cfg.seed, || {
        let method = M::new(&method_config, cfg.build_encoder(&device), &device);
        let average = momentum_copy(method.encoder());
        Averaged { method, average }
    });
    let settings = LoopSettings {
        seed: cfg.seed,
        stream: METHOD_STREAM,
        budget: Budget::of_run(cfg.steps, cfg.minutes),
        optimizer: cfg.optimizer.clone(),
        schedule: Schedule::Constant,
        checkpoint_every: cfg.checkpoint_every,
        log_every: cfg.log_every,
        unit: "series",
        units_per_step: batch,
        steps_per_epoch: (n / batch).max(1) as f64,
    };
    let mut source = SeriesBatches {
        data,
        batch,
        seed: cfg.seed,
        scaler: &cfg.scaler,
    };
    let mut progress = Progress::new(opts.quiet);
    let fitted = fit(
        model,
        &mut source,
        &settings,
        run_dir,
        opts,
        None,
        &mut progress,
    )?;
    Ok(fitted.summary)
}

/// The padded, standardised series of each step.
struct SeriesBatches<'a> {
    data: &'a SeriesSet,
    batch: usize,
    seed: u64,
    scaler: &'a Scaler,
}

impl BatchSource for SeriesBatches<'_> {
    type Batch = SeriesBatch;

    fn batch(&mut self, step: usize) -> Option<SeriesBatch> {
        let idx = batch_indices(self.data.len(), self.batch, self.seed, step);
        Some(SeriesBatch::gather(self.data, &idx, self.scaler))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_average_is_the_mean_of_the_initial_weights_and_those_after_each_step() {
        let after_steps = [3.0, -1.0, 4.0, 2.0];
        let init = -8.0;
        let average = after_steps.iter().enumerate().fold(init, |avg, (i, w)| {
            let kept = average_kept(i + 1);
            kept * avg + (1.0 - kept) * w
        });
        assert!(average.abs() < 1e-12, "{average}");
    }
}
