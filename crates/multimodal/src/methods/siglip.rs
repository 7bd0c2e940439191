//! siglip: SigLIP (Zhai et al. 2023). Every image-partner pair of the batch is its own binary
//! question, "are these a pair?": the logit is the cosine similarity times a learnable scale
//! plus a learnable bias (initialised at 10 and -10, so that the many negatives start near
//! their answer), and the loss is the log-sigmoid of the signed logit, summed over the batch's
//! pairs and divided by the batch size. No softmax couples the batch, so small batches lose
//! less than with CLIP. False negatives are negatives as in [`super::clip`].

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use serde::{Deserialize, Serialize};

use super::{Method, MethodSettings, PairMethod, StepOutput, batch_accuracy, embed_batch};
use crate::batch::PairBatch;
use crate::towers::Towers;
use autodidact_core::train::limits::{self, Settings};

#[derive(Module, Debug)]
pub struct Siglip {
    pub towers: Towers,
    /// `ln(scale)`.
    pub logit_scale: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
}

/// siglip's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SiglipConfig {
    /// Initial temperature, the inverse of the scale (SigLIP's 1 / 10).
    pub temperature: f64,
    /// Initial bias (SigLIP's -10).
    pub bias: f64,
}

impl Default for SiglipConfig {
    fn default() -> Self {
        Self {
            temperature: 0.1,
            bias: -10.0,
        }
    }
}

impl MethodSettings for SiglipConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real(
            "method_config.temperature",
            self.temperature,
            limits::TEMPERATURE,
        )?;
        s.real(
            "method_config.bias",
            self.bias,
            limits::Real::closed(-100.0, 100.0),
        )
    }
}

/// SigLIP's loss of unit embeddings `[B, D]` whose row `i` pairs with row `i`.
pub fn siglip_loss(
    images: Tensor<2>,
    partners: Tensor<2>,
    scale: Tensor<1>,
    bias: Tensor<1>,
) -> Tensor<1> {
    let [n, _] = images.dims();
    let device = images.device();
    let logits = images.matmul(partners.transpose()) * scale.unsqueeze::<2>() + bias.unsqueeze::<2>();
    // +1 on the diagonal (pairs), -1 elsewhere.
    let signs = Tensor::<2>::eye(n, &device).mul_scalar(2.0).sub_scalar(1.0);
    log_sigmoid(logits * signs).sum().neg().div_scalar(n as f64)
}

impl PairMethod for Siglip {
    type Config = SiglipConfig;

    fn new(cfg: &SiglipConfig, towers: Towers, device: &Device) -> Self {
        Self {
            towers,
            logit_scale: Param::from_tensor(Tensor::from_floats(
                [(1.0 / cfg.temperature).ln() as f32],
                device,
            )),
            bias: Param::from_tensor(Tensor::from_floats([cfg.bias as f32], device)),
        }
    }
}

impl Method for Siglip {
    type Batch = PairBatch;
    type Encoder = Towers;

    fn step(&self, batch: PairBatch, _seed: u64) -> StepOutput {
        let (images, partners) = embed_batch(&self.towers, &batch);
        let scale = self.logit_scale.val().exp();
        let scale_now = scale.clone().into_scalar::<f32>() as f64;
        let bias_now = self.bias.val().into_scalar::<f32>() as f64;
        let accuracy = batch_accuracy(&images, &partners);
        let loss = siglip_loss(images.clone(), partners, scale, self.bias.val());
        StepOutput::new(loss, images)
            .with_metric("scale", scale_now)
            .with_metric("bias", bias_now)
            .with_metric("batch_accuracy", accuracy)
    }

    fn encoder(&self) -> &Towers {
        &self.towers
    }
}
