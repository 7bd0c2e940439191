//! Pre-training on audio: the run's config and its loop, the one core loop
//! (`autodidact_core::train::fit`) fed with seeded batches of raw clips.
//!
//! The batch of step `s` is a pure function of `(seed, s)`: epochs of a seeded shuffle, each
//! clip cropped to at most `max_seconds` at a seeded place; the method draws its own views,
//! masks and distractors from the step's seed.

use std::path::{Path, PathBuf};

use anyhow::bail;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AudioSet;
use crate::augment::random_crop;
use crate::batch::ClipBatch;
use crate::encoder::AudioEncoding;
use crate::methods::{AudioMethod, AudioMethodKind, MethodVisitor};
use autodidact_core::method::read_settings;
use autodidact_core::recipe::{Recipe, StepRun};
use autodidact_core::train::checkpoint::load_run_encoder;
use autodidact_core::train::fit::{BatchSource, Budget, LoopSettings, Schedule, fit};
use autodidact_core::train::limits::{self, Settings};
use autodidact_core::train::metrics::{TrainOptions, TrainSummary};
use autodidact_core::train::optim::OptimizerConfig;
use autodidact_core::train::order::epoch_batch;
use autodidact_core::train::progress::Progress;
use autodidact_core::train::seed::{mix, seeded_init};
use autodidact_core::train::settings::{DeviceChoice, load_settings, save_settings};

/// Stream of the per-step seed handed to the method.
pub const METHOD_STREAM: u64 = 0x0041_5544_494f;
/// Stream of the per-epoch clip order.
const ORDER_STREAM: u64 = 0x4f52_4445_5241;
/// Stream of the per-step crops.
const CROP_STREAM: u64 = 0x4352_4f50;

/// Everything needed to rerun an audio pre-training run (`config.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudioRunConfig {
    pub method: AudioMethodKind,
    pub data: PathBuf,
    /// Samples per second every clip is resampled to.
    pub rate: u32,
    /// Clips longer than this are cropped (at a seeded place) in training.
    pub max_seconds: f64,
    pub steps: usize,
    /// Stop earlier when this many minutes have passed.
    pub minutes: Option<f64>,
    pub batch_size: usize,
    pub seed: u64,
    pub device: DeviceChoice,
    /// Peak rate after a linear warm-up, then cosine decay to a tenth.
    pub optimizer: OptimizerConfig,
    /// The method's own settings (its `Config`'s fields).
    pub method_config: toml::Table,
    pub checkpoint_every: usize,
    pub log_every: usize,
}

impl AudioRunConfig {
    /// Defaults for `method` on clips at `rate`: batches of 16 clips of at most 1 s, AdamW
    /// (5e-4 for wav2vec 2.0, as fairseq's base; 1e-3 for BYOL-A), warm-up over 8 % of the run
    /// (fairseq's 32k of 400k updates), 2,000 steps.
    pub fn defaults(method: AudioMethodKind, data: PathBuf, rate: u32) -> Self {
        let lr = match method {
            AudioMethodKind::Wav2Vec2 => 5e-4,
            AudioMethodKind::AudioByol => 1e-3,
        };
        Self {
            method,
            data,
            rate,
            max_seconds: 1.0,
            steps: 2000,
            minutes: None,
            batch_size: 16,
            seed: 0,
            device: DeviceChoice::Cpu,
            optimizer: OptimizerConfig {
                lr,
                weight_decay: 0.01,
                warmup_fraction: 0.08,
                ..OptimizerConfig::default()
            },
            method_config: method.default_settings(),
            checkpoint_every: 500,
            log_every: 10,
        }
    }

    /// Lays `recipe`'s settings over these (epochs count passes over `train`).
    pub fn apply_recipe(&mut self, recipe: &Recipe, train: &AudioSet) -> anyhow::Result<()> {
        if recipe.extra.contains_key("encoder") || recipe.extra.contains_key("vit_patch") {
            bail!(
                "`encoder` chooses an image backbone; audio methods set their networks in [method_config]"
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
    pub fn steps_per_epoch(&self, train: &AudioSet) -> usize {
        (train.len() / self.batch_size.clamp(1, train.len().max(1))).max(1)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        save_settings(self, path)
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        load_settings(path, Self::validate)
    }

    /// Checks every setting against its accepted range; `source` names where they came from.
    pub fn validate(&self, source: &str) -> anyhow::Result<()> {
        let s = Settings::of(source);
        s.int("batch_size", self.batch_size, limits::BATCH_SIZE)?;
        s.int("steps", self.steps, limits::STEPS)?;
        s.some_real("minutes", self.minutes, limits::MINUTES)?;
        s.int("rate", self.rate as usize, 1000..=192_000)?;
        s.real(
            "max_seconds",
            self.max_seconds,
            limits::Real::closed(0.05, 3600.0),
        )?;
        s.int("checkpoint_every", self.checkpoint_every, limits::EVERY)?;
        s.int("log_every", self.log_every, limits::EVERY)?;
        self.optimizer.validate(&s)?;
        self.method.check_settings(&self.method_config, &s)
    }
}

/// Checks a recipe's `[method_config]` against `kind`'s settings.
pub fn check_recipe(kind: AudioMethodKind, recipe: &Recipe) -> anyhow::Result<()> {
    let table = kind.recipe_settings(recipe)?;
    kind.check_settings(&table, &Settings::of(&recipe.name()))
}

/// Pre-trains the audio method named in `cfg` on `data` (labels ignored) into `run_dir`.
///
/// ```
/// use autodidact_audio::data::load_audio;
/// use autodidact_audio::methods::AudioMethodKind;
/// use autodidact_audio::synthetic::write_tones;
/// use autodidact_audio::train::{AudioRunConfig, pretrain};
/// use autodidact_core::train::metrics::TrainOptions;
///
/// let dir = tempfile::tempdir()?;
/// write_tones(&dir.path().join("tones"), 2, 4)?;
/// let data = load_audio(&dir.path().join("tones"), 8000)?;
/// let mut cfg = AudioRunConfig::defaults(AudioMethodKind::AudioByol, dir.path().join("tones"), 8000);
/// cfg.steps = 2;
/// cfg.batch_size = 4;
/// let quiet = TrainOptions { quiet: true, ..TrainOptions::default() };
/// let summary = pretrain(&cfg, &data.train, dir.path(), &quiet)?;
/// assert_eq!(summary.steps, 2);
/// assert!(summary.encoder_path.exists());
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn pretrain(
    cfg: &AudioRunConfig,
    data: &AudioSet,
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
    cfg: &'a AudioRunConfig,
    data: &'a AudioSet,
    run_dir: &'a Path,
    opts: &'a TrainOptions,
}

impl MethodVisitor for Pretrain<'_> {
    type Output = anyhow::Result<TrainSummary>;
    fn visit<M: AudioMethod>(self) -> Self::Output {
        pretrain_with::<M>(self.cfg, self.data, self.run_dir, self.opts)
    }
}

/// Pre-trains method `M` on `data` into `run_dir`.
pub fn pretrain_with<M: AudioMethod>(
    cfg: &AudioRunConfig,
    data: &AudioSet,
    run_dir: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainSummary> {
    let n = data.len();
    if n == 0 {
        bail!("{}: no clips to train on", cfg.data.display());
    }
    let batch = cfg.batch_size.min(n);
    if batch < 2 {
        bail!(
            "{}: audio methods need batches of at least 2 clips (have {n} clips, --batch-size {})",
            cfg.data.display(),
            cfg.batch_size
        );
    }
    if data.rate != cfg.rate {
        bail!(
            "{}: clips at {} Hz, the run was configured for {} Hz",
            cfg.data.display(),
            data.rate,
            cfg.rate
        );
    }
    let method_config =
        read_settings::<M::Config>(&cfg.method_config, &Settings::of("config.toml"))?;
    let device = cfg.device.device()?.autodiff();
    let model = seeded_init(&device, cfg.seed, || {
        M::new(
            &method_config,
            M::build_encoder(&method_config, &device),
            &device,
        )
    });
    let settings = LoopSettings {
        seed: cfg.seed,
        stream: METHOD_STREAM,
        budget: Budget::of_run(cfg.steps, cfg.minutes),
        optimizer: cfg.optimizer.clone(),
        schedule: Schedule::WarmupCosine { floor: 0.1 },
        checkpoint_every: cfg.checkpoint_every,
        log_every: cfg.log_every,
        unit: "clips",
        units_per_step: batch,
        steps_per_epoch: (n / batch).max(1) as f64,
    };
    let mut source = ClipBatches {
        data,
        batch,
        seed: cfg.seed,
        max_len: (cfg.max_seconds * cfg.rate as f64).round() as usize,
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

/// The clips of step `step`: epochs of a seeded shuffle, cut into full batches.
pub fn batch_indices(n: usize, batch: usize, seed: u64, step: usize) -> Vec<usize> {
    epoch_batch(n, batch, seed ^ ORDER_STREAM, step)
}

struct ClipBatches<'a> {
    data: &'a AudioSet,
    batch: usize,
    seed: u64,
    max_len: usize,
}

impl BatchSource for ClipBatches<'_> {
    type Batch = ClipBatch;

    fn batch(&mut self, step: usize) -> Option<ClipBatch> {
        let idx = batch_indices(self.data.len(), self.batch, self.seed, step);
        let crops = mix(self.seed ^ CROP_STREAM, step as u64);
        let clips = idx
            .iter()
            .enumerate()
            .map(|(i, &c)| random_crop(&self.data.clips[c], self.max_len, mix(crops, i as u64)))
            .collect();
        Some(ClipBatch {
            clips,
            rate: self.data.rate,
        })
    }
}

/// Something to do with a run's frozen encoder, whatever its type.
pub trait EncoderVisitor {
    type Output;
    fn visit<E: AudioEncoding>(self, encoder: E) -> Self::Output;
}

/// Something to do with a fresh encoder of a run's architecture and its method's type
/// (supervised baselines train one from scratch).
pub trait FreshEncoder {
    type Output;
    fn visit<M: AudioMethod>(self, fresh: &dyn Fn(&Device) -> M::Encoder) -> Self::Output;
}

/// Loads the encoder of the run in `run_dir` (described by `cfg`) onto `device` and hands it to
/// `visitor`.
pub fn with_run_encoder<V: EncoderVisitor>(
    cfg: &AudioRunConfig,
    run_dir: &Path,
    device: &Device,
    visitor: V,
) -> anyhow::Result<V::Output> {
    struct Load<'a, V> {
        cfg: &'a AudioRunConfig,
        run_dir: &'a Path,
        device: &'a Device,
        visitor: V,
    }
    impl<V: EncoderVisitor> MethodVisitor for Load<'_, V> {
        type Output = anyhow::Result<V::Output>;
        fn visit<M: AudioMethod>(self) -> Self::Output {
            let settings =
                read_settings::<M::Config>(&self.cfg.method_config, &Settings::of("config.toml"))?;
            let encoder = load_run_encoder(self.run_dir, M::build_encoder(&settings, self.device))?;
            Ok(self.visitor.visit(encoder))
        }
    }
    cfg.method.visit(Load {
        cfg,
        run_dir,
        device,
        visitor,
    })
}

/// Hands `user` a maker of fresh encoders of `cfg`'s architecture.
pub fn with_fresh_encoder<U: FreshEncoder>(
    cfg: &AudioRunConfig,
    user: U,
) -> anyhow::Result<U::Output> {
    struct Fresh<'a, U> {
        cfg: &'a AudioRunConfig,
        user: U,
    }
    impl<U: FreshEncoder> MethodVisitor for Fresh<'_, U> {
        type Output = anyhow::Result<U::Output>;
        fn visit<M: AudioMethod>(self) -> Self::Output {
            let settings =
                read_settings::<M::Config>(&self.cfg.method_config, &Settings::of("config.toml"))?;
            Ok(self
                .user
                .visit::<M>(&|device| M::build_encoder(&settings, device)))
        }
    }
    cfg.method.visit(Fresh { cfg, user })
}
