//! clip: CLIP (Radford et al. 2021). The images and partners of a batch are scored by cosine
//! similarity times a learnable scale (`1 / temperature`, initialised at 1 / 0.07 and clamped at
//! 100); each image's partner is its positive among the batch's partners and the reverse,
//! cross-entropy both ways, averaged.
//!
//! False negatives: where pairs share only a class (an MNIST digit beside any recording of that
//! digit), about one in ten of a batch's partners is the same digit and still a negative. The
//! loss cannot fall below ~ln(B / 10) then, and the towers learn what the digits share rather
//! than each pair; no label is read to mask them.

use burn::module::Param;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Method, MethodSettings, PairMethod, StepOutput, batch_accuracy, embed_batch};
use crate::batch::PairBatch;
use crate::towers::Towers;
use autodidact_core::train::limits::{self, Settings};

#[derive(Module, Debug)]
pub struct Clip {
    pub towers: Towers,
    /// `ln(1 / temperature)`.
    pub logit_scale: Param<Tensor<1>>,
    pub max_scale: f64,
}

/// clip's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClipConfig {
    /// Initial softmax temperature (learned from there; CLIP's 0.07).
    pub temperature: f64,
    /// Largest scale `1 / temperature` may reach (CLIP's 100).
    pub max_scale: f64,
}

impl Default for ClipConfig {
    fn default() -> Self {
        Self {
            temperature: 0.07,
            max_scale: 100.0,
        }
    }
}

impl MethodSettings for ClipConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real(
            "method_config.temperature",
            self.temperature,
            limits::TEMPERATURE,
        )?;
        s.real(
            "method_config.max_scale",
            self.max_scale,
            limits::Real::closed(1.0, 1e4),
        )
    }
}

/// The scale `exp(logit_scale)`, clamped at `max_scale`.
pub fn clamped_scale(logit_scale: Tensor<1>, max_scale: f64) -> Tensor<1> {
    logit_scale.clamp_max(max_scale.ln()).exp()
}

/// CLIP's loss of unit embeddings `[B, D]` whose row `i` pairs with row `i`, at `scale`.
pub fn clip_loss(images: Tensor<2>, partners: Tensor<2>, scale: Tensor<1>) -> Tensor<1> {
    let [n, _] = images.dims();
    let device = images.device();
    let logits = images.matmul(partners.transpose()) * scale.unsqueeze::<2>();
    let targets = Tensor::<1, Int>::arange(0..n as i64, &device);
    let ce = CrossEntropyLossConfig::new().init(&device);
    (ce.forward(logits.clone(), targets.clone()) + ce.forward(logits.transpose(), targets))
        .div_scalar(2.0)
}

impl PairMethod for Clip {
    type Config = ClipConfig;

    fn new(cfg: &ClipConfig, towers: Towers, device: &Device) -> Self {
        Self {
            towers,
            logit_scale: Param::from_tensor(Tensor::from_floats(
                [(1.0 / cfg.temperature).ln() as f32],
                device,
            )),
            max_scale: cfg.max_scale,
        }
    }
}

impl Method for Clip {
    type Batch = PairBatch;
    type Encoder = Towers;

    fn step(&self, batch: PairBatch, _seed: u64) -> StepOutput {
        let (images, partners) = embed_batch(&self.towers, &batch);
        let scale = clamped_scale(self.logit_scale.val(), self.max_scale);
        let scale_now = scale.clone().into_scalar::<f32>() as f64;
        let accuracy = batch_accuracy(&images, &partners);
        let loss = clip_loss(images.clone(), partners, scale);
        StepOutput::new(loss, images)
            .with_metric("scale", scale_now)
            .with_metric("batch_accuracy", accuracy)
    }

    fn encoder(&self) -> &Towers {
        &self.towers
    }
}
