//! ts-order: order restoration. Each series is cut into `segments` equal parts that are put back
//! in a random order; the encoder sees the shuffled series and a linear head names, for every
//! segment (its steps' mean representation), the place it came from.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{MethodConfig, StepOutput};
use crate::series::batch::SeriesBatch;
use crate::series::encoder::SeriesEncoder;
use crate::series::train::SeriesMethod;

#[derive(Module, Debug)]
pub struct TsOrder {
    pub encoder: SeriesEncoder,
    pub head: Linear,
    pub segments: usize,
}

/// A batch with each row's segments permuted.
#[derive(Clone, Debug, PartialEq)]
pub struct Shuffled {
    pub batch: SeriesBatch,
    /// `[B, K]`: the original index of the segment now at place `k` (`-1`: an empty segment of a
    /// row shorter than `K` steps, ignored by the loss).
    pub targets: Vec<i64>,
    /// `[B, K, T]`: averaging weights of each placed segment's steps.
    pub pooling: Vec<f32>,
}

/// Cuts row `b`'s own `lengths[b]` steps into `k` near-equal segments and permutes them.
pub fn shuffle_segments(batch: &SeriesBatch, k: usize, rng: &mut StdRng) -> Shuffled {
    let (t_len, c) = (batch.len, batch.channels);
    let mut out = batch.clone();
    let mut targets = vec![-1i64; batch.batch * k];
    let mut pooling = vec![0.0f32; batch.batch * k * t_len];
    for b in 0..batch.batch {
        let len = batch.lengths[b];
        let bounds: Vec<usize> = (0..=k).map(|i| i * len / k).collect();
        let mut order: Vec<usize> = (0..k).collect();
        order.shuffle(rng);
        let mut pos = 0;
        for (place, &seg) in order.iter().enumerate() {
            let (from, to) = (bounds[seg], bounds[seg + 1]);
            let n = to - from;
            let src = (b * t_len + from) * c;
            let dst = (b * t_len + pos) * c;
            out.values[dst..dst + n * c].copy_from_slice(&batch.values[src..src + n * c]);
            out.valid[b * t_len + pos..b * t_len + pos + n]
                .copy_from_slice(&batch.valid[b * t_len + from..b * t_len + to]);
            if n > 0 {
                targets[b * k + place] = seg as i64;
                let row = (b * k + place) * t_len;
                pooling[row + pos..row + pos + n].fill(1.0 / n as f32);
            }
            pos += n;
        }
    }
    Shuffled {
        batch: out,
        targets,
        pooling,
    }
}

impl SeriesMethod for TsOrder {
    fn new(cfg: &MethodConfig, encoder: SeriesEncoder, device: &Device) -> Self {
        let k = cfg.segments.max(2);
        Self {
            head: LinearConfig::new(encoder.out_dim(), k).init(device),
            encoder,
            segments: k,
        }
    }

    fn step(&self, batch: &SeriesBatch, seed: u64, device: &Device) -> StepOutput {
        let k = self.segments;
        let mut rng = StdRng::seed_from_u64(seed);
        let s = shuffle_segments(batch, k, &mut rng);
        let (x, valid) = s.batch.tensors(device);
        let steps = self
            .encoder
            .training_steps(x, valid.clone(), None, rng.random());
        let (b, t) = (batch.batch, batch.len);
        let pooling = Tensor::<3>::from_data(TensorData::new(s.pooling, [b, k, t]), device);
        let logits = self
            .head
            .forward(pooling.matmul(steps.clone()))
            .reshape([b * k, k]);
        // Empty segments (rows shorter than K) are left out of the loss.
        let kept: Vec<i64> = (0..b * k)
            .filter(|&i| s.targets[i] >= 0)
            .map(|i| i as i64)
            .collect();
        let targets: Vec<i64> = s.targets.iter().copied().filter(|&t| t >= 0).collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(kept.clone(), [kept.len()]), device);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [kept.len()]), device);
        let loss = CrossEntropyLossConfig::new()
            .init(device)
            .forward(logits.select(0, rows), targets);
        StepOutput::new(loss, SeriesEncoder::pool(steps, valid))
    }

    fn encoder(&self) -> &SeriesEncoder {
        &self.encoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(lengths: &[usize], len: usize) -> SeriesBatch {
        let mut values = vec![0.0; lengths.len() * len];
        let mut valid = vec![0.0; lengths.len() * len];
        for (b, &l) in lengths.iter().enumerate() {
            for t in 0..l {
                values[b * len + t] = t as f32;
                valid[b * len + t] = 1.0;
            }
        }
        SeriesBatch {
            values,
            valid,
            batch: lengths.len(),
            len,
            channels: 1,
            lengths: lengths.to_vec(),
        }
    }

    #[test]
    fn targets_name_where_each_placed_segment_came_from() {
        let batch = ramp(&[12, 9], 12);
        let s = shuffle_segments(&batch, 4, &mut StdRng::seed_from_u64(5));
        for b in 0..2 {
            let len = batch.lengths[b];
            let mut values: Vec<f32> = s.batch.values[b * 12..b * 12 + len].to_vec();
            // The steps of the placed segment `k` are the original ones of segment targets[k].
            for k in 0..4 {
                let seg = s.targets[b * 4 + k] as usize;
                let w = &s.pooling[(b * 4 + k) * 12..(b * 4 + k + 1) * 12];
                let mean: f32 = w
                    .iter()
                    .zip(&s.batch.values[b * 12..b * 12 + 12])
                    .map(|(a, v)| a * v)
                    .sum();
                let (from, to) = (seg * len / 4, (seg + 1) * len / 4);
                let want = (from..to).map(|t| t as f32).sum::<f32>() / (to - from) as f32;
                assert!(
                    (mean - want).abs() < 1e-5,
                    "row {b} place {k}: {mean} vs {want}"
                );
            }
            values.sort_by(f32::total_cmp);
            let expect: Vec<f32> = (0..len).map(|t| t as f32).collect();
            assert_eq!(values, expect, "a permutation of the row's steps");
            assert!(
                s.batch.values[b * 12 + len..b * 12 + 12]
                    .iter()
                    .all(|&v| v == 0.0)
            );
        }
    }

    #[test]
    fn rows_shorter_than_the_segment_count_leave_empty_segments_out() {
        let batch = ramp(&[3], 3);
        let s = shuffle_segments(&batch, 4, &mut StdRng::seed_from_u64(0));
        assert_eq!(s.targets.iter().filter(|&&t| t < 0).count(), 1);
    }
}
