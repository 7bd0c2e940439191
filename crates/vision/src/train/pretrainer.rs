//! The library's way in for images: a method with the command line's defaults, a few settings
//! changed, fitted on a set of images, the trained encoder handed back.

use std::path::Path;
use std::sync::Arc;

use super::config::{Budget, RunConfig, optimizer_defaults};
use crate::data::ImageSet;
use crate::encoders::{EncoderKind, ImageEncoder};
use crate::methods::MethodKind;
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

    /// Report progress on stdout (off by default).
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// The settings [`Pretrainer::fit`] runs on `images`.
    pub fn config(&self, images: &ImageSet) -> RunConfig {
        let mut cfg = RunConfig::defaults(self.method, "(in memory)".into(), images);
        cfg.budget = self.budget.unwrap_or(cfg.budget);
        cfg.batch_size = self.batch_size.unwrap_or(cfg.batch_size);
        cfg.seed = self.seed.unwrap_or(cfg.seed);
        cfg.encoder = self.encoder.unwrap_or(cfg.encoder);
        let (lr, weight_decay) = optimizer_defaults(cfg.optimizer.kind, cfg.batch_size);
        cfg.optimizer.lr = self.lr.unwrap_or(lr);
        cfg.optimizer.weight_decay = weight_decay;
        cfg
    }

    /// Trains on `images` (labels ignored), with checkpoints, metrics and the exported encoder
    /// in `run_dir` (created if missing), and returns the trained encoder.
    pub fn fit(&self, images: Arc<ImageSet>, run_dir: &Path) -> anyhow::Result<Trained> {
        let config = self.config(&images);
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
