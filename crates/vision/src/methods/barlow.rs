//! Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views' batch-standardised
//! projections is driven to the identity: invariance on the diagonal, redundancy reduction off it.

use burn::prelude::*;

use super::{ImageMethod, Method, MethodConfig, StepOutput, losses};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::heads::MlpHead;

#[derive(Module, Debug)]
pub struct BarlowTwins {
    pub encoder: ImageEncoder,
    pub projector: MlpHead,
    pub lambda: f64,
}

impl ImageMethod for BarlowTwins {
    fn new(cfg: &MethodConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let projector = cfg.projector(encoder.out_dim(), device);
        Self {
            encoder,
            projector,
            lambda: cfg.redundancy_weight,
        }
    }

    fn views(channels: usize, size: usize) -> Vec<AugmentConfig> {
        AugmentConfig::byol_pair(channels, size).to_vec()
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
