//! Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views' batch-standardised
//! projections is driven to the identity: invariance on the diagonal, redundancy reduction off it.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ImageMethod, Method, StepOutput, losses, MethodSettings, ViewPreset, check_projection, projector};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::heads::MlpHead;
use autodidact_core::train::limits::{self, Settings};

#[derive(Module, Debug)]
pub struct BarlowTwins {
    pub encoder: ImageEncoder,
    pub projector: MlpHead,
    pub lambda: f64,
}

/// Barlow Twins's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BarlowConfig {
    /// Hidden width of the projection head.
    pub proj_hidden: usize,
    /// Output width of the projection head.
    pub proj_dim: usize,
    /// Weight of the off-diagonal (redundancy) term, lambda.
    pub redundancy_weight: f64,
    /// The augmentation pair.
    pub views: ViewPreset,
}

impl Default for BarlowConfig {
    fn default() -> Self {
        Self {
            proj_hidden: 512,
            // Barlow Twins relies on a wide, decorrelated projection (the paper: 8192).
            proj_dim: 512,
            // The paper's 5e-3 is for 8192 dimensions at batch 2048. At the noise floor
            // (|C_ij| ~ 1/sqrt(N)) one dimension's redundancy term is about lambda * D / N, 0.02
            // in the paper; 0.01 keeps that for 512 dimensions at batch 256.
            redundancy_weight: 0.01,
            views: ViewPreset::Method,
        }
    }
}

impl MethodSettings for BarlowConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real("method_config.redundancy_weight", self.redundancy_weight, limits::LOSS_WEIGHT)?;
        check_projection(s, self.proj_hidden, self.proj_dim)
    }
}

impl ImageMethod for BarlowTwins {
    type Config = BarlowConfig;

    fn new(cfg: &BarlowConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let projector = projector(encoder.out_dim(), cfg.proj_hidden, cfg.proj_dim, device);
        Self {
            encoder,
            projector,
            lambda: cfg.redundancy_weight,
        }
    }

    fn views(cfg: &BarlowConfig, channels: usize, size: usize) -> Vec<AugmentConfig> {
        cfg.views.pair(AugmentConfig::byol_pair(channels, size), channels, size)
    }

    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }
}

impl Method for BarlowTwins {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, _seed: u64) -> StepOutput {
        let [v1, v2]: [Tensor<4>; 2] = views.try_into().expect("Barlow Twins takes two views");
        let z1 = self.projector.forward(self.encoder.forward(v1));
        let z2 = self.projector.forward(self.encoder.forward(v2));
        StepOutput::new(losses::barlow_twins_loss(z1.clone(), z2, self.lambda), z1)
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }
}
