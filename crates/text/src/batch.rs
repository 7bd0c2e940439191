//! Token batches: windows of a token stream (next-token training), padded sentences (sentence
//! embeddings) and sentences packed into full rows (masked language modelling). Every batch is a
//! pure function of the seed and the step.

use std::ops::Range;

use autodidact_core::train::shard::{Shard, rows};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use autodidact_core::train::seed::mix;

/// A batch of token ids on the CPU, row-major `[batch, len]`, with a validity mask.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenBatch {
    pub ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub valid: Vec<f32>,
    /// The next token of every position (windows of a stream only).
    pub next: Vec<i64>,
    /// Packed rows only: which text of its row each token belongs to (1, 2, ...; 0 for
    /// padding). Empty when every row holds one text.
    pub segments: Vec<u32>,
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

    /// For packed rows, `(positions [B, T], attention bias [B, 1, T, T])`: positions count from 0
    /// in every text and a token attends only to the tokens of its own text, so a packed text is
    /// encoded exactly as it would be alone. `None` for unpacked batches.
    pub fn packing(&self, device: &Device) -> Option<(Tensor<2, Int>, Tensor<4>)> {
        if self.segments.is_empty() {
            return None;
        }
        let (b, t) = (self.batch, self.len);
        let mut positions = vec![0i64; b * t];
        let mut bias = vec![-1e9f32; b * t * t];
        for row in 0..b {
            let seg = &self.segments[row * t..(row + 1) * t];
            let mut start = 0;
            for i in 0..t {
                if i > 0 && seg[i] != seg[i - 1] {
                    start = i;
                }
                positions[row * t + i] = (i - start) as i64;
                for j in 0..t {
                    // Padding attends to padding so that its softmax stays finite.
                    if seg[i] == seg[j] {
                        bias[(row * t + i) * t + j] = 0.0;
                    }
                }
            }
        }
        Some((
            Tensor::from_data(TensorData::new(positions, [b, t]), device),
            Tensor::from_data(TensorData::new(bias, [b, 1, t, t]), device),
        ))
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
        segments: Vec::new(),
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
        segments: Vec::new(),
        batch: seqs.len(),
        len,
    }
}

/// Rows of `len` tokens filled greedily with whole texts taken in `order` (a text longer than a
/// row is cut to `len`): the indices of the texts in each row.
pub fn pack_rows(texts: &[Vec<u32>], order: &[usize], len: usize) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = len;
    for &i in order {
        let n = texts[i].len().min(len);
        if used + n > len {
            rows.push(Vec::new());
            used = 0;
        }
        if let Some(row) = rows.last_mut() {
            row.push(i);
        }
        used += n;
    }
    rows
}

/// The packed batch of `rows` (from [`pack_rows`]), each row padded to `len`.
pub fn packed_batch(texts: &[Vec<u32>], rows: &[Vec<usize>], len: usize, pad: u32) -> TokenBatch {
    let mut ids = vec![pad as i64; rows.len() * len];
    let mut valid = vec![0.0; rows.len() * len];
    let mut segments = vec![0; rows.len() * len];
    for (r, row) in rows.iter().enumerate() {
        let mut t = r * len;
        for (s, &i) in row.iter().enumerate() {
            for &id in texts[i].iter().take(len) {
                ids[t] = id as i64;
                valid[t] = 1.0;
                segments[t] = s as u32 + 1;
                t += 1;
            }
        }
    }
    TokenBatch {
        ids,
        valid,
        next: Vec::new(),
        segments,
        batch: rows.len(),
        len,
    }
}

impl Shard for TokenBatch {
    fn samples(&self) -> usize {
        self.batch
    }

    fn slice_samples(self, range: Range<usize>) -> Self {
        let row = self.len;
        let part = |v: &[i64]| {
            if v.is_empty() {
                Vec::new()
            } else {
                rows(v, row, range.clone())
            }
        };
        Self {
            ids: part(&self.ids),
            next: part(&self.next),
            valid: rows(&self.valid, row, range.clone()),
            segments: if self.segments.is_empty() {
                Vec::new()
            } else {
                rows(&self.segments, row, range.clone())
            },
            batch: range.len(),
            len: row,
        }
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

    #[test]
    fn packing_fills_rows_with_whole_texts_and_keeps_them_apart() {
        let texts = vec![
            vec![2, 10, 11],
            vec![2, 20],
            vec![2, 30, 31, 32],
            vec![2; 9],
        ];
        let rows = pack_rows(&texts, &[0, 1, 2, 3], 6);
        assert_eq!(rows, vec![vec![0, 1], vec![2], vec![3]]);
        let b = packed_batch(&texts, &rows, 6, 0);
        assert_eq!(&b.ids[..6], &[2, 10, 11, 2, 20, 0]);
        assert_eq!(&b.segments[..6], &[1, 1, 1, 2, 2, 0]);
        assert_eq!(&b.valid[6..12], &[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(&b.segments[12..], &[1; 6]);
        let (positions, bias) = b.packing(&Device::flex()).expect("packed");
        let positions: Vec<i64> = positions.into_data().iter::<i64>().collect();
        assert_eq!(&positions[..6], &[0, 1, 2, 0, 1, 0]);
        let bias: Vec<f32> = bias.into_data().iter::<f32>().collect();
        // Row 0: token 1 (first text) sees tokens 0..3, not the second text or padding.
        assert_eq!(&bias[6..12], &[0.0, 0.0, 0.0, -1e9, -1e9, -1e9]);
        // Token 4 (second text) sees only tokens 3 and 4.
        assert_eq!(&bias[24..30], &[-1e9, -1e9, -1e9, 0.0, 0.0, -1e9]);
        assert!(
            pad_sequences(&texts, 6, 0)
                .packing(&Device::flex())
                .is_none()
        );
    }
}
