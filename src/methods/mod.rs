//! SSL methods: pretext + encoder + head + objective, one file each, listed in [`MethodKind`].

pub mod ema;
pub mod losses;
pub mod simclr;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use std::path::Path;
use std::sync::Arc;

use crate::augment::image::AugmentConfig;
use crate::data::ImageSet;
use crate::encoders::ImageEncoder;
use crate::train::config::RunConfig;
use crate::train::trainer::{TrainOptions, TrainSummary, pretrain_with};

/// The registered methods (`--method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MethodKind {
    /// SimCLR: two augmented views, NT-Xent over the batch.
    Simclr,
}

/// Method hyper-parameters that are not optimiser settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodConfig {
    /// Softmax temperature of contrastive losses.
    pub temperature: f64,
    /// Hidden width of the projection head.
    pub proj_hidden: usize,
    /// Output width of the projection head.
    pub proj_dim: usize,
}

impl Default for MethodConfig {
    fn default() -> Self {
        Self {
            temperature: 0.5,
            proj_hidden: 512,
            proj_dim: 128,
        }
    }
}

/// What one training step of a method produced.
pub struct StepOutput {
    /// Scalar loss to minimise.
    pub loss: Tensor<1>,
    /// Embeddings used by the collapse watch (e.g. the projections of the first view).
    pub embeddings: Tensor<2>,
    /// Detached tensors handed to [`Method::after_step`] once the optimiser has stepped (MoCo's
    /// new keys, which join its queue); empty for most methods.
    pub carry: Vec<Tensor<2>>,
}

impl StepOutput {
    /// A step output with nothing to carry.
    pub fn new(loss: Tensor<1>, embeddings: Tensor<2>) -> Self {
        Self {
            loss,
            embeddings,
            carry: Vec::new(),
        }
    }
}

/// A self-supervised method: the trainer runs any type that implements this.
pub trait Method: Module + Sized {
    /// Builds the method's heads around `encoder`.
    fn new(cfg: &MethodConfig, encoder: ImageEncoder, device: &Device) -> Self;

    /// One augmentation pipeline per view the method consumes.
    fn views(channels: usize, size: usize) -> Vec<AugmentConfig>;

    /// Forward pass and loss for one batch; `views[v]` is `[B, C, S, S]`.
    fn step(&self, views: Vec<Tensor<4>>) -> StepOutput;

    /// The backbone being trained.
    fn encoder(&self) -> &ImageEncoder;

    /// Consumes the method and returns its backbone.
    fn into_encoder(self) -> ImageEncoder;

    /// Called after every optimiser step with the training progress in `[0, 1]` and the step's
    /// [`StepOutput::carry`] (EMA targets, queues and schedules live here). State changed here
    /// must live in the module (e.g. a `Param` without gradient) so checkpoints keep it.
    fn after_step(self, _progress: f64, _carry: Vec<Tensor<2>>) -> Self {
        self
    }
}

/// Pre-trains the method named in `cfg` on `data` into `run_dir`: the one place where a method's
/// name is mapped to its type.
pub fn pretrain(
    cfg: &RunConfig,
    data: Arc<ImageSet>,
    run_dir: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainSummary> {
    match cfg.method {
        MethodKind::Simclr => pretrain_with::<simclr::SimClr>(cfg, data, run_dir, opts),
    }
}
