//! ts-order: order restoration. Each series is cut into `segments` consecutive parts; every part
//! is encoded on its own, and a head names the place each part came from, given the part's
//! representation and the mean representation of all parts of its series.
//!
//! Shuffling the parts and restoring their order is the same task: the encoder sees each part
//! alone and the context is their mean, so the model does not see the order it is asked for.
//! Encoding the parts separately (rather than the shuffled series whole) keeps the joins out of
//! the encoder's input: it learns what a part of the series looks like, not where a seam is, and
//! at evaluation it sees whole, unshuffled series as it saw whole parts in training.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use serde::{Deserialize, Serialize};

use super::{Method, MethodSettings, SeriesMethod, StepOutput, device_of};
use autodidact_core::train::limits::Settings;
use autodidact_core::heads::MlpHead;
use crate::batch::SeriesBatch;
use crate::encoder::SeriesEncoder;

/// Hidden width of the position head.
const HEAD_HIDDEN: usize = 256;

#[derive(Module, Debug)]
pub struct TsOrder {
    pub encoder: SeriesEncoder,
    /// `[part, mean of the series' parts] -> position logits`.
    pub head: MlpHead,
    pub segments: usize,
}

/// Cuts row `b`'s own `lengths[b]` steps into `k` consecutive parts, row `b * k + s` holding part
/// `s` (a series shorter than `k` steps gives parts of one step that repeat).
pub fn cut_segments(batch: &SeriesBatch, k: usize) -> SeriesBatch {
    let c = batch.channels;
    let bounds = |len: usize, s: usize| {
        let from = (s * len / k).min(len.saturating_sub(1));
        (from, ((s + 1) * len / k).max(from + 1).min(len.max(1)))
    };
    let seg_len = (0..batch.batch)
        .flat_map(|b| (0..k).map(move |s| (b, s)))
        .map(|(b, s)| {
            let (from, to) = bounds(batch.lengths[b], s);
            to - from
        })
        .max()
        .unwrap_or(1);
    let rows = batch.batch * k;
    let mut out = SeriesBatch {
        values: vec![0.0; rows * seg_len * c],
        valid: vec![0.0; rows * seg_len],
        batch: rows,
        len: seg_len,
        channels: c,
        lengths: Vec::with_capacity(rows),
    };
    for b in 0..batch.batch {
        for s in 0..k {
            let (from, to) = bounds(batch.lengths[b], s);
            let (row, n) = (b * k + s, to - from);
            let src = (b * batch.len + from) * c;
            out.values[row * seg_len * c..(row * seg_len + n) * c]
                .copy_from_slice(&batch.values[src..src + n * c]);
            out.valid[row * seg_len..row * seg_len + n]
                .copy_from_slice(&batch.valid[b * batch.len + from..b * batch.len + to]);
            out.lengths.push(n);
        }
    }
    out
}

/// ts-order's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TsOrderConfig {
    /// Segments a series is cut into.
    pub segments: usize,
}

impl Default for TsOrderConfig {
    fn default() -> Self {
        Self { segments: 4 }
    }
}

impl MethodSettings for TsOrderConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.int("method_config.segments", self.segments, 2..=1_000)
    }
}

impl SeriesMethod for TsOrder {
    type Config = TsOrderConfig;

    fn new(cfg: &TsOrderConfig, encoder: SeriesEncoder, device: &Device) -> Self {
        let k = cfg.segments.max(2);
        Self {
            head: MlpHead::new(&[2 * encoder.out_dim(), HEAD_HIDDEN, k], false, device),
            encoder,
            segments: k,
        }
    }
}

impl Method for TsOrder {
    type Batch = SeriesBatch;
    type Encoder = SeriesEncoder;

    fn step(&self, batch: SeriesBatch, seed: u64) -> StepOutput {
        let batch = &batch;
        let device = &device_of(self);
        let k = self.segments;
        let b = batch.batch;
        let parts = cut_segments(batch, k);
        let (x, valid) = parts.tensors(device);
        let steps = self.encoder.training_steps(
            x,
            valid.clone(),
            None,
            StdRng::seed_from_u64(seed).random(),
        );
        let d = self.encoder.out_dim();
        let pooled = SeriesEncoder::pool(steps, valid).reshape([b, k, d]);
        let context = pooled.clone().mean_dim(1).repeat_dim(1, k);
        let logits = self
            .head
            .forward(Tensor::cat(vec![pooled.clone(), context], 2).reshape([b * k, 2 * d]));
        let targets: Vec<i64> = (0..b * k).map(|i| (i % k) as i64).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [b * k]), device);
        let loss = CrossEntropyLossConfig::new()
            .init(device)
            .forward(logits, targets);
        StepOutput::new(loss, pooled.mean_dim(1).reshape([b, d]))
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
    fn parts_are_consecutive_pieces_of_each_row_in_order() {
        let batch = ramp(&[12, 9], 12);
        let parts = cut_segments(&batch, 4);
        assert_eq!((parts.batch, parts.len), (8, 3));
        assert_eq!(parts.lengths, vec![3, 3, 3, 3, 2, 2, 2, 3]);
        // Row 1 (9 steps): parts [0, 2), [2, 4), [4, 6), [6, 9).
        assert_eq!(&parts.values[4 * 3..4 * 3 + 2], &[0.0, 1.0]);
        assert_eq!(&parts.values[7 * 3..8 * 3], &[6.0, 7.0, 8.0]);
        assert_eq!(&parts.valid[6 * 3..7 * 3], &[1.0, 1.0, 0.0]);
        let joined: Vec<f32> = (0..4)
            .flat_map(|s| parts.values[s * 3..s * 3 + parts.lengths[s]].to_vec())
            .collect();
        assert_eq!(joined, (0..12).map(|t| t as f32).collect::<Vec<_>>());
    }

    #[test]
    fn a_series_shorter_than_the_part_count_still_gives_every_part_a_step() {
        let parts = cut_segments(&ramp(&[3], 3), 4);
        assert_eq!(parts.lengths, vec![1, 1, 1, 1]);
        assert!(parts.valid.iter().all(|&v| v == 1.0));
    }
}
