//! MoCo v3 (Chen, Xie & He 2021): queries from the online encoder, projector and predictor; keys
//! from a momentum (EMA) encoder and projector; InfoNCE with the other in-batch keys as
//! negatives, symmetric over the two views and scaled by `2 T` as in the paper. No queue.
//!
//! BatchNorm needs no shuffling here: every key of a step comes from the same batch, so batch
//! statistics cannot tell the positive key from the negatives. The momentum follows BYOL's
//! cosine schedule from `ema_momentum` to 1, as the paper does.

use burn::prelude::*;

use autodidact_core::ema::{cosine_momentum, ema_update, momentum_copy};
use super::{AfterStep, ImageMethod, Method, MethodConfig, StepOutput, losses};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::heads::MlpHead;

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

impl ImageMethod for MocoV3 {
    fn new(cfg: &MethodConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let projector = cfg.projector(encoder.out_dim(), device);
        let predictor = cfg.predictor_head(device);
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

    fn views(channels: usize, size: usize) -> Vec<AugmentConfig> {
        // MoCo v3 uses BYOL's augmentations.
        AugmentConfig::byol_pair(channels, size).to_vec()
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
