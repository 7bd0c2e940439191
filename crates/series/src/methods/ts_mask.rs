//! ts-mask: masked value modelling on series. Spans of time steps (all channels) are hidden from
//! the encoder; a linear decoder reconstructs their values from the per-step representations;
//! the loss is the mean squared error on the hidden, observed values only.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use serde::{Deserialize, Serialize};

use super::{Method, MethodSettings, SeriesMethod, StepOutput, device_of};
use autodidact_core::train::limits::{self, Settings};
use crate::batch::SeriesBatch;
use crate::encoder::SeriesEncoder;

#[derive(Module, Debug)]
pub struct TsMask {
    pub encoder: SeriesEncoder,
    pub decoder: Linear,
    pub mask_ratio: f64,
    pub mask_span: f64,
}

/// `[B, T]`: 1 at the steps to hide. Each row hides spans (mean length `span` of its length,
/// at least 1 step) at random places until `ratio` of its steps are hidden; at least one step.
pub fn span_mask(batch: &SeriesBatch, ratio: f64, span: f64, rng: &mut StdRng) -> Vec<f32> {
    let mut mask = vec![0.0f32; batch.batch * batch.len];
    for b in 0..batch.batch {
        let len = batch.lengths[b];
        if len == 0 {
            continue;
        }
        let row = &mut mask[b * batch.len..b * batch.len + len];
        let target = ((ratio * len as f64).round() as usize).clamp(1, len);
        let mean = (span * len as f64).max(1.0);
        let mut hidden = 0;
        while hidden < target {
            let width = rng.random_range(1..=(2.0 * mean).round().max(1.0) as usize);
            let start = rng.random_range(0..len);
            for v in row.iter_mut().skip(start).take(width.min(target - hidden)) {
                if *v == 0.0 {
                    *v = 1.0;
                    hidden += 1;
                }
            }
        }
    }
    mask
}

/// ts-mask's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TsMaskConfig {
    /// Share of the time steps hidden (fewer than MAE hides patches: neighbouring steps are
    /// nearly copies).
    pub mask_ratio: f64,
    /// Mean length of a hidden span, as a fraction of the series length.
    pub mask_span: f64,
}

impl Default for TsMaskConfig {
    fn default() -> Self {
        Self {
            mask_ratio: 0.3,
            mask_span: 0.05,
        }
    }
}

impl MethodSettings for TsMaskConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real("method_config.mask_ratio", self.mask_ratio, limits::SHARE)?;
        s.real("method_config.mask_span", self.mask_span, limits::FRACTION)
    }
}

impl SeriesMethod for TsMask {
    type Config = TsMaskConfig;

    fn new(cfg: &TsMaskConfig, encoder: SeriesEncoder, device: &Device) -> Self {
        Self {
            decoder: LinearConfig::new(encoder.out_dim(), encoder.channels()).init(device),
            encoder,
            mask_ratio: cfg.mask_ratio,
            mask_span: cfg.mask_span,
        }
    }
}

impl Method for TsMask {
    type Batch = SeriesBatch;
    type Encoder = SeriesEncoder;

    fn step(&self, batch: SeriesBatch, seed: u64) -> StepOutput {
        let batch = &batch;
        let device = &device_of(self);
        let mut rng = StdRng::seed_from_u64(seed);
        let mask = span_mask(batch, self.mask_ratio, self.mask_span, &mut rng);
        let (x, valid) = batch.tensors(device);
        let hidden = Tensor::<3>::from_data(TensorData::new(mask, valid.dims()), device);
        let keep = valid.clone() * (hidden.clone().neg() + 1.0);
        let steps = self.encoder.training_steps(
            x.clone() * keep.clone(),
            valid.clone(),
            Some(keep),
            rng.random(),
        );
        let recon = self.decoder.forward(steps.clone());
        let scored = hidden * valid.clone();
        let count = scored
            .clone()
            .sum()
            .mul_scalar(batch.channels as f64)
            .clamp_min(1.0);
        let loss = ((recon - x).square() * scored).sum() / count;
        StepOutput::new(loss, SeriesEncoder::pool(steps, valid))
    }

    fn encoder(&self) -> &SeriesEncoder {
        &self.encoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_masks_hide_the_requested_share_of_each_row() {
        let batch = SeriesBatch {
            values: vec![0.0; 2 * 100],
            valid: vec![1.0; 2 * 100],
            batch: 2,
            len: 100,
            channels: 1,
            lengths: vec![100, 40],
        };
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..20 {
            let m = span_mask(&batch, 0.3, 0.05, &mut rng);
            assert_eq!(m[..100].iter().sum::<f32>(), 30.0);
            assert_eq!(m[100..140].iter().sum::<f32>(), 12.0);
            assert!(
                m[140..].iter().all(|&v| v == 0.0),
                "padding is never hidden"
            );
        }
    }
}
