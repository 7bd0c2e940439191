//! MoCo v3 (Chen, Xie & He 2021): queries from the online encoder, projector and predictor; keys
//! from a momentum (EMA) encoder and projector; InfoNCE with the other in-batch keys as
//! negatives, symmetric over the two views and scaled by `2 T` as in the paper. No queue.
//!
//! BatchNorm needs no shuffling here: every key of a step comes from the same batch, so batch
//! statistics cannot tell the positive key from the negatives. The momentum follows BYOL's
//! cosine schedule from `ema_momentum` to 1, as the paper does.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use autodidact_core::ema::{cosine_momentum, ema_update, momentum_copy};
use super::{AfterStep, ImageMethod, Method, StepOutput, losses, MethodSettings, ViewPreset, check_projection, predictor, projector};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::heads::MlpHead;
use autodidact_core::train::limits::{self, Settings};

#[derive(Module, Debug)]
pub struct MocoV3 {
    pub encoder: ImageEncoder,
    pub projector: MlpHead,
    /// `None` only in the no-predictor ablation.
    pub predictor: Option<MlpHead>,
    pub momentum_encoder: ImageEncoder,
    pub momentum_projector: MlpHead,
    pub base_momentum: f64,
    pub temperature: f64,
}

impl MocoV3 {
    /// Projection and query of one view.
    fn query(&self, view: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let z = self.projector.forward(self.encoder.forward(view));
        let q = match &self.predictor {
            Some(predictor) => predictor.forward(z.clone()),
            None => z.clone(),
        };
        (z, q)
    }

    /// Keys of one view, without gradient.
    fn key(&self, view: Tensor<4>) -> Tensor<2> {
        self.momentum_projector
            .forward(self.momentum_encoder.forward(view.detach()))
            .detach()
    }

    /// The paper's `ctr(q, k)`: InfoNCE times `2 T`.
    fn contrast(&self, q: Tensor<2>, k: Tensor<2>) -> Tensor<1> {
        losses::info_nce(q, k, self.temperature).mul_scalar(2.0 * self.temperature)
    }
}

/// MoCo v3's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MocoV3Config {
    /// Softmax temperature of the symmetric InfoNCE.
    pub temperature: f64,
    /// Hidden width of the projection head.
    pub proj_hidden: usize,
    /// Output width of the projection head.
    pub proj_dim: usize,
    /// Hidden width of the predictor.
    pub pred_hidden: usize,
    /// Whether the online branch has a predictor; off is an ablation.
    pub predictor: bool,
    /// Where the momentum encoder's cosine schedule starts (it ends at 1).
    pub ema_momentum: f64,
    /// The augmentation pair.
    pub views: ViewPreset,
}

impl Default for MocoV3Config {
    fn default() -> Self {
        Self {
            temperature: 0.2,
            proj_hidden: 512,
            proj_dim: 128,
            pred_hidden: 512,
            predictor: true,
            // The papers' 0.996 (BYOL) and 0.999 (MoCo) assume hundreds of thousands of steps;
            // short CPU runs of a few thousand need the target to follow faster.
            ema_momentum: 0.99,
            views: ViewPreset::Method,
        }
    }
}

impl MethodSettings for MocoV3Config {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real("method_config.temperature", self.temperature, limits::TEMPERATURE)?;
        s.int("method_config.pred_hidden", self.pred_hidden, limits::WIDTH)?;
        s.real("method_config.ema_momentum", self.ema_momentum, limits::MOMENTUM)?;
        check_projection(s, self.proj_hidden, self.proj_dim)
    }
}

impl ImageMethod for MocoV3 {
    type Config = MocoV3Config;

    fn new(cfg: &MocoV3Config, encoder: ImageEncoder, device: &Device) -> Self {
        let projector = projector(encoder.out_dim(), cfg.proj_hidden, cfg.proj_dim, device);
        let predictor = predictor(cfg.proj_dim, cfg.pred_hidden, cfg.predictor, device);
        Self {
            momentum_encoder: momentum_copy(&encoder),
            momentum_projector: momentum_copy(&projector),
            encoder,
            projector,
            predictor,
            base_momentum: cfg.ema_momentum,
            temperature: cfg.temperature,
        }
    }

    fn views(cfg: &MocoV3Config, channels: usize, size: usize) -> Vec<AugmentConfig> {
        // MoCo v3 uses BYOL's augmentations.
        cfg.views.pair(AugmentConfig::byol_pair(channels, size), channels, size)
    }

    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }
}

impl Method for MocoV3 {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, _seed: u64) -> StepOutput {
        let [v1, v2]: [Tensor<4>; 2] = views.try_into().expect("MoCo v3 takes two views");
        let (z1, q1) = self.query(v1.clone());
        let (_, q2) = self.query(v2.clone());
        let (k1, k2) = (self.key(v1), self.key(v2));
        let loss = self.contrast(q1, k2) + self.contrast(q2, k1);
        StepOutput::new(loss, z1)
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }

    fn after_step(mut self, at: AfterStep, _carry: Vec<Tensor<2>>) -> Self {
        let progress = at.progress;
        let m = cosine_momentum(self.base_momentum, progress);
        self.momentum_encoder = ema_update(self.momentum_encoder, &self.encoder, m);
        self.momentum_projector = ema_update(self.momentum_projector, &self.projector, m);
        self
    }
}
