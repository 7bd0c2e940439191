//! Everything needed to rerun a pre-training run; written to `config.toml` in the run folder.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{ImageFormat, ImageSet};
use crate::encoders::vit::VIT_PATCH;
use crate::encoders::{EncoderKind, ImageEncoder};
use crate::methods::MethodKind;
use autodidact_core::train::limits::{self, Settings};
use autodidact_core::train::optim::{OptimizerConfig, OptimizerKind};
pub use autodidact_core::train::settings::{DeviceChoice, load_settings, save_settings};

/// How long to train: a number of epochs, or a wall-clock budget.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Budget {
    Epochs(usize),
    Minutes(f64),
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Budget::Epochs(e) => write!(f, "{e} epochs"),
            Budget::Minutes(m) => write!(f, "{m} minutes"),
        }
    }
}

/// A pre-training run's full configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub method: MethodKind,
    pub encoder: EncoderKind,
    /// Patch side of `--encoder vit` (the CNNs ignore it; absent in runs made before it existed).
    #[serde(default = "default_vit_patch")]
    pub vit_patch: usize,
    pub data: PathBuf,
    pub format: ImageFormat,
    /// Channels of the training images (set from the data).
    pub channels: usize,
    /// Side of the square network input (set from the data).
    pub image_size: usize,
    pub budget: Budget,
    pub batch_size: usize,
    pub seed: u64,
    pub device: DeviceChoice,
    pub optimizer: OptimizerConfig,
    /// The method's own settings, read as its [`crate::methods::ImageMethod::Config`] (runs saved
    /// when every method shared one settings struct hold every method's; each reads its own).
    pub method_config: toml::Table,
    /// Save a checkpoint every this many steps (and always at the end).
    pub checkpoint_every: usize,
    /// Log metrics every this many steps.
    pub log_every: usize,
    /// BatchNorm over the global batch of a data-parallel run (`--sync-bn`; CPU kernels only).
    #[serde(default)]
    pub sync_bn: bool,
}

fn default_vit_patch() -> usize {
    VIT_PATCH
}

/// Epochs of a run given no budget.
pub const DEFAULT_EPOCHS: usize = 20;
/// Images per batch of a run given none.
pub const DEFAULT_BATCH_SIZE: usize = 256;

/// Learning rate and weight decay that work for each optimiser at batch 256 (SGD and LARS scale
/// linearly with the batch).
pub fn optimizer_defaults(kind: OptimizerKind, batch_size: usize) -> (f64, f64) {
    match kind {
        OptimizerKind::Adamw => (2e-3, 1e-4),
        OptimizerKind::Sgd => (0.06 * batch_size as f64 / 256.0, 5e-4),
        OptimizerKind::Lars => (0.3 * batch_size as f64 / 256.0, 1e-6),
    }
}

impl RunConfig {
    /// The defaults `autodidact pretrain` uses for `method` on `train` (read from `data`):
    /// the method's encoder and hyper-parameters, AdamW at its batch-256 rate, batch 256,
    /// [`DEFAULT_EPOCHS`] epochs, seed 0, the CPU.
    pub fn defaults(method: MethodKind, data: PathBuf, train: &ImageSet) -> Self {
        let (lr, weight_decay) = optimizer_defaults(OptimizerKind::Adamw, DEFAULT_BATCH_SIZE);
        Self {
            method,
            encoder: method.default_encoder(),
            vit_patch: VIT_PATCH,
            data,
            format: ImageFormat::Auto,
            channels: train.channels,
            image_size: train.height.min(train.width),
            budget: Budget::Epochs(DEFAULT_EPOCHS),
            batch_size: DEFAULT_BATCH_SIZE,
            seed: 0,
            device: DeviceChoice::Cpu,
            optimizer: OptimizerConfig {
                kind: OptimizerKind::Adamw,
                lr,
                weight_decay,
                ..OptimizerConfig::default()
            },
            method_config: method.default_settings(),
            checkpoint_every: 500,
            log_every: 10,
            sync_bn: false,
        }
    }

    /// A freshly initialised encoder of this run's architecture.
    pub fn new_encoder(&self, device: &Device) -> ImageEncoder {
        ImageEncoder::with_vit_patch(self.encoder, self.channels, self.vit_patch, device)
    }

    /// Writes the config as TOML (atomically).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        save_settings(self, path)
    }

    /// Reads a config written by [`RunConfig::save`].
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        load_settings(path, Self::validate)
    }

    /// Checks every setting against its accepted range; `source` names where they came from.
    pub fn validate(&self, source: &str) -> anyhow::Result<()> {
        let s = Settings::of(source);
        // Contrastive losses need a negative in the batch.
        s.int("batch_size", self.batch_size, 2..=*limits::BATCH_SIZE.end())?;
        match self.budget {
            Budget::Epochs(e) => s.int("budget.epochs", e, limits::EPOCHS)?,
            Budget::Minutes(m) => s.real("budget.minutes", m, limits::MINUTES)?,
        }
        s.int("vit_patch", self.vit_patch, limits::VIT_PATCH)?;
        s.int("channels", self.channels, 1..=4)?;
        s.int("image_size", self.image_size, 1..=4_096)?;
        s.int("checkpoint_every", self.checkpoint_every, limits::EVERY)?;
        s.int("log_every", self.log_every, limits::EVERY)?;
        self.optimizer.validate(&s)?;
        self.method.check_settings(&self.method_config, &s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_from_before_vit_patch_reads_as_the_default_patch() {
        let cfg = RunConfig {
            method: MethodKind::Mae,
            encoder: EncoderKind::Vit,
            vit_patch: 7,
            data: "digits".into(),
            format: ImageFormat::Idx,
            channels: 1,
            image_size: 28,
            budget: Budget::Minutes(10.0),
            batch_size: 128,
            seed: 0,
            device: DeviceChoice::Cpu,
            optimizer: OptimizerConfig::default(),
            method_config: MethodKind::Mae.default_settings(),
            checkpoint_every: 500,
            log_every: 10,
            sync_bn: false,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        cfg.save(&path).unwrap();
        assert_eq!(RunConfig::load(&path).unwrap(), cfg);
        let text = std::fs::read_to_string(&path).unwrap();
        let old: String = text
            .lines()
            .filter(|l| !l.starts_with("vit_patch"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(old, text);
        std::fs::write(&path, old).unwrap();
        let read = RunConfig::load(&path).unwrap();
        assert_eq!(read.vit_patch, VIT_PATCH);
        assert_eq!(
            read.new_encoder(&Device::flex()).feature_stride(),
            VIT_PATCH
        );
    }
}
