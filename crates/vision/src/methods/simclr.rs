//! SimCLR (Chen et al. 2020): two augmented views, a projection head, NT-Xent over the batch.

use burn::prelude::*;

use super::{ImageMethod, Method, MethodConfig, StepOutput, losses};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::heads::MlpHead;

#[derive(Module, Debug)]
pub struct SimClr {
    pub encoder: ImageEncoder,
    pub projector: MlpHead,
    pub temperature: f64,
}

impl ImageMethod for SimClr {
    fn new(cfg: &MethodConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let projector = cfg.projector(encoder.out_dim(), device);
        Self {
            encoder,
            projector,
            temperature: cfg.temperature,
        }
    }

    fn views(channels: usize, size: usize) -> Vec<AugmentConfig> {
        vec![AugmentConfig::simclr(channels, size); 2]
    }

    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }
}

impl Method for SimClr {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, _seed: u64) -> StepOutput {
        let n = views[0].dims()[0];
        // One pass over both views, so BatchNorm normalises over all 2N samples as in the paper.
        let z = self
            .projector
            .forward(self.encoder.forward(Tensor::cat(views, 0)));
        let z1 = z.clone().narrow(0, 0, n);
        let z2 = z.narrow(0, n, n);
        StepOutput::new(losses::nt_xent(z1.clone(), z2, self.temperature), z1)
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }
}
