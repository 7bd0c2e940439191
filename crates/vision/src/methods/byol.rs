//! BYOL (Grill et al. 2020): the online encoder, projector and predictor regress the projection
//! of the other view made by a momentum (EMA) target; no negatives. The loss is symmetric over
//! the two view orders and the target gets no gradient. The target's momentum follows the cosine
//! schedule from `ema_momentum` (0.99) to 1.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use autodidact_core::ema::{cosine_momentum, ema_update, momentum_copy};
use super::{AfterStep, ImageMethod, Method, StepOutput, losses, MethodSettings, ViewPreset, check_projection, predictor, projector};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::eval::knn::KnnFeatures;
use autodidact_core::heads::MlpHead;
use autodidact_core::train::limits::{self, Settings};

#[derive(Module, Debug)]
pub struct Byol {
    pub encoder: ImageEncoder,
    pub projector: MlpHead,
    /// `None` only in the no-predictor ablation, which collapses.
    pub predictor: Option<MlpHead>,
    pub target_encoder: ImageEncoder,
    pub target_projector: MlpHead,
    pub base_momentum: f64,
}

impl Byol {
    /// The online branch: projection and prediction of one view.
    fn online(&self, view: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let z = self.projector.forward(self.encoder.forward(view));
        let p = match &self.predictor {
            Some(predictor) => predictor.forward(z.clone()),
            None => z.clone(),
        };
        (z, p)
    }

    /// The target branch: a projection without gradient.
    fn target(&self, view: Tensor<4>) -> Tensor<2> {
        self.target_projector
            .forward(self.target_encoder.forward(view.detach()))
            .detach()
    }
}

/// BYOL's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ByolConfig {
    /// Hidden width of the projection head.
    pub proj_hidden: usize,
    /// Output width of the projection head.
    pub proj_dim: usize,
    /// Hidden width of the predictor.
    pub pred_hidden: usize,
    /// Whether the online branch has a predictor; off is an ablation: BYOL collapses without it.
    pub predictor: bool,
    /// Where the target's cosine momentum schedule starts (it ends at 1).
    pub ema_momentum: f64,
    /// The augmentation pair.
    pub views: ViewPreset,
}

impl Default for ByolConfig {
    fn default() -> Self {
        Self {
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

impl MethodSettings for ByolConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.int("method_config.pred_hidden", self.pred_hidden, limits::WIDTH)?;
        s.real("method_config.ema_momentum", self.ema_momentum, limits::MOMENTUM)?;
        check_projection(s, self.proj_hidden, self.proj_dim)
    }
}

impl ImageMethod for Byol {
    type Config = ByolConfig;
    const KNN_FEATURES: KnnFeatures = KnnFeatures::Standardised;

    fn new(cfg: &ByolConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let projector = projector(encoder.out_dim(), cfg.proj_hidden, cfg.proj_dim, device);
        let predictor = predictor(cfg.proj_dim, cfg.pred_hidden, cfg.predictor, device);
        Self {
            target_encoder: momentum_copy(&encoder),
            target_projector: momentum_copy(&projector),
            encoder,
            projector,
            predictor,
            base_momentum: cfg.ema_momentum,
        }
    }

    fn views(cfg: &ByolConfig, channels: usize, size: usize) -> Vec<AugmentConfig> {
        cfg.views.pair(AugmentConfig::byol_pair(channels, size), channels, size)
    }

    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }
}

impl Method for Byol {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, _seed: u64) -> StepOutput {
        let [v1, v2]: [Tensor<4>; 2] = views.try_into().expect("BYOL takes two views");
        let (z1, p1) = self.online(v1.clone());
        let (_, p2) = self.online(v2.clone());
        let (t1, t2) = (self.target(v1), self.target(v2));
        let loss = losses::byol_loss(p1, t2) + losses::byol_loss(p2, t1);
        StepOutput::new(loss, z1)
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }

    fn after_step(mut self, at: AfterStep, _carry: Vec<Tensor<2>>) -> Self {
        let progress = at.progress;
        let m = cosine_momentum(self.base_momentum, progress);
        self.target_encoder = ema_update(self.target_encoder, &self.encoder, m);
        self.target_projector = ema_update(self.target_projector, &self.projector, m);
        self
    }
}
