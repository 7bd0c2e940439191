//! SimSiam (Chen & He 2021): one network, a predictor on top of the projection, and a
//! stop-gradient on the other view's projection: symmetric negative cosine, no momentum target.

use burn::prelude::*;

use super::{ImageMethod, Method, MethodConfig, StepOutput, losses};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::heads::MlpHead;

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

impl ImageMethod for SimSiam {
    fn new(cfg: &MethodConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let projector = cfg.projector(encoder.out_dim(), device);
        let predictor = cfg.predictor_head(device);
        Self {
            encoder,
            projector,
            predictor,
        }
    }

    fn views(channels: usize, size: usize) -> Vec<AugmentConfig> {
        // SimSiam uses MoCo v2's (SimCLR's) symmetric augmentations.
        vec![AugmentConfig::simclr(channels, size); 2]
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
