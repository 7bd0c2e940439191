//! Multi-head self-attention straight from the fused `[B, T, 3D]` projection (queries, keys,
//! values side by side, heads contiguous within each), and its backward pass:
//! `softmax(Q K^T / sqrt(dh) + bias) V` per head, written into `[B, T, D]` with the heads side by
//! side again. No split, transpose or broadcast copies of the whole tensor, one pass for the
//! scale, the bias and the softmax; the batch is split across the thread pool, one sequence per
//! task, heads in turn. The softmax probabilities are kept for the backward pass (as Burn's own
//! attention keeps them).

use rayon::prelude::*;

use super::approx::exp_nonpositive;
use super::lanes::{lane_max, lane_sum, lane_sum2};
use super::matmul::matmul;

/// Geometry of one attention call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    pub batch: usize,
    pub len: usize,
    /// Model width `D` (all heads).
    pub dim: usize,
    pub heads: usize,
}

impl AttentionShape {
    pub fn head_dim(&self) -> usize {
        self.dim / self.heads
    }

    fn scale(&self) -> f32 {
        1.0 / (self.head_dim() as f32).sqrt()
    }
}

/// An additive bias on the scores, `[bias_batch, 1, bias_rows, len]`: `bias_batch` is 1 (shared)
/// or the batch, `bias_rows` 1 (the same for every query) or the length.
#[derive(Clone, Copy, Debug)]
pub struct Bias<'a> {
    pub values: &'a [f32],
    pub batch: usize,
    pub rows: usize,
}

impl<'a> Bias<'a> {
    /// The bias row of query `i` in sequence `b` (`len` keys).
    fn row(&self, b: usize, i: usize, len: usize) -> &'a [f32] {
        let b = if self.batch == 1 { 0 } else { b };
        let i = if self.rows == 1 { 0 } else { i };
        &self.values[(b * self.rows + i) * len..][..len]
    }
}

/// Copies the `cols` columns from `offset` of the `rows x stride` row-major `src` into `dst`.
fn gather(src: &[f32], stride: usize, offset: usize, cols: usize, dst: &mut [f32]) {
    for (row, out) in dst.chunks_exact_mut(cols).enumerate() {
        out.copy_from_slice(&src[row * stride + offset..][..cols]);
    }
}

/// Writes (or adds into) the `cols` columns from `offset` of `dst` from the dense `src`.
fn scatter(src: &[f32], cols: usize, dst: &mut [f32], stride: usize, offset: usize) {
    for (row, values) in src.chunks_exact(cols).enumerate() {
        dst[row * stride + offset..][..cols].copy_from_slice(values);
    }
}

/// Scales a row of scores, adds its bias and turns it into probabilities in place.
#[inline(always)]
fn softmax_row(row: &mut [f32], bias: Option<&[f32]>, scale: f32) {
    match bias {
        Some(bias) => row
            .iter_mut()
            .zip(bias)
            .for_each(|(s, b)| *s = *s * scale + b),
        None => row.iter_mut().for_each(|s| *s *= scale),
    }
    let max = lane_max(row);
    row.iter_mut().for_each(|s| *s = exp_nonpositive(*s - max));
    let inv = 1.0 / lane_sum(row, |p| p);
    row.iter_mut().for_each(|p| *p *= inv);
}

/// The attention of `qkv` (`[B, T, 3D]`): `(context [B, T, D], probabilities [B, H, T, T])`.
pub fn attention_forward(
    qkv: &[f32],
    bias: Option<Bias>,
    s: AttentionShape,
) -> (Vec<f32>, Vec<f32>) {
    let (t, d, h, dh) = (s.len, s.dim, s.heads, s.head_dim());
    assert_eq!(
        qkv.len(),
        s.batch * t * 3 * d,
        "attention: qkv is not [B, T, 3D]"
    );
    assert_eq!(
        h * dh,
        d,
        "attention: the width is not a multiple of the heads"
    );
    let scale = s.scale();
    let mut context = crate::output_buffer(s.batch * t * d);
    let mut probs = crate::output_buffer(s.batch * h * t * t);
    context
        .par_chunks_mut(t * d)
        .zip(probs.par_chunks_mut(h * t * t))
        .enumerate()
        .for_each(|(b, (out, p_b))| {
            let x = &qkv[b * t * 3 * d..][..t * 3 * d];
            let (mut q, mut k, mut v, mut o) = (
                vec![0.0; t * dh],
                vec![0.0; t * dh],
                vec![0.0; t * dh],
                vec![0.0; t * dh],
            );
            for head in 0..h {
                gather(x, 3 * d, head * dh, dh, &mut q);
                gather(x, 3 * d, d + head * dh, dh, &mut k);
                gather(x, 3 * d, 2 * d + head * dh, dh, &mut v);
                let p = &mut p_b[head * t * t..][..t * t];
                matmul(t, t, dh, p, false, &q, false, &k, true);
                for (i, row) in p.chunks_exact_mut(t).enumerate() {
                    softmax_row(row, bias.map(|bias| bias.row(b, i, t)), scale);
                }
                matmul(t, dh, t, &mut o, false, p, false, &v, false);
                scatter(&o, dh, out, d, head * dh);
            }
        });
    (context, probs)
}

/// The gradient with respect to `qkv` of the attention, from the context's gradient `d_context`
/// (`[B, T, D]`) and the forward pass's probabilities. The bias gets no gradient.
pub fn attention_backward(
    qkv: &[f32],
    probs: &[f32],
    d_context: &[f32],
    s: AttentionShape,
) -> Vec<f32> {
    let (t, d, h, dh) = (s.len, s.dim, s.heads, s.head_dim());
    assert_eq!(
        qkv.len(),
        s.batch * t * 3 * d,
        "attention: qkv is not [B, T, 3D]"
    );
    assert_eq!(probs.len(), s.batch * h * t * t, "attention: probabilities");
    assert_eq!(
        d_context.len(),
        s.batch * t * d,
        "attention: context gradient"
    );
    let scale = s.scale();
    let mut d_qkv = crate::output_buffer(qkv.len());
    d_qkv
        .par_chunks_mut(t * 3 * d)
        .enumerate()
        .for_each(|(b, dx)| {
            let x = &qkv[b * t * 3 * d..][..t * 3 * d];
            let dy = &d_context[b * t * d..][..t * d];
            let buf = || vec![0.0f32; t * dh];
            let (mut q, mut k, mut v, mut g) = (buf(), buf(), buf(), buf());
            let (mut dq, mut dk, mut dv) = (buf(), buf(), buf());
            let mut ds = vec![0.0f32; t * t];
            for head in 0..h {
                gather(x, 3 * d, head * dh, dh, &mut q);
                gather(x, 3 * d, d + head * dh, dh, &mut k);
                gather(x, 3 * d, 2 * d + head * dh, dh, &mut v);
                gather(dy, d, head * dh, dh, &mut g);
                let p = &probs[(b * h + head) * t * t..][..t * t];
                // dV = P^T dO, dP = dO V^T
                matmul(t, dh, t, &mut dv, false, p, true, &g, false);
                matmul(t, t, dh, &mut ds, false, &g, false, &v, true);
                // dS = P * (dP - rowsum(P * dP)), times the scale the scores were taken at.
                for (dp, p) in ds.chunks_exact_mut(t).zip(p.chunks_exact(t)) {
                    let dot = lane_sum2(dp, p);
                    dp.iter_mut()
                        .zip(p)
                        .for_each(|(g, &p)| *g = p * (*g - dot) * scale);
                }
                // dQ = dS K, dK = dS^T Q
                matmul(t, dh, t, &mut dq, false, &ds, false, &k, false);
                matmul(t, dh, t, &mut dk, false, &ds, true, &q, false);
                scatter(&dq, dh, dx, 3 * d, head * dh);
                scatter(&dk, dh, dx, 3 * d, d + head * dh);
                scatter(&dv, dh, dx, 3 * d, 2 * d + head * dh);
            }
        });
    d_qkv
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_values as values;

    /// The attention of one head of one sequence, written out naively in f64.
    fn naive(
        qkv: &[f32],
        bias: Option<Bias>,
        s: AttentionShape,
        b: usize,
        head: usize,
    ) -> Vec<f64> {
        let (t, d, dh) = (s.len, s.dim, s.head_dim());
        let at = |i: usize, part: usize, c: usize| {
            qkv[(b * t + i) * 3 * d + part * d + head * dh + c] as f64
        };
        let mut out = vec![0.0; t * dh];
        for i in 0..t {
            let mut scores: Vec<f64> = (0..t)
                .map(|j| {
                    let dot: f64 = (0..dh).map(|c| at(i, 0, c) * at(j, 1, c)).sum();
                    dot / (dh as f64).sqrt() + bias.map_or(0.0, |bias| bias.row(b, i, t)[j] as f64)
                })
                .collect();
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            scores.iter_mut().for_each(|x| *x = (*x - max).exp());
            let sum: f64 = scores.iter().sum();
            for c in 0..dh {
                out[i * dh + c] = (0..t).map(|j| scores[j] / sum * at(j, 2, c)).sum();
            }
        }
        out
    }

    #[test]
    fn forward_matches_the_naive_formula_with_each_kind_of_bias() {
        let s = AttentionShape {
            batch: 3,
            len: 5,
            dim: 8,
            heads: 2,
        };
        let qkv = values(3 * 5 * 24, 7);
        let causal: Vec<f32> = (0..25)
            .map(|k| if k % 5 > k / 5 { -1e9 } else { 0.0 })
            .collect();
        let padding: Vec<f32> = (0..15)
            .map(|k| if k % 5 == 4 && k / 5 == 1 { -1e9 } else { 0.0 })
            .collect();
        let biases = [
            None,
            Some(Bias {
                values: &causal,
                batch: 1,
                rows: 5,
            }),
            Some(Bias {
                values: &padding,
                batch: 3,
                rows: 1,
            }),
        ];
        for bias in biases {
            let (out, probs) = attention_forward(&qkv, bias, s);
            for b in 0..3 {
                for head in 0..2 {
                    let want = naive(&qkv, bias, s, b, head);
                    for i in 0..5 {
                        for c in 0..4 {
                            let got = out[(b * 5 + i) * 8 + head * 4 + c] as f64;
                            assert!(
                                (got - want[i * 4 + c]).abs() < 1e-5,
                                "b{b} h{head} i{i} c{c}"
                            );
                        }
                        let row = &probs[((b * 2 + head) * 5 + i) * 5..][..5];
                        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                    }
                }
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let s = AttentionShape {
            batch: 2,
            len: 4,
            dim: 6,
            heads: 2,
        };
        let qkv = values(2 * 4 * 18, 3);
        let causal: Vec<f32> = (0..16)
            .map(|k| if k % 4 > k / 4 { -1e9 } else { 0.0 })
            .collect();
        let bias = Some(Bias {
            values: &causal,
            batch: 1,
            rows: 4,
        });
        let w = values(2 * 4 * 6, 11);
        // L = sum(w * attention(qkv)), in f64 through the naive formula.
        let loss = |x: &[f32]| -> f64 {
            let mut total = 0.0;
            for b in 0..2 {
                for head in 0..2 {
                    let out = naive(x, bias, s, b, head);
                    for i in 0..4 {
                        for c in 0..3 {
                            total += w[(b * 4 + i) * 6 + head * 3 + c] as f64 * out[i * 3 + c];
                        }
                    }
                }
            }
            total
        };
        let (_, probs) = attention_forward(&qkv, bias, s);
        let grad = attention_backward(&qkv, &probs, &w, s);
        let eps = 1e-3;
        for (k, &got) in grad.iter().enumerate() {
            let (mut up, mut down) = (qkv.clone(), qkv.clone());
            up[k] += eps;
            down[k] -= eps;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * eps as f64);
            assert!(
                (got as f64 - numeric).abs() < 2e-3 * (1.0 + numeric.abs()),
                "d qkv[{k}]: {got} vs {numeric}"
            );
        }
    }
}
