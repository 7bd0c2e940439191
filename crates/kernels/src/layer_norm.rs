//! LayerNorm over the last dimension and its backward pass in one sweep each, where Burn's
//! default composes nine tensor operations (and as many autodiff nodes). Rows are split across the
//! thread pool in fixed blocks, and the parameter gradients are summed block by block in order, so
//! the result does not depend on the number of threads.

use rayon::prelude::*;

use super::lanes::{lane_sum, lane_sum2};

/// Rows per parallel task (fixed, for reproducible sums).
const BLOCK_ROWS: usize = 64;
/// Inputs smaller than this many values run on the calling thread: waking the pool would cost
/// more than the work (the same blocks either way, so the same sums).
const PARALLEL_VALUES: usize = 1 << 16;

/// One block of rows in the forward pass: its index, then its outputs, means and `rstd`s.
type RowBlock<'a> = (usize, ((&'a mut [f32], &'a mut [f32]), &'a mut [f32]));

/// `(y, mean, rstd)`: `y = (x - mean) * rstd * gamma + beta` per row of `width` values, with
/// each row's mean and `1 / sqrt(var + epsilon)` (biased variance) kept for the backward pass.
pub fn layer_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let width = gamma.len();
    assert!(
        width > 0 && x.len().is_multiple_of(width),
        "layer_norm: x is not [.., {width}]"
    );
    assert_eq!(beta.len(), width, "layer_norm: beta");
    let rows = x.len() / width;
    let mut y = crate::output_buffer(x.len());
    let (mut mean, mut rstd) = (crate::output_buffer(rows), crate::output_buffer(rows));
    let normalise_block = |(block, ((y, mean), rstd)): RowBlock| {
        let x = &x[block * BLOCK_ROWS * width..][..y.len()];
        for (r, (y, x)) in y
            .chunks_exact_mut(width)
            .zip(x.chunks_exact(width))
            .enumerate()
        {
            let m = lane_sum(x, |v| v) / width as f32;
            let var = lane_sum(x, |v| (v - m) * (v - m)) / width as f32;
            let s = 1.0 / (var + epsilon).sqrt();
            for (((y, &x), &g), &b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
                *y = (x - m) * s * g + b;
            }
            mean[r] = m;
            rstd[r] = s;
        }
    };
    if x.len() < PARALLEL_VALUES {
        y.chunks_mut(BLOCK_ROWS * width)
            .zip(mean.chunks_mut(BLOCK_ROWS))
            .zip(rstd.chunks_mut(BLOCK_ROWS))
            .enumerate()
            .for_each(normalise_block);
    } else {
        y.par_chunks_mut(BLOCK_ROWS * width)
            .zip(mean.par_chunks_mut(BLOCK_ROWS))
            .zip(rstd.par_chunks_mut(BLOCK_ROWS))
            .enumerate()
            .for_each(normalise_block);
    }
    (y, mean, rstd)
}

/// `(dx, dgamma, dbeta)` from the output's gradient `dy` and the forward pass's row statistics.
pub fn layer_norm_backward(
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let width = gamma.len();
    assert_eq!(x.len(), dy.len(), "layer_norm: gradient length");
    assert_eq!(x.len(), mean.len() * width, "layer_norm: statistics");
    let mut dx = crate::output_buffer(x.len());
    let block_gradients = |(block, dx): (usize, &mut [f32])| {
        let start = block * BLOCK_ROWS;
        let x = &x[start * width..][..dx.len()];
        let dy = &dy[start * width..][..dx.len()];
        let (mut dgamma, mut dbeta) = (vec![0.0f32; width], vec![0.0f32; width]);
        let (mut xhat, mut g) = (vec![0.0f32; width], vec![0.0f32; width]);
        for (r, ((dx, x), dy)) in dx
            .chunks_exact_mut(width)
            .zip(x.chunks_exact(width))
            .zip(dy.chunks_exact(width))
            .enumerate()
        {
            let (m, s) = (mean[start + r], rstd[start + r]);
            let params = dgamma.iter_mut().zip(dbeta.iter_mut());
            for (((((xh, g), &x), &dy), &gamma), (dg, db)) in xhat
                .iter_mut()
                .zip(g.iter_mut())
                .zip(x)
                .zip(dy)
                .zip(gamma)
                .zip(params)
            {
                *xh = (x - m) * s;
                *g = dy * gamma;
                *dg += dy * *xh;
                *db += dy;
            }
            let mean_g = lane_sum(&g, |v| v) / width as f32;
            let mean_gx = lane_sum2(&g, &xhat) / width as f32;
            for ((dx, &g), &xh) in dx.iter_mut().zip(&g).zip(&xhat) {
                *dx = s * (g - mean_g - xh * mean_gx);
            }
        }
        (dgamma, dbeta)
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = if x.len() < PARALLEL_VALUES {
        dx.chunks_mut(BLOCK_ROWS * width)
            .enumerate()
            .map(block_gradients)
            .collect()
    } else {
        dx.par_chunks_mut(BLOCK_ROWS * width)
            .enumerate()
            .map(block_gradients)
            .collect()
    };
    let (mut dgamma, mut dbeta) = (vec![0.0f32; width], vec![0.0f32; width]);
    for (g, b) in &partials {
        dgamma.iter_mut().zip(g).for_each(|(a, v)| *a += v);
        dbeta.iter_mut().zip(b).for_each(|(a, v)| *a += v);
    }
    (dx, dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs in `[-2, 2)`.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        crate::test_values(n, seed)
            .iter()
            .map(|v| 2.0 * v)
            .collect()
    }

    /// L = sum(w * layer_norm(x)) in f64.
    fn loss(x: &[f32], gamma: &[f32], beta: &[f32], w: &[f32]) -> f64 {
        let width = gamma.len();
        let mut total = 0.0;
        for (r, row) in x.chunks(width).enumerate() {
            let m = row.iter().map(|&v| v as f64).sum::<f64>() / width as f64;
            let var = row.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / width as f64;
            let weights = &w[r * width..][..width];
            for (((&x, &g), &b), &w) in row.iter().zip(gamma).zip(beta).zip(weights) {
                let y = (x as f64 - m) / (var + 1e-5).sqrt() * g as f64 + b as f64;
                total += w as f64 * y;
            }
        }
        total
    }

    #[test]
    fn forward_normalises_each_row() {
        let x = values(3 * 10, 1);
        let gamma = vec![1.0; 10];
        let beta = vec![0.0; 10];
        let (y, mean, rstd) = layer_norm_forward(&x, &gamma, &beta, 1e-5);
        for (r, row) in y.chunks(10).enumerate() {
            let m = row.iter().sum::<f32>() / 10.0;
            let v = row.iter().map(|y| y * y).sum::<f32>() / 10.0;
            assert!(
                m.abs() < 1e-5 && (v - 1.0).abs() < 1e-3,
                "row {r}: mean {m}, var {v}"
            );
            let want = x[r * 10..][..10].iter().sum::<f32>() / 10.0;
            assert!((mean[r] - want).abs() < 1e-6 && rstd[r] > 0.0);
        }
    }

    #[test]
    fn backward_matches_finite_differences_for_every_input() {
        // 70 rows: two blocks, the second partial.
        let (rows, width) = (70, 6);
        let x = values(rows * width, 5);
        let gamma = values(width, 9);
        let beta = values(width, 13);
        let w = values(rows * width, 17);
        let (_, mean, rstd) = layer_norm_forward(&x, &gamma, &beta, 1e-5);
        let (dx, dgamma, dbeta) = layer_norm_backward(&x, &gamma, &mean, &rstd, &w);
        let eps = 1e-2f32;
        let numeric = |f: &dyn Fn(f32) -> f64| (f(eps) - f(-eps)) / (2.0 * eps as f64);
        let check = |got: f32, want: f64, what: String| {
            assert!(
                (got as f64 - want).abs() < 2e-3 * (1.0 + want.abs()),
                "{what}: {got} vs {want}"
            );
        };
        for k in (0..x.len()).step_by(7) {
            let d = numeric(&|e| {
                let mut x = x.clone();
                x[k] += e;
                loss(&x, &gamma, &beta, &w)
            });
            check(dx[k], d, format!("dx[{k}]"));
        }
        for (k, (&dg, &db)) in dgamma.iter().zip(&dbeta).enumerate() {
            let d = numeric(&|e| {
                let mut g = gamma.clone();
                g[k] += e;
                loss(&x, &g, &beta, &w)
            });
            check(dg, d, format!("dgamma[{k}]"));
            let d = numeric(&|e| {
                let mut b = beta.clone();
                b[k] += e;
                loss(&x, &gamma, &b, &w)
            });
            check(db, d, format!("dbeta[{k}]"));
        }
    }

    #[test]
    fn inputs_big_enough_for_the_pool_give_the_formulas_values() {
        let (rows, width) = (1100, 64);
        assert!(rows * width >= PARALLEL_VALUES);
        let x = values(rows * width, 21);
        let gamma = values(width, 22);
        let beta = values(width, 23);
        let dy = values(rows * width, 24);
        let (y, mean, rstd) = layer_norm_forward(&x, &gamma, &beta, 1e-5);
        let (dx, dgamma, dbeta) = layer_norm_backward(&x, &gamma, &mean, &rstd, &dy);
        let xhat = |r: usize, i: usize| {
            let row = &x[r * width..][..width];
            let m = row.iter().map(|&v| v as f64).sum::<f64>() / width as f64;
            let var = row.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / width as f64;
            (row[i] as f64 - m) / (var + 1e-5).sqrt()
        };
        for r in [0, 555, 1099] {
            let want = xhat(r, 5) * gamma[5] as f64 + beta[5] as f64;
            assert!((y[r * width + 5] as f64 - want).abs() < 1e-4, "y row {r}");
        }
        for i in [0, 31, 63] {
            let want_g: f64 = (0..rows)
                .map(|r| dy[r * width + i] as f64 * xhat(r, i))
                .sum();
            let want_b: f64 = (0..rows).map(|r| dy[r * width + i] as f64).sum();
            assert!(
                (dgamma[i] as f64 - want_g).abs() < 1e-3 * (1.0 + want_g.abs()),
                "dgamma[{i}]"
            );
            assert!(
                (dbeta[i] as f64 - want_b).abs() < 1e-3 * (1.0 + want_b.abs()),
                "dbeta[{i}]"
            );
        }
        // Each row's input gradient sums to zero (the mean is subtracted).
        for r in [3, 700] {
            let sum: f32 = dx[r * width..][..width].iter().sum();
            assert!(sum.abs() < 1e-3, "row {r}: {sum}");
        }
    }
}
