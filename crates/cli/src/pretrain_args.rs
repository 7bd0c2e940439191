//! `autodidact pretrain`'s flags: those of every run, then each modality's own (given for a
//! method of another modality, one is an error naming it).

use std::path::PathBuf;

use clap::Args;

use super::flags;
use super::methods::{AnyMethod, Modality, apply_temperature};
use autodidact_core::recipe::Recipe;
use autodidact_core::train::limits;
use autodidact_core::train::optim::{OptimizerConfig, OptimizerKind};
use autodidact_text::tokenizer::TokenizerKind;
use autodidact_vision::data::ImageFormat;
use autodidact_vision::encoders::EncoderKind;
use autodidact_vision::train::config::DeviceChoice;

/// The settings of a step-counted run that the shared flags set.
pub(super) struct StepRunFields<'a> {
    pub batch_size: &'a mut usize,
    pub steps: &'a mut usize,
    pub minutes: &'a mut Option<f64>,
    pub seed: &'a mut u64,
    pub device: &'a mut DeviceChoice,
    pub optimizer: &'a mut OptimizerConfig,
    pub method_config: &'a mut toml::Table,
    pub checkpoint_every: &'a mut usize,
    pub log_every: &'a mut usize,
}

#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// Settings from a recipe file (recipes/*.toml); flags given here override it.
    #[arg(long)]
    pub(super) recipe: Option<PathBuf>,
    /// Self-supervised method [default: simclr].
    #[arg(long, value_enum)]
    pub(super) method: Option<AnyMethod>,
    /// Data set: MNIST IDX folder, image folder, or .tar/.tar.gz of an image folder (required
    /// unless the recipe names one).
    #[arg(long)]
    pub(super) data: Option<PathBuf>,
    /// Image data format [default: detected from the path].
    #[arg(long, value_enum)]
    pub(super) format: Option<ImageFormat>,
    /// Backbone [default: vit for mae, cnn otherwise].
    #[arg(long, value_enum)]
    pub(super) encoder: Option<EncoderKind>,
    /// Patch side of --encoder vit in pixels; it must tile the images for mae and inpaint (4 or
    /// 7 on 28x28, 4 on 32x32) [default: 4].
    #[arg(long, value_parser = flags::int(limits::VIT_PATCH))]
    pub(super) vit_patch: Option<usize>,
    /// Train for this many epochs (default 20 unless --minutes is given); 0 saves the encoder as
    /// initialised, a random-init control to evaluate beside trained runs.
    #[arg(long, conflicts_with = "minutes", value_parser = flags::int(limits::EPOCHS))]
    pub(super) epochs: Option<usize>,
    /// Train for this many minutes of wall-clock time instead of a number of epochs.
    #[arg(long, value_parser = flags::real(limits::MINUTES))]
    pub(super) minutes: Option<f64>,
    /// Series and text methods: optimiser steps [series default: TS2Vec's 200, or 600 above
    /// 100,000 values; text: 2,000].
    #[arg(long, conflicts_with = "epochs", value_parser = flags::int(limits::STEPS))]
    pub(super) steps: Option<usize>,
    /// Text methods: tokenizer trained on the corpus [default: char].
    #[arg(long, value_enum)]
    pub(super) tokenizer: Option<TokenizerKind>,
    /// Text methods: vocabulary size of the wordpiece/bpe tokenizer [default: 8000].
    #[arg(long, value_parser = flags::int(limits::VOCAB_SIZE))]
    pub(super) vocab_size: Option<usize>,
    /// Text methods: Transformer size, tiny|mini|small|base [default: small].
    #[arg(long)]
    pub(super) model: Option<String>,
    /// Text methods: tokens per sequence [default: 128].
    #[arg(long, value_parser = flags::int(limits::CONTEXT))]
    pub(super) context: Option<usize>,
    /// Text methods: start from the encoder and tokenizer of this run folder (SimCSE after MLM,
    /// say); the Transformer's size and the tokenizer are that run's.
    #[arg(long)]
    pub(super) init: Option<PathBuf>,
    /// Pair methods: start the image tower from this image run's encoder.
    #[arg(long)]
    pub(super) init_image: Option<PathBuf>,
    /// Pair methods: start the caption tower from this text run (its Transformer and tokenizer).
    #[arg(long)]
    pub(super) init_text: Option<PathBuf>,
    /// Pair methods: start the audio tower from this audio-byol run's encoder.
    #[arg(long)]
    pub(super) init_audio: Option<PathBuf>,
    /// Pair methods: freeze the image tower given by --init-image (LiT).
    #[arg(long)]
    pub(super) lock_image: bool,
    /// Audio methods: samples per second every clip is resampled to [default: 8000].
    #[arg(long, value_parser = flags::int(1000..=192_000))]
    pub(super) rate: Option<usize>,
    /// Audio methods: longest training crop in seconds [default: 1].
    #[arg(long, value_parser = flags::real(limits::Real::closed(0.05, 3600.0)))]
    pub(super) max_seconds: Option<f64>,
    /// Images per batch [default: 256; series 8, text 32, audio 16 clips].
    #[arg(long, value_parser = flags::int(limits::BATCH_SIZE))]
    pub(super) batch_size: Option<usize>,
    /// Seed of initialisation, sample order and augmentations [default: 0].
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Run folder (default runs/<method>-<data name>).
    #[arg(long)]
    pub(super) out: Option<PathBuf>,
    /// Continue the run in --out from its newest checkpoint.
    #[arg(long)]
    pub(super) resume: bool,
    /// Replace an existing run folder.
    #[arg(long, conflicts_with = "resume")]
    pub(super) force: bool,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub(super) device: DeviceChoice,
    /// Optimiser [default: adamw].
    #[arg(long, value_enum)]
    pub(super) optimizer: Option<OptimizerKind>,
    /// Peak learning rate.
    #[arg(long, value_parser = flags::real(limits::LEARNING_RATE))]
    pub(super) lr: Option<f64>,
    #[arg(long, value_parser = flags::real(limits::WEIGHT_DECAY))]
    pub(super) weight_decay: Option<f64>,
    /// Temperature of the contrastive loss (default: the method's, 0.5 for SimCLR, 0.2 for MoCo).
    #[arg(long, value_parser = flags::real(limits::TEMPERATURE))]
    pub(super) temperature: Option<f64>,
    /// Save a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 500, value_parser = flags::int(limits::EVERY))]
    pub(super) checkpoint_every: usize,
    /// Log metrics every N steps.
    #[arg(long, default_value_t = 10, value_parser = flags::int(limits::EVERY))]
    pub(super) log_every: usize,
    /// Do not read or write the decoded-image cache.
    #[arg(long)]
    pub(super) no_cache: bool,
    /// Images, CNN encoders on the CPU: under mpirun, BatchNorm normalises over the global batch
    /// (every rank's slice) instead of each rank's own.
    #[arg(long)]
    pub(super) sync_bn: bool,
}

impl PretrainArgs {
    /// Lays `--optimizer`, `--lr` and `--weight-decay`, else the recipe's, over `optimizer`.
    pub(super) fn apply_optimizer(&self, recipe: &Recipe, optimizer: &mut OptimizerConfig) {
        if let Some(kind) = self.optimizer.or(recipe.optimizer) {
            optimizer.kind = kind;
        }
        optimizer.lr = self.lr.or(recipe.lr).unwrap_or(optimizer.lr);
        optimizer.weight_decay = self
            .weight_decay
            .or(recipe.weight_decay)
            .unwrap_or(optimizer.weight_decay);
    }

    /// Lays the flags every step-counted run (series, audio, pairs) shares over `run`:
    /// `--batch-size`, `--steps` (else `--epochs` of full batches over `samples`), `--minutes`
    /// (given here without steps, it trains until the time ends), `--seed`, `--device`, the
    /// optimiser's flags (else the recipe's), `--temperature` (refused by a method without one)
    /// and the logging intervals.
    pub(super) fn apply_step_run(
        &self,
        recipe: &Recipe,
        method: &str,
        samples: usize,
        run: StepRunFields<'_>,
    ) -> anyhow::Result<()> {
        *run.batch_size = self.batch_size.unwrap_or(*run.batch_size);
        if let Some(s) = self.steps {
            *run.steps = s;
        } else if let Some(epochs) = self.epochs {
            let per_epoch = (samples / (*run.batch_size).clamp(1, samples.max(1))).max(1);
            *run.steps = epochs.saturating_mul(per_epoch);
        }
        *run.minutes = self.minutes.or(*run.minutes);
        if self.minutes.is_some() && self.steps.is_none() {
            *run.steps = *limits::STEPS.end();
        }
        *run.seed = self.seed.unwrap_or(*run.seed);
        *run.device = self.device;
        self.apply_optimizer(recipe, run.optimizer);
        apply_temperature(run.method_config, self.temperature, recipe, method)?;
        *run.checkpoint_every = self.checkpoint_every;
        *run.log_every = self.log_every;
        Ok(())
    }

    /// Fails on a flag that does not apply to a method of `modality`, naming it.
    pub(super) fn check_modality(&self, modality: Modality) -> anyhow::Result<()> {
        let image = [
            ("--format", self.format.is_some()),
            ("--encoder", self.encoder.is_some()),
            ("--vit-patch", self.vit_patch.is_some()),
            ("--no-cache", self.no_cache),
            ("--sync-bn", self.sync_bn),
        ];
        let text = [
            ("--tokenizer", self.tokenizer.is_some()),
            ("--vocab-size", self.vocab_size.is_some()),
            ("--model", self.model.is_some()),
            ("--context", self.context.is_some()),
            ("--init", self.init.is_some()),
        ];
        let pairs = [
            ("--init-image", self.init_image.is_some()),
            ("--init-text", self.init_text.is_some()),
            ("--init-audio", self.init_audio.is_some()),
            ("--lock-image", self.lock_image),
        ];
        let steps = [("--steps", self.steps.is_some())];
        let audio = [
            ("--rate", self.rate.is_some()),
            ("--max-seconds", self.max_seconds.is_some()),
        ];
        let foreign: Vec<(&str, bool)> = match modality {
            Modality::Image => [&text[..], &steps[..], &audio[..], &pairs[..]].concat(),
            Modality::Series => [&image[..], &text[..], &audio[..], &pairs[..]].concat(),
            Modality::Text => [&image[..], &audio[..], &pairs[..]].concat(),
            Modality::Audio => [&image[..], &text[..], &pairs[..]].concat(),
            Modality::Pairs => [
                ("--format", self.format.is_some()),
                ("--no-cache", self.no_cache),
                ("--init", self.init.is_some()),
                ("--max-seconds", self.max_seconds.is_some()),
            ]
            .to_vec(),
        };
        match foreign.iter().find(|(_, given)| *given) {
            Some((flag, _)) => anyhow::bail!("{flag} does not apply to {modality} methods"),
            None => Ok(()),
        }
    }
}
