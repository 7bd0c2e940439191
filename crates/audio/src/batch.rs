//! A batch of log-mel spectrograms for an encoder: each standardised on its own (mean 0,
//! deviation 1 over its values), zero-padded to the longest, with each one's frame count.

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
            let inv = 1.0 / (var.sqrt() + 1e-5);
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
