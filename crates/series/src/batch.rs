//! Series to tensors: per-channel standardisation, padding to a common length, windows.

use std::ops::Range;

use autodidact_core::train::shard::{Shard, rows};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::SeriesSet;

/// Per-channel standardisation learned on the pre-training data and saved with the run, so
/// evaluation feeds the encoder the same scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Scaler {
    /// Mean and standard deviation of each channel over every observed value of `set`.
    pub fn fit(set: &SeriesSet) -> Self {
        let c = set.channels;
        let (mut sum, mut sq, mut n) = (vec![0f64; c], vec![0f64; c], vec![0usize; c]);
        for i in 0..set.len() {
            for ch in 0..c {
                for &v in set.channel(i, ch).iter().filter(|v| !v.is_nan()) {
                    sum[ch] += v as f64;
                    sq[ch] += (v as f64) * (v as f64);
                    n[ch] += 1;
                }
            }
        }
        let mean: Vec<f64> = (0..c).map(|ch| sum[ch] / n[ch].max(1) as f64).collect();
        let std = (0..c)
            .map(|ch| {
                let var = sq[ch] / n[ch].max(1) as f64 - mean[ch] * mean[ch];
                let sd = var.max(0.0).sqrt();
                if sd < 1e-8 { 1.0 } else { sd as f32 }
            })
            .collect();
        Self {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    /// The identity for `channels` channels.
    pub fn identity(channels: usize) -> Self {
        Self {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }
}

/// A batch of series on the CPU, time-major and padded: `values[(b * len + t) * channels + c]`.
/// Missing values and padding are 0 with `valid` 0.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesBatch {
    pub values: Vec<f32>,
    /// `[batch, len]`: 1 where a value was observed.
    pub valid: Vec<f32>,
    pub batch: usize,
    pub len: usize,
    pub channels: usize,
    /// Each row's own length (its steps past that are padding).
    pub lengths: Vec<usize>,
}

impl SeriesBatch {
    /// The series of `set` at `indices`, standardised by `scaler`, padded to the longest of them.
    pub fn gather(set: &SeriesSet, indices: &[usize], scaler: &Scaler) -> Self {
        let c = set.channels;
        let lengths: Vec<usize> = indices.iter().map(|&i| set.lengths[i]).collect();
        let len = lengths.iter().copied().max().unwrap_or(0).max(1);
        let mut values = vec![0.0; indices.len() * len * c];
        let mut valid = vec![0.0; indices.len() * len];
        for (b, &i) in indices.iter().enumerate() {
            for ch in 0..c {
                for (t, &v) in set.channel(i, ch).iter().enumerate() {
                    if !v.is_nan() {
                        values[(b * len + t) * c + ch] = (v - scaler.mean[ch]) / scaler.std[ch];
                    }
                }
            }
            for t in 0..lengths[b] {
                // A step counts as observed when any of its channels is.
                valid[b * len + t] = if (0..c).any(|ch| !set.channel(i, ch)[t].is_nan()) {
                    1.0
                } else {
                    0.0
                };
            }
        }
        Self {
            values,
            valid,
            batch: indices.len(),
            len,
            channels: c,
            lengths,
        }
    }

    /// Row `b`'s steps `start .. start + len` (steps outside the row are padding).
    pub fn window(&self, starts: &[usize], len: usize) -> SeriesBatch {
        let c = self.channels;
        let mut values = vec![0.0; self.batch * len * c];
        let mut valid = vec![0.0; self.batch * len];
        let mut lengths = Vec::with_capacity(self.batch);
        for (b, &start) in starts.iter().enumerate() {
            let take = self.len.saturating_sub(start).min(len);
            let src = (b * self.len + start) * c;
            values[b * len * c..(b * len + take) * c]
                .copy_from_slice(&self.values[src..src + take * c]);
            valid[b * len..b * len + take]
                .copy_from_slice(&self.valid[b * self.len + start..b * self.len + start + take]);
            lengths.push(self.lengths[b].saturating_sub(start).min(len));
        }
        Self {
            values,
            valid,
            batch: self.batch,
            len,
            channels: c,
            lengths,
        }
    }

    /// `(x [B, T, C], valid [B, T, 1])` on `device`.
    pub fn tensors(&self, device: &Device) -> (Tensor<3>, Tensor<3>) {
        let x = Tensor::from_data(
            TensorData::new(self.values.clone(), [self.batch, self.len, self.channels]),
            device,
        );
        let valid = Tensor::from_data(
            TensorData::new(self.valid.clone(), [self.batch, self.len, 1]),
            device,
        );
        (x, valid)
    }
}

impl Shard for SeriesBatch {
    fn samples(&self) -> usize {
        self.batch
    }

    fn slice_samples(self, range: Range<usize>) -> Self {
        Self {
            values: rows(&self.values, self.len * self.channels, range.clone()),
            valid: rows(&self.valid, self.len, range.clone()),
            batch: range.len(),
            lengths: self.lengths[range].to_vec(),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_series() -> SeriesSet {
        SeriesSet {
            // Two channels; the second series is shorter and has a missing value.
            values: vec![
                vec![1.0, 2.0, 3.0, 10.0, 20.0, 30.0],
                vec![4.0, f32::NAN, 40.0, 50.0],
            ],
            lengths: vec![3, 2],
            channels: 2,
            labels: None,
            class_names: Vec::new(),
        }
    }

    #[test]
    fn gather_pads_standardises_and_marks_missing_steps() {
        let set = two_series();
        let scaler = Scaler {
            mean: vec![1.0, 0.0],
            std: vec![2.0, 10.0],
        };
        let b = SeriesBatch::gather(&set, &[1, 0], &scaler);
        assert_eq!((b.batch, b.len, b.channels), (2, 3, 2));
        assert_eq!(
            b.values,
            vec![1.5, 4.0, 0.0, 5.0, 0.0, 0.0, 0.0, 1.0, 0.5, 2.0, 1.0, 3.0]
        );
        // Step 1 of series 1 still has its second channel, so it counts as observed.
        assert_eq!(b.valid, vec![1.0, 1.0, 0.0, 1.0, 1.0, 1.0]);
        assert_eq!(b.lengths, vec![2, 3]);
    }

    #[test]
    fn scaler_ignores_missing_values() {
        let s = Scaler::fit(&two_series());
        assert!((s.mean[0] - 2.5).abs() < 1e-6, "{:?}", s.mean);
        assert!((s.mean[1] - 30.0).abs() < 1e-6, "{:?}", s.mean);
        let want = ((1.5f32.powi(2) + 0.5f32.powi(2) * 2.0 + 1.5f32.powi(2)) / 4.0).sqrt();
        assert!((s.std[0] - want).abs() < 1e-5, "{:?}", s.std);
    }

    #[test]
    fn windows_cut_rows_at_their_own_offsets() {
        let set = two_series();
        let b = SeriesBatch::gather(&set, &[0, 1], &Scaler::identity(2));
        let w = b.window(&[1, 0], 2);
        assert_eq!(w.values, vec![2.0, 20.0, 3.0, 30.0, 4.0, 40.0, 0.0, 50.0]);
        assert_eq!(w.lengths, vec![2, 2]);
        let tail = b.window(&[2, 2], 2);
        assert_eq!(tail.valid, vec![1.0, 0.0, 0.0, 0.0]);
    }
}
