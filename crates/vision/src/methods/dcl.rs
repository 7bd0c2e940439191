//! DCL (Yeh et al. 2022, "Decoupled Contrastive Learning"): SimCLR with the positive pair taken
//! out of InfoNCE's denominator. NT-Xent's gradient is scaled by a factor that shrinks when the
//! positive dominates the denominator, which small batches make common; dropping the positive
//! from the denominator removes that coupling, so the loss learns without large batches.
//!
//! The network, settings and views are SimCLR's (temperature included), so that the two differ
//! only by the decoupling.

use burn::prelude::*;

use super::simclr::{SimClr, SimClrConfig};
use super::{ImageMethod, Method, StepOutput};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::losses::l2_normalize;

/// SimCLR's network, trained with the decoupled loss.
#[derive(Module, Debug)]
pub struct Dcl {
    pub simclr: SimClr,
}

/// DCL's settings are SimCLR's.
pub type DclConfig = SimClrConfig;

/// The decoupled contrastive loss over the 2N samples of two views: for each anchor, minus its
/// positive's scaled cosine plus the log-sum-exp over its negatives only (neither itself nor its
/// positive). Mean over the 2N anchors.
pub fn decoupled_loss(z1: Tensor<2>, z2: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = z1.dims();
    let device = z1.device();
    let z = l2_normalize(Tensor::cat(vec![z1, z2], 0));
    let logits = z.clone().matmul(z.transpose()).div_scalar(temperature);
    let partner = |i: usize| (i + n) % (2 * n);
    let positive_mask: Vec<f32> = (0..2 * n)
        .flat_map(|i| (0..2 * n).map(move |j| if j == partner(i) { 1.0 } else { 0.0 }))
        .collect();
    let positive_mask = Tensor::<2>::from_data(TensorData::new(positive_mask, [2 * n, 2 * n]), &device);
    let positives = (logits.clone() * positive_mask.clone()).sum_dim(1);
    let excluded = (positive_mask + Tensor::<2>::eye(2 * n, &device)).bool();
    // -1e4 rather than -inf keeps the exponent finite in low precision; e^-1e4 is 0.
    let negatives = logits.mask_fill(excluded, -1.0e4);
    let top = negatives.clone().max_dim(1).detach();
    let lse = (negatives - top.clone()).exp().sum_dim(1).log() + top;
    (lse - positives).mean()
}

impl ImageMethod for Dcl {
    type Config = DclConfig;

    fn new(cfg: &DclConfig, encoder: ImageEncoder, device: &Device) -> Self {
        Self {
            simclr: SimClr::new(cfg, encoder, device),
        }
    }

    fn views(cfg: &DclConfig, channels: usize, size: usize) -> Vec<AugmentConfig> {
        SimClr::views(cfg, channels, size)
    }

    fn into_encoder(self) -> ImageEncoder {
        self.simclr.into_encoder()
    }
}

impl Method for Dcl {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, _seed: u64) -> StepOutput {
        let (z1, z2) = self.simclr.projections(views);
        let loss = decoupled_loss(z1.clone(), z2, self.simclr.temperature);
        StepOutput::new(loss, z1)
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.simclr.encoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[[f32; 2]], device: &Device) -> Tensor<2> {
        let flat: Vec<f32> = values.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [values.len(), 2]), device)
    }

    #[test]
    fn the_loss_matches_its_formula_and_leaves_the_positive_out_of_the_denominator() {
        let device = Device::flex();
        let z1 = rows(&[[1.0, 0.0], [0.0, 1.0]], &device);
        let z2 = rows(&[[1.0, 0.0], [0.6, 0.8]], &device);
        let t = 0.5;
        let loss = decoupled_loss(z1.clone(), z2.clone(), t).into_scalar::<f32>() as f64;
        // By hand: the four unit vectors a=(1,0), b=(0,1), c=(1,0), d=(0.6,0.8); pairs (a,c),
        // (b,d); each anchor's negatives are the two samples of the other pair.
        let cos = |x: [f64; 2], y: [f64; 2]| x[0] * y[0] + x[1] * y[1];
        let (a, b, c, d) = ([1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]);
        let term = |anchor, pos, n1, n2| {
            -cos(anchor, pos) / t
                + ((cos(anchor, n1) / t).exp() + (cos(anchor, n2) / t).exp()).ln()
        };
        let expected =
            (term(a, c, b, d) + term(b, d, a, c) + term(c, a, b, d) + term(d, b, a, c)) / 4.0;
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
        // The same formula, with no positive in any denominator, holds after the second pair's
        // positive moves onto its anchor.
        let closer = rows(&[[1.0, 0.0], [0.0, 1.0]], &device);
        let moved = decoupled_loss(z1, closer, t).into_scalar::<f32>() as f64;
        let expected_moved = (term(a, c, b, b) + term(b, b, a, c) + term(c, a, b, b)
            + term(b, b, a, c))
            / 4.0;
        assert!((moved - expected_moved).abs() < 1e-5, "{moved} vs {expected_moved}");
        assert!(moved < loss);
    }
}
