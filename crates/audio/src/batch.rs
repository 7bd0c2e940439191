//! A batch of log-mel spectrograms for an encoder: each standardised on its own (mean 0,
//! deviation 1 over its values), zero-padded to the longest, with each one's frame count.

use std::ops::Range;

use autodidact_core::train::shard::{Shard, rows};
use burn::prelude::*;

use crate::features::LogMel;

/// `batch` spectrograms of up to `frames` frames of `n_mels` bands, row-major `[B, T, M]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MelBatch {
    pub values: Vec<f32>,
    /// Each spectrogram's own frame count (its frames come first, padding after).
    pub lengths: Vec<usize>,
    pub batch: usize,
    pub frames: usize,
    pub n_mels: usize,
}

/// Added to a spectrogram's standard deviation before dividing by it.
pub const MEL_STD_EPSILON: f32 = 1e-5;

impl MelBatch {
    /// # Panics
    /// When `mels` is empty or their band counts differ.
    pub fn new(mels: &[LogMel]) -> Self {
        let n_mels = mels[0].n_mels;
        assert!(
            mels.iter().all(|m| m.n_mels == n_mels),
            "one band count per batch"
        );
        let frames = mels.iter().map(|m| m.frames).max().unwrap_or(1);
        let mut values = vec![0.0; mels.len() * frames * n_mels];
        for (b, mel) in mels.iter().enumerate() {
            let n = mel.values.len().max(1) as f32;
            let mean = mel.values.iter().sum::<f32>() / n;
            let var = mel.values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
            let inv = 1.0 / (var.sqrt() + MEL_STD_EPSILON);
            let row = &mut values[b * frames * n_mels..][..mel.values.len()];
            for (out, v) in row.iter_mut().zip(&mel.values) {
                *out = (v - mean) * inv;
            }
        }
        Self {
            values,
            lengths: mels.iter().map(|m| m.frames).collect(),
            batch: mels.len(),
            frames,
            n_mels,
        }
    }

    /// The spectrograms as one `[B, 1, T, M]` image each.
    pub fn tensor(&self, device: &Device) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(
                self.values.clone(),
                [self.batch, 1, self.frames, self.n_mels],
            ),
            device,
        )
    }
}

/// The raw clips of one training step at one sample rate (each method makes its own views).
#[derive(Clone, Debug, PartialEq)]
pub struct ClipBatch {
    pub clips: Vec<Vec<f32>>,
    pub rate: u32,
}

/// A batch of waveforms for a raw-audio encoder: each clip normalised on its own (mean 0,
/// deviation 1 over its samples), zero-padded to the longest and at least `min_len`.
#[derive(Clone, Debug, PartialEq)]
pub struct WaveBatch {
    /// Row-major `[B, L]`.
    pub values: Vec<f32>,
    /// Each clip's own sample count.
    pub lengths: Vec<usize>,
    pub batch: usize,
    pub len: usize,
}

impl WaveBatch {
    pub fn new(clips: &[Vec<f32>], min_len: usize) -> Self {
        let len = clips.iter().map(Vec::len).max().unwrap_or(0).max(min_len);
        let mut values = vec![0.0; clips.len() * len];
        for (b, clip) in clips.iter().enumerate() {
            let n = clip.len().max(1) as f32;
            let mean = clip.iter().sum::<f32>() / n;
            let var = clip.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
            let inv = 1.0 / (var + 1e-7).sqrt();
            for (out, v) in values[b * len..][..clip.len()].iter_mut().zip(clip) {
                *out = (v - mean) * inv;
            }
        }
        Self {
            values,
            lengths: clips.iter().map(Vec::len).collect(),
            batch: clips.len(),
            len,
        }
    }

    /// `[B, 1, L]`.
    pub fn tensor(&self, device: &Device) -> Tensor<3> {
        Tensor::from_data(
            TensorData::new(self.values.clone(), [self.batch, 1, self.len]),
            device,
        )
    }
}

/// `[B, T]`: 1 on each row's first `lengths[b]` positions, 0 after.
pub fn length_mask(lengths: &[usize], t: usize, device: &Device) -> Tensor<2> {
    let mask: Vec<f32> = lengths
        .iter()
        .flat_map(|&len| (0..t).map(move |i| if i < len { 1.0 } else { 0.0 }))
        .collect();
    Tensor::from_data(TensorData::new(mask, [lengths.len(), t]), device)
}

/// The mean of `x` (`[B, T, D]`) over each row's valid positions (`valid`: `[B, T]`), `[B, D]`.
pub fn masked_mean(x: Tensor<3>, valid: Tensor<2>) -> Tensor<2> {
    let [b, t, d] = x.dims();
    let w = valid.reshape([b, t, 1]);
    let count = w.clone().sum_dim(1).clamp_min(1.0);
    ((x * w).sum_dim(1) / count).reshape([b, d])
}

impl Shard for MelBatch {
    fn samples(&self) -> usize {
        self.batch
    }

    fn slice_samples(self, range: Range<usize>) -> Self {
        Self {
            values: rows(&self.values, self.frames * self.n_mels, range.clone()),
            lengths: self.lengths[range.clone()].to_vec(),
            batch: range.len(),
            ..self
        }
    }
}

impl Shard for ClipBatch {
    fn samples(&self) -> usize {
        self.clips.len()
    }

    fn slice_samples(mut self, range: Range<usize>) -> Self {
        self.clips.truncate(range.end);
        self.clips.drain(..range.start);
        self
    }
}
