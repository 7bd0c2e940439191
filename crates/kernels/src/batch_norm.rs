//! Training-mode BatchNorm fused with an optional ReLU, forward and backward, on NCHW `f32`
//! slices. One task per channel; each reads its channel as `batch` contiguous runs of `h * w`.
//!
//! Burn's generic BatchNorm swaps the batch and channel axes (a full copy) for every statistic
//! and records half a dozen element-wise operations, each a pass over the activation; here the
//! forward is three passes (mean, variance, output) and the backward two.
//!
//! Synchronised BatchNorm: with a [`RankSum`] the statistics are the global batch's (every rank
//! of a data-parallel run together) and the backward uses the global sums of the gradient, as
//! PyTorch's `SyncBatchNorm` does; the kernels stay ignorant of how the ranks talk.

use std::sync::RwLock;

use rayon::prelude::*;

/// Sums per-channel values element-wise over the ranks of a data-parallel run, in place. Every
/// rank calls it in the same order.
pub type RankSum = fn(&mut [f64]);

static SYNC: RwLock<Option<RankSum>> = RwLock::new(None);

/// Makes every training-mode BatchNorm on the CPU kernels use the global batch's statistics,
/// summed over the ranks by `sum` (`None`: each process's own batch, the default).
pub fn set_sync(sum: Option<RankSum>) {
    *SYNC.write().unwrap_or_else(|e| e.into_inner()) = sum;
}

/// The ranks' sum when BatchNorm is synchronised.
pub fn sync() -> Option<RankSum> {
    *SYNC.read().unwrap_or_else(|e| e.into_inner())
}

/// Layout of a `[batch, channels, plane]` activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnShape {
    pub batch: usize,
    pub channels: usize,
    /// Elements per sample and channel (`h * w`).
    pub plane: usize,
}

impl BnShape {
    fn count(&self) -> f64 {
        (self.batch * self.plane) as f64
    }

    /// The runs of channel `c`: `(offset, len)` for each sample.
    fn runs(&self, c: usize) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        (0..self.batch).map(move |b| {
            let start = (b * self.channels + c) * self.plane;
            start..start + self.plane
        })
    }
}

/// Sum of `f(v)` over `values` in 16 independent `f32` lanes (vectorisable), returned as `f64`.
/// Callers keep runs short (one sample's plane), so the `f32` partial sums stay accurate.
#[inline]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut lanes = [0.0f32; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l += f(v);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    lanes.iter().map(|&l| l as f64).sum::<f64>() + tail as f64
}

/// Per-channel mean and biased variance of `x`, or with `ranks` of every rank's `x` together
/// (the global mean first, then the squares about it).
pub fn batch_stats_over(s: &BnShape, x: &[f32], ranks: Option<RankSum>) -> (Vec<f32>, Vec<f32>) {
    let Some(rank_sum) = ranks else {
        return batch_stats(s, x);
    };
    assert_eq!(x.len(), s.batch * s.channels * s.plane, "input length");
    let mut sums: Vec<f64> = (0..s.channels)
        .into_par_iter()
        .map(|c| s.runs(c).map(|r| lane_sum(&x[r], |v| v)).sum())
        .collect();
    sums.push(s.count());
    rank_sum(&mut sums);
    let count = sums.pop().unwrap_or(1.0);
    let mean: Vec<f32> = sums.iter().map(|&v| (v / count) as f32).collect();
    let mut squares: Vec<f64> = (0..s.channels)
        .into_par_iter()
        .map(|c| {
            let m = mean[c];
            s.runs(c)
                .map(|r| lane_sum(&x[r], |v| (v - m) * (v - m)))
                .sum()
        })
        .collect();
    rank_sum(&mut squares);
    let var = squares.iter().map(|&v| (v / count) as f32).collect();
    (mean, var)
}

/// Per-channel batch mean and biased variance (two passes: mean, then centred squares).
pub fn batch_stats(s: &BnShape, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), s.batch * s.channels * s.plane, "input length");
    let stats: Vec<(f32, f32)> = (0..s.channels)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = s.runs(c).map(|r| lane_sum(&x[r], |v| v)).sum();
            let mean = (sum / s.count()) as f32;
            let sq: f64 = s
                .runs(c)
                .map(|r| lane_sum(&x[r], |v| (v - mean) * (v - mean)))
                .sum();
            (mean, (sq / s.count()) as f32)
        })
        .collect();
    stats.into_iter().unzip()
}

/// `y = gamma * (x - mean) / sqrt(var + eps) + beta`, then `max(y, 0)` when `relu`.
#[allow(clippy::too_many_arguments)]
pub fn bn_forward(
    s: &BnShape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
    relu: bool,
) -> Vec<f32> {
    let mut y = crate::output_buffer(x.len());
    let (scale, shift) = affine(gamma, beta, mean, var, eps);
    let floor = if relu { 0.0 } else { f32::NEG_INFINITY };
    y.par_chunks_mut(s.plane)
        .zip(x.par_chunks(s.plane))
        .enumerate()
        .for_each(|(i, (y, x))| {
            let c = i % s.channels;
            let (a, b) = (scale[c], shift[c]);
            y.iter_mut()
                .zip(x)
                .for_each(|(y, &x)| *y = (a * x + b).max(floor));
        });
    y
}

/// The per-channel affine map `x * scale + shift` that BatchNorm applies.
fn affine(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
) -> (Vec<f32>, Vec<f32>) {
    (0..gamma.len())
        .map(|c| {
            let inv_std = 1.0 / (var[c] as f64 + eps).sqrt();
            let scale = gamma[c] as f64 * inv_std;
            (
                scale as f32,
                (beta[c] as f64 - mean[c] as f64 * scale) as f32,
            )
        })
        .unzip()
}

/// Zeroes the gradients `g` where the ReLU after `a * x + b` was off (a loop of its own, so
/// that it vectorises).
#[inline]
fn relu_mask(g: &mut [f32], x: &[f32], a: f32, b: f32) {
    for (g, &x) in g.iter_mut().zip(x) {
        *g = if a * x + b > 0.0 { *g } else { 0.0 };
    }
}

/// Gradients of [`bn_forward`] (with statistics of this same batch) given the output gradient:
/// `(dx, dgamma, dbeta)`.
#[allow(clippy::too_many_arguments)]
pub fn bn_backward(
    s: &BnShape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
    relu: bool,
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    bn_backward_over(s, x, gamma, beta, mean, var, eps, relu, dy, None)
}

/// [`bn_backward`] of a BatchNorm whose statistics were the global batch's
/// ([`batch_stats_over`] with the same `ranks`): `dx` takes the ranks' summed gradient terms;
/// `dgamma` and `dbeta` stay this rank's share (the ranks' gradients are averaged after).
#[allow(clippy::too_many_arguments)]
pub fn bn_backward_over(
    s: &BnShape,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f64,
    relu: bool,
    dy: &[f32],
    ranks: Option<RankSum>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (scale, shift) = affine(gamma, beta, mean, var, eps);
    // Pass 1, per channel: dbeta = sum(g), dgamma = sum(g * xhat) where g is dy masked by ReLU.
    let sums: Vec<(f64, f64)> = (0..s.channels)
        .into_par_iter()
        .map(|c| {
            let (a, b) = (scale[c], shift[c]);
            let (m, inv_std) = (mean[c], 1.0 / (var[c] as f64 + eps).sqrt() as f32);
            let mut sum_g = 0.0f64;
            let mut sum_gx = 0.0f64;
            let mut masked = Vec::with_capacity(s.plane);
            for r in s.runs(c) {
                let (x, dy) = (&x[r.clone()], &dy[r]);
                masked.clear();
                masked.extend_from_slice(dy);
                if relu {
                    relu_mask(&mut masked, x, a, b);
                }
                sum_g += lane_sum(&masked, |g| g);
                let mut lanes = [0.0f32; 16];
                let mut gs = masked.chunks_exact(16);
                let mut xs = x.chunks_exact(16);
                for (g, x) in (&mut gs).zip(&mut xs) {
                    for ((l, &g), &x) in lanes.iter_mut().zip(g).zip(x) {
                        *l += g * (x - m) * inv_std;
                    }
                }
                let tail: f32 = gs
                    .remainder()
                    .iter()
                    .zip(xs.remainder())
                    .map(|(&g, &x)| g * (x - m) * inv_std)
                    .sum();
                sum_gx += lanes.iter().map(|&l| l as f64).sum::<f64>() + tail as f64;
            }
            (sum_g, sum_gx)
        })
        .collect();
    let dbeta: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
    let dgamma: Vec<f32> = sums.iter().map(|s| s.1 as f32).collect();
    let (sums, n) = match ranks {
        None => (sums, s.count()),
        Some(rank_sum) => {
            let mut flat: Vec<f64> = sums.iter().flat_map(|&(g, gx)| [g, gx]).collect();
            flat.push(s.count());
            rank_sum(&mut flat);
            let n = flat.pop().unwrap_or(1.0);
            (flat.chunks(2).map(|p| (p[0], p[1])).collect(), n)
        }
    };
    // Pass 2: dx = gamma * inv_std * (g - mean(g) - xhat * mean(g * xhat)).
    let mut dx = crate::output_buffer(x.len());
    dx.par_chunks_mut(s.plane)
        .zip(x.par_chunks(s.plane).zip(dy.par_chunks(s.plane)))
        .enumerate()
        .for_each(|(i, (dx, (x, dy)))| {
            let c = i % s.channels;
            let (a, b) = (scale[c], shift[c]);
            let inv_std = (1.0 / (var[c] as f64 + eps).sqrt()) as f32;
            let m = mean[c];
            let mean_g = (sums[c].0 / n) as f32;
            let mean_gx = (sums[c].1 / n) as f32;
            dx.copy_from_slice(dy);
            if relu {
                relu_mask(dx, x, a, b);
            }
            for (dx, &x) in dx.iter_mut().zip(x) {
                let xhat = (x - m) * inv_std;
                *dx = a * (*dx - mean_g - xhat * mean_gx);
            }
        });
    (dx, dgamma, dbeta)
}
