//! Token batches: windows of a token stream (next-token training) and padded sentences (masked
//! language modelling, sentence embeddings). Every batch is a pure function of the seed and the
//! step.

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::augment::image::mix;

/// A batch of token ids on the CPU, row-major `[batch, len]`, with a validity mask.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenBatch {
    pub ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub valid: Vec<f32>,
    /// The next token of every position (windows of a stream only).
    pub next: Vec<i64>,
    pub batch: usize,
    pub len: usize,
}

impl TokenBatch {
    /// `(ids [B, T], valid [B, T])` on `device`.
    pub fn tensors(&self, device: &Device) -> (Tensor<2, Int>, Tensor<2>) {
        let shape = [self.batch, self.len];
        (
            Tensor::from_data(TensorData::new(self.ids.clone(), shape), device),
            Tensor::from_data(TensorData::new(self.valid.clone(), shape), device),
        )
    }

    /// The next-token targets, `[B * T]`.
    pub fn next_tensor(&self, device: &Device) -> Tensor<1, Int> {
        Tensor::from_data(
            TensorData::new(self.next.clone(), [self.batch * self.len]),
            device,
        )
    }
}

/// `batch` windows of `len + 1` tokens at seeded random offsets of `stream`: inputs and the next
/// token of each position. The stream must hold more than `len` tokens.
pub fn stream_windows(
    stream: &[u32],
    batch: usize,
    len: usize,
    seed: u64,
    step: usize,
) -> TokenBatch {
    let mut rng = StdRng::seed_from_u64(mix(seed, step as u64));
    let last = stream.len() - len - 1;
    let mut ids = Vec::with_capacity(batch * len);
    let mut next = Vec::with_capacity(batch * len);
    for _ in 0..batch {
        let start = rng.random_range(0..=last);
        ids.extend(stream[start..start + len].iter().map(|&t| t as i64));
        next.extend(stream[start + 1..start + len + 1].iter().map(|&t| t as i64));
    }
    TokenBatch {
        ids,
        valid: vec![1.0; batch * len],
        next,
        batch,
        len,
    }
}

/// Consecutive windows covering `stream` (the last partial one dropped), at most `max_windows`,
/// for a held-out loss that is the same at every evaluation.
pub fn eval_windows(stream: &[u32], len: usize, max_windows: usize) -> Vec<(Vec<i64>, Vec<i64>)> {
    (0..stream.len().saturating_sub(1) / len)
        .take(max_windows)
        .map(|w| {
            let s = w * len;
            (
                stream[s..s + len].iter().map(|&t| t as i64).collect(),
                stream[s + 1..s + len + 1]
                    .iter()
                    .map(|&t| t as i64)
                    .collect(),
            )
        })
        .collect()
}

/// Sequences padded (with `pad`) to the longest of them, each cut to `max_len`.
pub fn pad_sequences(seqs: &[Vec<u32>], max_len: usize, pad: u32) -> TokenBatch {
    let len = seqs
        .iter()
        .map(|s| s.len().min(max_len))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut ids = vec![pad as i64; seqs.len() * len];
    let mut valid = vec![0.0; seqs.len() * len];
    for (b, s) in seqs.iter().enumerate() {
        for (t, &id) in s.iter().take(len).enumerate() {
            ids[b * len + t] = id as i64;
            valid[b * len + t] = 1.0;
        }
    }
    TokenBatch {
        ids,
        valid,
        next: Vec::new(),
        batch: seqs.len(),
        len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_pair_each_token_with_the_next_and_repeat_per_step() {
        let stream: Vec<u32> = (0..100).collect();
        let b = stream_windows(&stream, 4, 8, 1, 5);
        assert_eq!((b.batch, b.len, b.ids.len()), (4, 8, 32));
        for (i, n) in b.ids.iter().zip(&b.next) {
            assert_eq!(i + 1, *n);
        }
        assert_eq!(b, stream_windows(&stream, 4, 8, 1, 5));
        assert_ne!(b, stream_windows(&stream, 4, 8, 1, 6));
        let held = eval_windows(&stream, 8, 100);
        assert_eq!(held.len(), 12);
        assert_eq!(held[1].0[0], 8);
        assert_eq!(held[11].1[7], 96);
    }

    #[test]
    fn padding_marks_real_tokens_and_cuts_long_ones() {
        let b = pad_sequences(&[vec![5, 6, 7], vec![8]], 2, 0);
        assert_eq!(b.len, 2);
        assert_eq!(b.ids, vec![5, 6, 8, 0]);
        assert_eq!(b.valid, vec![1.0, 1.0, 1.0, 0.0]);
    }
}
