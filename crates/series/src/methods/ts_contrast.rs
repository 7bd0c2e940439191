//! ts-contrast: TS2Vec (Yue et al. 2022). Two overlapping crops of each series, each encoded with
//! random timestamp masking; the representations of the steps both crops share are contrasted
//! across series (instance term) and across steps (temporal term), at every time scale.

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use serde::{Deserialize, Serialize};

use super::{Method, MethodSettings, SeriesMethod, StepOutput, device_of};
use autodidact_core::losses;
use autodidact_core::train::limits::{self, Settings};
use crate::batch::SeriesBatch;
use crate::encoder::SeriesEncoder;

#[derive(Module, Debug)]
pub struct TsContrast {
    pub encoder: SeriesEncoder,
    pub instance_weight: f64,
    pub timestamp_keep: f64,
}

/// Where the two crops lie: view 1 is `[left_1, right)`, view 2 is `[left, right_2)`, both shifted
/// by a per-series offset; they share `[left, right)`.
#[derive(Clone, Debug, PartialEq)]
pub struct CropPair {
    pub left_1: usize,
    pub left: usize,
    pub right: usize,
    pub right_2: usize,
    /// Per series: added to every position (keeps both crops inside `[0, len)`).
    pub offsets: Vec<i64>,
}

impl CropPair {
    /// TS2Vec's sampling for a batch of `rows` padded to `len` steps.
    pub fn sample(len: usize, rows: usize, rng: &mut StdRng) -> Self {
        let crop = rng.random_range(len.min(2)..=len);
        let left = rng.random_range(0..=len - crop);
        let right = left + crop;
        let left_1 = rng.random_range(0..=left);
        let right_2 = rng.random_range(right..=len);
        let offsets = (0..rows)
            .map(|_| rng.random_range(-(left_1 as i64)..=(len - right_2) as i64))
            .collect();
        Self {
            left_1,
            left,
            right,
            right_2,
            offsets,
        }
    }

    fn starts(&self, from: usize) -> Vec<usize> {
        self.offsets
            .iter()
            .map(|&o| (from as i64 + o) as usize)
            .collect()
    }
}

/// TS2Vec's random timestamp mask: `valid` with each step kept with probability `keep`.
pub fn timestamp_mask(valid: &[f32], keep: f64, rng: &mut StdRng) -> Vec<f32> {
    valid
        .iter()
        .map(|&v| if rng.random_bool(keep) { v } else { 0.0 })
        .collect()
}

impl TsContrast {
    /// Per-step representations of `view` with random timestamp masking.
    fn encode(&self, view: &SeriesBatch, rng: &mut StdRng, device: &Device) -> Tensor<3> {
        let (x, valid) = view.tensors(device);
        let keep = timestamp_mask(&view.valid, self.timestamp_keep, rng);
        let keep = Tensor::from_data(TensorData::new(keep, valid.dims()), device);
        self.encoder
            .training_steps(x, valid, Some(keep), rng.random())
    }
}

/// ts-contrast's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TsContrastConfig {
    /// Weight of TS2Vec's instance term against its temporal term.
    pub instance_weight: f64,
    /// Probability that a time step's input is kept by TS2Vec's random timestamp masking.
    pub timestamp_keep: f64,
}

impl Default for TsContrastConfig {
    fn default() -> Self {
        Self {
            instance_weight: 0.5,
            timestamp_keep: 0.5,
        }
    }
}

impl MethodSettings for TsContrastConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real(
            "method_config.instance_weight",
            self.instance_weight,
            limits::LOSS_WEIGHT,
        )?;
        s.real(
            "method_config.timestamp_keep",
            self.timestamp_keep,
            limits::FRACTION,
        )
    }
}

impl SeriesMethod for TsContrast {
    type Config = TsContrastConfig;

    fn new(cfg: &TsContrastConfig, encoder: SeriesEncoder, _device: &Device) -> Self {
        Self {
            encoder,
            instance_weight: cfg.instance_weight,
            timestamp_keep: cfg.timestamp_keep,
        }
    }
}

impl Method for TsContrast {
    type Batch = SeriesBatch;
    type Encoder = SeriesEncoder;

    fn step(&self, batch: SeriesBatch, seed: u64) -> StepOutput {
        let batch = &batch;
        let device = &device_of(self);
        let mut rng = StdRng::seed_from_u64(seed);
        let c = CropPair::sample(batch.len, batch.batch, &mut rng);
        let shared = c.right - c.left;
        let view1 = batch.window(&c.starts(c.left_1), c.right - c.left_1);
        let view2 = batch.window(&c.starts(c.left), c.right_2 - c.left);
        let z1 = self
            .encode(&view1, &mut rng, device)
            .narrow(1, c.left - c.left_1, shared);
        let z2 = self.encode(&view2, &mut rng, device).narrow(1, 0, shared);
        let [b, _, d] = z1.dims();
        let pooled = z1.clone().max_dim(1).reshape([b, d]);
        StepOutput::new(
            losses::hierarchical_contrastive(z1, z2, self.instance_weight),
            pooled,
        )
    }

    fn encoder(&self) -> &SeriesEncoder {
        &self.encoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_overlap_and_stay_inside_the_series() {
        let mut rng = StdRng::seed_from_u64(1);
        for len in [1, 2, 3, 24, 150] {
            for _ in 0..200 {
                let c = CropPair::sample(len, 4, &mut rng);
                assert!(c.left_1 <= c.left && c.left < c.right && c.right <= c.right_2);
                assert!(c.right - c.left >= len.min(2));
                for &o in &c.offsets {
                    assert!(c.left_1 as i64 + o >= 0, "{c:?}");
                    assert!(c.right_2 as i64 + o <= len as i64, "{c:?}");
                }
            }
        }
    }

    #[test]
    fn timestamp_mask_keeps_about_the_requested_share_and_never_padding() {
        let mut rng = StdRng::seed_from_u64(2);
        let valid: Vec<f32> = (0..10_000).map(|i| f32::from(i % 10 != 0)).collect();
        let kept = timestamp_mask(&valid, 0.5, &mut rng);
        let share = kept.iter().sum::<f32>() / 9_000.0;
        assert!((share - 0.5).abs() < 0.03, "{share}");
        assert!(kept.iter().zip(&valid).all(|(k, v)| k <= v));
    }
}
