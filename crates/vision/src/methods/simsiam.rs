//! SimSiam (Chen & He 2021): one network, a predictor on top of the projection, and a
//! stop-gradient on the other view's projection: symmetric negative cosine, no momentum target.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ImageMethod, Method, StepOutput, losses, MethodSettings, ViewPreset, check_projection, predictor, projector};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::heads::MlpHead;
use autodidact_core::train::limits::{self, Settings};

#[derive(Module, Debug)]
pub struct SimSiam {
    pub encoder: ImageEncoder,
    pub projector: MlpHead,
    /// `None` only in the no-predictor ablation, which collapses.
    pub predictor: Option<MlpHead>,
}

impl SimSiam {
    /// Projection and prediction of one view.
    fn forward(&self, view: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let z = self.projector.forward(self.encoder.forward(view));
        let p = match &self.predictor {
            Some(predictor) => predictor.forward(z.clone()),
            None => z.clone(),
        };
        (z, p)
    }
}

/// SimSiam's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimSiamConfig {
    /// Hidden width of the projection head.
    pub proj_hidden: usize,
    /// Output width of the projection head.
    pub proj_dim: usize,
    /// Hidden width of the predictor.
    pub pred_hidden: usize,
    /// Whether the online branch has a predictor; off is an ablation: SimSiam collapses without it.
    pub predictor: bool,
    /// The augmentation pair.
    pub views: ViewPreset,
}

impl Default for SimSiamConfig {
    fn default() -> Self {
        Self {
            proj_hidden: 512,
            proj_dim: 512,
            // The predictor is a bottleneck a quarter of the projection's width.
            pred_hidden: 128,
            predictor: true,
            views: ViewPreset::Method,
        }
    }
}

impl MethodSettings for SimSiamConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.int("method_config.pred_hidden", self.pred_hidden, limits::WIDTH)?;
        check_projection(s, self.proj_hidden, self.proj_dim)
    }
}

impl ImageMethod for SimSiam {
    type Config = SimSiamConfig;

    fn new(cfg: &SimSiamConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let projector = projector(encoder.out_dim(), cfg.proj_hidden, cfg.proj_dim, device);
        let predictor = predictor(cfg.proj_dim, cfg.pred_hidden, cfg.predictor, device);
        Self {
            encoder,
            projector,
            predictor,
        }
    }

    fn views(cfg: &SimSiamConfig, channels: usize, size: usize) -> Vec<AugmentConfig> {
        // SimSiam uses MoCo v2's (SimCLR's) symmetric augmentations.
        cfg.views.pair([AugmentConfig::simclr(channels, size), AugmentConfig::simclr(channels, size)], channels, size)
    }

    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }
}

impl Method for SimSiam {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, _seed: u64) -> StepOutput {
        let [v1, v2]: [Tensor<4>; 2] = views.try_into().expect("SimSiam takes two views");
        let (z1, p1) = self.forward(v1);
        let (z2, p2) = self.forward(v2);
        let loss = (losses::negative_cosine(p1, z2.detach())
            + losses::negative_cosine(p2, z1.clone().detach()))
        .div_scalar(2.0);
        StepOutput::new(loss, z1)
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }
}
