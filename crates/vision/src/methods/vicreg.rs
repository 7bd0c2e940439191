//! VICReg (Bardes et al. 2022): the two views' expander outputs are pulled together (invariance)
//! while each view's dimensions keep a standard deviation of at least 1 (variance) and stay
//! decorrelated (covariance). Weights 25 / 25 / 1 as in the paper.

use burn::prelude::*;

use autodidact_core::losses::{self, VicregWeights};
use super::{ImageMethod, Method, MethodConfig, StepOutput};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::heads::MlpHead;

#[derive(Module, Debug)]
pub struct Vicreg {
    pub encoder: ImageEncoder,
    pub expander: MlpHead,
    pub invariance: f64,
    pub variance: f64,
    pub covariance: f64,
}

impl ImageMethod for Vicreg {
    fn new(cfg: &MethodConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let expander = cfg.projector(encoder.out_dim(), device);
        Self {
            encoder,
            expander,
            invariance: cfg.vicreg_invariance,
            variance: cfg.vicreg_variance,
            covariance: cfg.vicreg_covariance,
        }
    }

    fn views(channels: usize, size: usize) -> Vec<AugmentConfig> {
        AugmentConfig::byol_pair(channels, size).to_vec()
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
