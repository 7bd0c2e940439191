//! VICReg (Bardes et al. 2022): the two views' expander outputs are pulled together (invariance)
//! while each view's dimensions keep a standard deviation of at least 1 (variance) and stay
//! decorrelated (covariance). Weights 25 / 25 / 1 as in the paper.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use autodidact_core::losses::{self, VicregWeights};
use super::{ImageMethod, Method, StepOutput, MethodSettings, ViewPreset, check_projection, projector};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::heads::MlpHead;
use autodidact_core::train::limits::{self, Settings};

#[derive(Module, Debug)]
pub struct Vicreg {
    pub encoder: ImageEncoder,
    pub expander: MlpHead,
    pub invariance: f64,
    pub variance: f64,
    pub covariance: f64,
}

/// VICReg's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VicregConfig {
    /// Hidden width of the projection head.
    pub proj_hidden: usize,
    /// Output width of the projection head.
    pub proj_dim: usize,
    /// Weight of the invariance (mean squared error) term.
    pub vicreg_invariance: f64,
    /// Weight of the variance (standard deviation hinge) term.
    pub vicreg_variance: f64,
    /// Weight of the covariance term.
    pub vicreg_covariance: f64,
    /// The augmentation pair.
    pub views: ViewPreset,
}

impl Default for VicregConfig {
    fn default() -> Self {
        Self {
            proj_hidden: 512,
            // VICReg relies on a wide expander (the paper: 8192).
            proj_dim: 512,
            vicreg_invariance: 25.0,
            vicreg_variance: 25.0,
            vicreg_covariance: 1.0,
            views: ViewPreset::Method,
        }
    }
}

impl MethodSettings for VicregConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real("method_config.vicreg_invariance", self.vicreg_invariance, limits::LOSS_WEIGHT)?;
        s.real("method_config.vicreg_variance", self.vicreg_variance, limits::LOSS_WEIGHT)?;
        s.real("method_config.vicreg_covariance", self.vicreg_covariance, limits::LOSS_WEIGHT)?;
        check_projection(s, self.proj_hidden, self.proj_dim)
    }
}

impl ImageMethod for Vicreg {
    type Config = VicregConfig;

    fn new(cfg: &VicregConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let expander = projector(encoder.out_dim(), cfg.proj_hidden, cfg.proj_dim, device);
        Self {
            encoder,
            expander,
            invariance: cfg.vicreg_invariance,
            variance: cfg.vicreg_variance,
            covariance: cfg.vicreg_covariance,
        }
    }

    fn views(cfg: &VicregConfig, channels: usize, size: usize) -> Vec<AugmentConfig> {
        cfg.views.pair(AugmentConfig::byol_pair(channels, size), channels, size)
    }

    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }
}

impl Method for Vicreg {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, _seed: u64) -> StepOutput {
        let [v1, v2]: [Tensor<4>; 2] = views.try_into().expect("VICReg takes two views");
        let z1 = self.expander.forward(self.encoder.forward(v1));
        let z2 = self.expander.forward(self.encoder.forward(v2));
        let weights = VicregWeights {
            invariance: self.invariance,
            variance: self.variance,
            covariance: self.covariance,
        };
        StepOutput::new(losses::vicreg_loss(z1.clone(), z2, weights), z1)
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }
}
