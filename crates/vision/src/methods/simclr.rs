//! SimCLR (Chen et al. 2020): two augmented views, a projection head, NT-Xent over the batch.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    ImageMethod, Method, MethodSettings, StepOutput, ViewPreset, check_projection, losses, projector,
};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::heads::MlpHead;
use autodidact_core::train::limits::{self, Settings};

#[derive(Module, Debug)]
pub struct SimClr {
    pub encoder: ImageEncoder,
    pub projector: MlpHead,
    pub temperature: f64,
}

/// SimCLR's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimClrConfig {
    /// Softmax temperature of NT-Xent.
    pub temperature: f64,
    /// Hidden width of the projection head.
    pub proj_hidden: usize,
    /// Output width of the projection head.
    pub proj_dim: usize,
    /// The augmentation pair.
    pub views: ViewPreset,
}

impl Default for SimClrConfig {
    fn default() -> Self {
        Self {
            temperature: 0.5,
            proj_hidden: 512,
            proj_dim: 128,
            views: ViewPreset::Method,
        }
    }
}

impl MethodSettings for SimClrConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real("method_config.temperature", self.temperature, limits::TEMPERATURE)?;
        check_projection(s, self.proj_hidden, self.proj_dim)
    }
}

impl ImageMethod for SimClr {
    type Config = SimClrConfig;

    fn new(cfg: &SimClrConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let projector = projector(encoder.out_dim(), cfg.proj_hidden, cfg.proj_dim, device);
        Self {
            encoder,
            projector,
            temperature: cfg.temperature,
        }
    }

    fn views(cfg: &SimClrConfig, channels: usize, size: usize) -> Vec<AugmentConfig> {
        let own = [AugmentConfig::simclr(channels, size), AugmentConfig::simclr(channels, size)];
        cfg.views.pair(own, channels, size)
    }

    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }
}

impl SimClr {
    /// The projections of the two views, in one pass so that BatchNorm normalises over all 2N
    /// samples as in the paper.
    pub fn projections(&self, views: Vec<Tensor<4>>) -> (Tensor<2>, Tensor<2>) {
        let n = views[0].dims()[0];
        let z = self
            .projector
            .forward(self.encoder.forward(Tensor::cat(views, 0)));
        (z.clone().narrow(0, 0, n), z.narrow(0, n, n))
    }
}

impl Method for SimClr {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, _seed: u64) -> StepOutput {
        let (z1, z2) = self.projections(views);
        StepOutput::new(losses::nt_xent(z1.clone(), z2, self.temperature), z1)
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }
}
