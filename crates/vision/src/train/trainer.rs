//! The image side of the one loop (`autodidact_core::train::fit`): augmented views from the
//! prefetcher as the batch of each step, the warm-up + cosine schedule, pictures at the end.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use burn::prelude::*;

use super::config::{Budget, DeviceChoice, RunConfig};
use crate::augment::image::{AugmentConfig, normalise_batch};
use crate::augment::prefetch::Prefetcher;
use crate::data::ImageSet;
use crate::methods::{ImageMethod, MethodVisitor, check_encoder};
use autodidact_core::collective::{current, sum_over_ranks};
use autodidact_core::method::read_settings;
use autodidact_core::train::fit::{self, BatchSource, LoopSettings, Schedule};
use autodidact_core::train::limits::Settings;
use autodidact_core::train::metrics::{TrainOptions, TrainSummary};
use autodidact_core::train::progress::Progress;
use autodidact_core::train::seed::seeded_init;
use autodidact_kernels::batch_norm::{RankSum, set_sync};

/// Stream of the per-step seed handed to [`crate::methods::Method::step`] (apart from the
/// augmentations').
const METHOD_STREAM: u64 = 0x4d45_5448_4f44;
/// Images in the picture a method draws at the end of a run ([`ImageMethod::write_artifacts`]).
const ARTIFACT_IMAGES: usize = 8;

/// Pre-trains the method named in `cfg` on `data` into `run_dir`.
pub fn pretrain(
    cfg: &RunConfig,
    data: Arc<ImageSet>,
    run_dir: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainSummary> {
    if let Some(problem) = check_encoder(cfg.method, cfg.encoder, cfg.vit_patch, cfg.image_size) {
        anyhow::bail!("{problem}");
    }
    struct Pretrain<'a> {
        cfg: &'a RunConfig,
        data: Arc<ImageSet>,
        run_dir: &'a Path,
        opts: &'a TrainOptions,
    }
    impl MethodVisitor for Pretrain<'_> {
        type Output = anyhow::Result<TrainSummary>;
        fn visit<M: ImageMethod>(self) -> Self::Output {
            pretrain_with::<M>(self.cfg, self.data, self.run_dir, self.opts)
        }
    }
    cfg.method.visit(Pretrain {
        cfg,
        data,
        run_dir,
        opts,
    })
}

/// Pre-trains method `M` on `data` (labels ignored) into `run_dir`.
pub fn pretrain_with<M: ImageMethod>(
    cfg: &RunConfig,
    data: Arc<ImageSet>,
    run_dir: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainSummary> {
    let n = data.len();
    if n < cfg.batch_size {
        bail!(
            "{}: {n} training images is fewer than one batch of {}; lower --batch-size",
            cfg.data.display(),
            cfg.batch_size
        );
    }
    if cfg.batch_size < 2 {
        bail!("--batch-size must be at least 2 (contrastive losses need negatives)");
    }
    if cfg.sync_bn && cfg.device != DeviceChoice::Cpu {
        bail!("--sync-bn runs on the CPU kernels only; drop it with --device vulkan");
    }
    // Set for every run, so that a run after a synchronised one in the same process is not.
    set_sync(cfg.sync_bn.then_some(sum_over_ranks as RankSum));
    let steps_per_epoch = n / cfg.batch_size;
    let device = cfg.device.device()?.autodiff();
    let method_config =
        read_settings::<M::Config>(&cfg.method_config, &Settings::of("config.toml"))?;
    let model = seeded_init(&device, cfg.seed, || {
        let encoder = cfg.new_encoder(&device);
        M::new(&method_config, encoder, &device)
    });
    let views = M::views(&method_config, cfg.channels, cfg.image_size);
    let epochs_end = match cfg.budget {
        Budget::Epochs(e) => Some(e.saturating_mul(steps_per_epoch)),
        Budget::Minutes(_) => None,
    };
    let settings = LoopSettings {
        seed: cfg.seed,
        stream: METHOD_STREAM,
        budget: match cfg.budget {
            Budget::Epochs(_) => fit::Budget::Steps(epochs_end.unwrap_or(0)),
            Budget::Minutes(minutes) => fit::Budget::Minutes {
                minutes,
                max_steps: None,
            },
        },
        optimizer: cfg.optimizer.clone(),
        schedule: Schedule::WarmupCosine { floor: 0.0 },
        checkpoint_every: cfg.checkpoint_every,
        log_every: cfg.log_every,
        unit: "images",
        units_per_step: cfg.batch_size * views.len(),
        steps_per_epoch: steps_per_epoch as f64,
    };
    let mut source = ViewBatches {
        data: data.clone(),
        views: Some(views),
        batch_size: cfg.batch_size,
        seed: cfg.seed,
        // A time budget's length moves with its plan; the loop stops at it.
        end: epochs_end,
        device: device.clone(),
        prefetch: None,
        part: 0..cfg.batch_size,
    };
    let mut progress = Progress::new(opts.quiet);
    let fitted = fit::fit(
        model,
        &mut source,
        &settings,
        run_dir,
        opts,
        None,
        &mut progress,
    )?;
    if fitted.finished_now && current().is_root() {
        write_artifacts(
            &fitted.model,
            &data,
            cfg.image_size,
            &cfg.device.device()?,
            run_dir,
        )?;
    }
    Ok(fitted.summary)
}

/// The augmented views of each step, prepared ahead by a [`Prefetcher`] started at the first
/// step asked for.
struct ViewBatches {
    data: Arc<ImageSet>,
    views: Option<Vec<AugmentConfig>>,
    batch_size: usize,
    seed: u64,
    end: Option<usize>,
    device: Device,
    prefetch: Option<Prefetcher>,
    /// The positions of each batch this rank trains on (all of them in one process).
    part: Range<usize>,
}

impl BatchSource for ViewBatches {
    type Batch = Vec<Tensor<4>>;

    fn yield_part(&mut self, rank: usize, size: usize) -> bool {
        // An uneven split is left to the loop, which names the batch size it cannot split.
        if !self.batch_size.is_multiple_of(size) {
            return false;
        }
        let per_rank = self.batch_size / size;
        self.part = rank * per_rank..(rank + 1) * per_rank;
        true
    }

    fn batch(&mut self, step: usize) -> Option<Vec<Tensor<4>>> {
        if self.prefetch.is_none() {
            self.prefetch = Some(Prefetcher::spawn_part(
                self.data.clone(),
                self.views.take()?,
                self.batch_size,
                self.part.clone(),
                self.seed,
                step,
                self.end,
                3,
            ));
        }
        let batch = self.prefetch.as_mut()?.next()?;
        let shapes: Vec<[usize; 4]> = (0..batch.views.len()).map(|v| batch.shape(v)).collect();
        Some(
            batch
                .views
                .into_iter()
                .zip(shapes)
                .map(|(v, shape)| Tensor::from_data(TensorData::new(v, shape), &self.device))
                .collect(),
        )
    }
}

/// Lets the method draw its pictures from the first training images, un-augmented, with the
/// evaluation copy of the model.
fn write_artifacts<M: ImageMethod>(
    model: &M,
    data: &ImageSet,
    size: usize,
    device: &Device,
    run_dir: &Path,
) -> anyhow::Result<()> {
    let n = data.len().min(ARTIFACT_IMAGES);
    let indices: Vec<usize> = (0..n).collect();
    let model = model.valid();
    let batch = Tensor::<4>::from_data(
        TensorData::new(
            normalise_batch(data, &indices, size),
            [n, data.channels, size, size],
        ),
        device,
    );
    model
        .write_artifacts(&[batch], run_dir)
        .context("writing the method's pictures")
}
