//! The library's way in for images: a method with the command line's defaults, a few settings
//! changed, fitted on a set of images, the trained encoder handed back.

use std::path::Path;
use std::sync::Arc;

use super::config::{Budget, RunConfig, optimizer_defaults};
use crate::data::ImageSet;
use crate::encoders::{EncoderKind, ImageEncoder};
use crate::methods::{MethodKind, MethodSettings};
use crate::train::trainer::pretrain;
use autodidact_core::train::checkpoint::load_encoder;
use autodidact_core::train::metrics::{TrainOptions, TrainSummary};

/// Pre-trains an image method; every setting left alone takes `autodidact pretrain`'s default
/// ([`RunConfig::defaults`]).
///
/// ```
/// use std::sync::Arc;
/// use autodidact_vision::data::ImageSet;
/// use autodidact_vision::methods::MethodKind;
/// use autodidact_vision::methods::simclr::SimClrConfig;
/// use autodidact_vision::train::pretrainer::Pretrainer;
///
/// // 64 unlabelled 12x12 grey images (`autodidact_vision::data::load_images` reads real ones).
/// let images = Arc::new(ImageSet {
///     channels: 1,
///     height: 12,
///     width: 12,
///     pixels: (0..64 * 144).map(|i| (i * 37 % 251) as u8).collect(),
///     labels: None,
///     class_names: Vec::new(),
/// });
/// let run = tempfile::tempdir()?;
/// let trained = Pretrainer::new(MethodKind::Simclr)
///     .settings(SimClrConfig { temperature: 0.2, ..SimClrConfig::default() })
///     .epochs(1)
///     .batch_size(32)
///     .fit(images, run.path())?;
/// assert_eq!(trained.summary.steps, 2);
/// assert_eq!(trained.encoder.out_dim(), 256);
/// # Ok::<(), anyhow::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Pretrainer {
    method: MethodKind,
    budget: Option<Budget>,
    batch_size: Option<usize>,
    seed: Option<u64>,
    encoder: Option<EncoderKind>,
    lr: Option<f64>,
    /// The method's settings as a table, or why they would not become one.
    settings: Option<Result<toml::Table, String>>,
    verbose: bool,
}

/// A finished run: its settings, what the loop reported, and the encoder it exported.
pub struct Trained {
    pub config: RunConfig,
    pub summary: TrainSummary,
    pub encoder: ImageEncoder,
}

impl Pretrainer {
    pub fn new(method: MethodKind) -> Self {
        Self {
            method,
            budget: None,
            batch_size: None,
            seed: None,
            encoder: None,
            lr: None,
            settings: None,
            verbose: false,
        }
    }

    /// Passes over the data.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.budget = Some(Budget::Epochs(epochs));
        self
    }

    /// A wall-clock budget; the schedule is planned to end with it.
    pub fn minutes(mut self, minutes: f64) -> Self {
        self.budget = Some(Budget::Minutes(minutes));
        self
    }

    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = Some(batch_size);
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    pub fn encoder(mut self, encoder: EncoderKind) -> Self {
        self.encoder = Some(encoder);
        self
    }

    /// The peak learning rate (default: the optimiser's rate for the batch size).
    pub fn learning_rate(mut self, lr: f64) -> Self {
        self.lr = Some(lr);
        self
    }

    /// The method's own settings (its [`crate::methods::ImageMethod::Config`], e.g.
    /// [`crate::methods::byol::ByolConfig`]); [`Pretrainer::fit`] refuses settings of another method.
    pub fn settings<C: MethodSettings>(mut self, settings: C) -> Self {
        self.settings = Some(toml::Table::try_from(settings).map_err(|e| e.to_string()));
        self
    }

    /// Report progress on stdout (off by default).
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// The settings [`Pretrainer::fit`] runs on `images`; an error when [`Pretrainer::settings`]
    /// were another method's.
    pub fn config(&self, images: &ImageSet) -> anyhow::Result<RunConfig> {
        let mut cfg = RunConfig::defaults(self.method, "(in memory)".into(), images);
        cfg.budget = self.budget.unwrap_or(cfg.budget);
        cfg.batch_size = self.batch_size.unwrap_or(cfg.batch_size);
        cfg.seed = self.seed.unwrap_or(cfg.seed);
        cfg.encoder = self.encoder.unwrap_or(cfg.encoder);
        let (lr, weight_decay) = optimizer_defaults(cfg.optimizer.kind, cfg.batch_size);
        cfg.optimizer.lr = self.lr.unwrap_or(lr);
        cfg.optimizer.weight_decay = weight_decay;
        if let Some(settings) = &self.settings {
            let settings = settings
                .as_ref()
                .map_err(|e| anyhow::anyhow!("the method's settings: {e}"))?;
            if let Some(key) = settings
                .keys()
                .find(|k| !cfg.method_config.contains_key(*k))
            {
                anyhow::bail!(
                    "--method {} has no setting `{key}`: these settings are another method's",
                    self.method.name()
                );
            }
            cfg.method_config.extend(settings.clone());
        }
        Ok(cfg)
    }

    /// Trains on `images` (labels ignored), with checkpoints, metrics and the exported encoder
    /// in `run_dir` (created if missing), and returns the trained encoder.
    pub fn fit(&self, images: Arc<ImageSet>, run_dir: &Path) -> anyhow::Result<Trained> {
        let config = self.config(&images)?;
        config.validate("the pretrainer's settings")?;
        std::fs::create_dir_all(run_dir)?;
        config.save(&run_dir.join("config.toml"))?;
        let opts = TrainOptions {
            quiet: !self.verbose,
            ..TrainOptions::default()
        };
        let summary = pretrain(&config, images, run_dir, &opts)?;
        let device = config.device.device()?;
        let encoder = load_encoder(config.new_encoder(&device), &summary.encoder_path)?;
        Ok(Trained {
            config,
            summary,
            encoder,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::byol::ByolConfig;
    use crate::methods::simclr::SimClrConfig;

    fn images() -> ImageSet {
        ImageSet {
            channels: 1,
            height: 8,
            width: 8,
            pixels: vec![0; 4 * 64],
            labels: None,
            class_names: Vec::new(),
        }
    }

    #[test]
    fn settings_reach_the_run_and_another_methods_are_refused() {
        let byol = ByolConfig {
            ema_momentum: 0.9,
            ..ByolConfig::default()
        };
        let cfg = Pretrainer::new(MethodKind::Byol)
            .settings(byol)
            .config(&images())
            .expect("BYOL's settings");
        assert_eq!(cfg.method_config["ema_momentum"].as_float(), Some(0.9));
        let err = Pretrainer::new(MethodKind::Byol)
            .settings(SimClrConfig::default())
            .config(&images())
            .expect_err("SimCLR's settings on BYOL");
        assert!(err.to_string().contains("temperature"), "{err}");
    }
}
