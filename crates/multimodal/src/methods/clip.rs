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
use autodidact_core::losses::across_ranks;
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

/// CLIP's loss of unit embeddings `[B, D]` whose row `i` pairs with row `i`, at `scale`. In a
/// data-parallel run each rank's images are scored against every rank's partners and its
/// partners against every rank's images ([`across_ranks`]).
pub fn clip_loss(images: Tensor<2>, partners: Tensor<2>, scale: Tensor<1>) -> Tensor<1> {
    let [n, _] = images.dims();
    let device = images.device();
    across_ranks(vec![images, partners], vec![scale], |all, shared, start| {
        let (images, partners) = (&all[0], &all[1]);
        let scale = shared[0].clone().unsqueeze::<2>();
        let mine = |t: &Tensor<2>| t.clone().narrow(0, start, n);
        let image_logits = mine(images).matmul(partners.clone().transpose()) * scale.clone();
        let partner_logits = mine(partners).matmul(images.clone().transpose()) * scale;
        let targets = Tensor::<1, Int>::arange(start as i64..(start + n) as i64, &device);
        let ce = CrossEntropyLossConfig::new().init(&device);
        (ce.forward(image_logits, targets.clone()) + ce.forward(partner_logits, targets))
            .div_scalar(2.0)
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use autodidact_core::collective::{Collective, LocalRanks};
    use autodidact_core::losses::l2_normalize;

    fn unit_rows(seed: usize) -> Tensor<2> {
        let values: Vec<f32> = (0..6 * 3)
            .map(|i| (((i + seed) * 7) % 11) as f32 - 5.0)
            .collect();
        l2_normalize(Tensor::from_data(TensorData::new(values, [6, 3]), &Device::flex()))
    }

    #[test]
    fn clip_loss_on_three_ranks_averages_to_the_whole_batchs() {
        let (images, partners) = (unit_rows(0), unit_rows(3));
        let scale = || Tensor::<1>::from_floats([2.0], &Device::flex());
        let whole = clip_loss(images.clone(), partners.clone(), scale()).into_scalar::<f32>();
        let parts = LocalRanks::run(3, |world| {
            let rows = |t: &Tensor<2>| t.clone().narrow(0, 2 * world.rank(), 2);
            clip_loss(rows(&images), rows(&partners), scale()).into_scalar::<f32>()
        });
        let mean = parts.iter().sum::<f32>() / 3.0;
        assert!((mean - whole).abs() < 1e-5, "{mean} vs {whole}");
    }
}
