//! 2-D convolution (square kernel, symmetric padding, no groups, no bias) as im2col + one GEMM per
//! chunk of samples, forward and backward, on plain `f32` slices in NCHW layout.
//!
//! Why not Flex's own convolution: it runs one GEMM per sample and 512-pixel tile, which on the
//! small feature maps of CIFAR-sized networks (8x8, 4x4) has a tiny `N`; and its weight gradient
//! is a convolution with the batch as channels (a GEMM of width 9). Here a chunk stacks enough
//! samples side by side that every GEMM has about [`CHUNK_COLUMNS`] columns, the weight gradient
//! is one `[O, n] x [n, K]` product per chunk, and chunks run in parallel.

use rayon::prelude::*;

use super::matmul::matmul;

/// Target width (output pixels) of one chunk's GEMM.
const CHUNK_COLUMNS: usize = 1024;

/// Geometry of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvShape {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.padding - self.kernel) / self.stride + 1
    }

    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output pixels per sample and channel.
    fn pixels(&self) -> usize {
        self.out_h() * self.out_w()
    }

    /// Rows of the im2col matrix: `c_in * kernel * kernel`.
    fn k(&self) -> usize {
        self.c_in * self.kernel * self.kernel
    }

    fn in_len(&self) -> usize {
        self.c_in * self.h * self.w
    }

    fn out_len(&self) -> usize {
        self.c_out * self.pixels()
    }

    /// Samples per chunk.
    fn chunk(&self) -> usize {
        (CHUNK_COLUMNS / self.pixels().max(1)).clamp(1, self.batch.max(1))
    }

    /// The range of output positions `o` whose input position `o * stride + tap - padding` lies
    /// in `0..len`.
    fn valid(&self, tap: usize, out_len: usize, len: usize) -> (usize, usize) {
        let s = self.stride;
        let lo = self.padding.saturating_sub(tap).div_ceil(s);
        // o * s + tap - p <= len - 1  <=>  o <= (len - 1 + p - tap) / s
        let hi = if len + self.padding > tap {
            ((len - 1 + self.padding - tap) / s + 1).min(out_len)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

/// Writes sample `x` (`[c_in, h, w]`) into columns `offset..offset + pixels` of the im2col matrix
/// `col` (`[k, stride_cols]`, row `(c * kernel + ky) * kernel + kx`).
fn im2col(s: &ConvShape, x: &[f32], col: &mut [f32], stride_cols: usize, offset: usize) {
    let (oh, ow) = (s.out_h(), s.out_w());
    for c in 0..s.c_in {
        let plane = &x[c * s.h * s.w..(c + 1) * s.h * s.w];
        for ky in 0..s.kernel {
            let (y_lo, y_hi) = s.valid(ky, oh, s.h);
            for kx in 0..s.kernel {
                let row = (c * s.kernel + ky) * s.kernel + kx;
                let dst = &mut col[row * stride_cols + offset..][..oh * ow];
                let (x_lo, x_hi) = s.valid(kx, ow, s.w);
                dst[..y_lo * ow].fill(0.0);
                dst[y_hi * ow..].fill(0.0);
                for oy in y_lo..y_hi {
                    let src = &plane[(oy * s.stride + ky - s.padding) * s.w..][..s.w];
                    let d = &mut dst[oy * ow..(oy + 1) * ow];
                    d[..x_lo].fill(0.0);
                    d[x_hi..].fill(0.0);
                    if s.stride == 1 {
                        let start = x_lo + kx - s.padding;
                        d[x_lo..x_hi].copy_from_slice(&src[start..start + (x_hi - x_lo)]);
                    } else {
                        for (ox, v) in d[x_lo..x_hi].iter_mut().enumerate() {
                            *v = src[(ox + x_lo) * s.stride + kx - s.padding];
                        }
                    }
                }
            }
        }
    }
}

/// Adds columns `offset..offset + pixels` of `col` back into sample gradient `dx` (`[c_in, h, w]`):
/// the adjoint of [`im2col`].
fn col2im(s: &ConvShape, col: &[f32], stride_cols: usize, offset: usize, dx: &mut [f32]) {
    let (oh, ow) = (s.out_h(), s.out_w());
    for c in 0..s.c_in {
        let plane = &mut dx[c * s.h * s.w..(c + 1) * s.h * s.w];
        for ky in 0..s.kernel {
            let (y_lo, y_hi) = s.valid(ky, oh, s.h);
            for kx in 0..s.kernel {
                let row = (c * s.kernel + ky) * s.kernel + kx;
                let src = &col[row * stride_cols + offset..][..oh * ow];
                let (x_lo, x_hi) = s.valid(kx, ow, s.w);
                for oy in y_lo..y_hi {
                    let d = &mut plane[(oy * s.stride + ky - s.padding) * s.w..][..s.w];
                    let g = &src[oy * ow..(oy + 1) * ow];
                    for ox in x_lo..x_hi {
                        d[ox * s.stride + kx - s.padding] += g[ox];
                    }
                }
            }
        }
    }
}

/// The im2col matrices of a forward pass, one per chunk of samples, kept for the backward pass.
pub type Columns = Vec<Vec<f32>>;

/// Largest im2col footprint (bytes, whole batch) that a training forward keeps for its backward
/// pass instead of rebuilding it there; ResNet-18's full-resolution layers exceed it and recompute.
pub const KEEP_COLUMNS_MAX_BYTES: usize = 128 << 20;

impl ConvShape {
    /// Bytes of the im2col matrices of the whole batch.
    pub fn columns_bytes(&self) -> usize {
        self.k() * self.batch * self.pixels() * std::mem::size_of::<f32>()
    }
}

/// `y = conv(x, weight)`: `x` is `[batch, c_in, h, w]`, `weight` `[c_out, c_in, kernel, kernel]`,
/// the result `[batch, c_out, out_h, out_w]`.
pub fn conv2d_forward(s: &ConvShape, x: &[f32], weight: &[f32]) -> Vec<f32> {
    conv2d_forward_keep(s, x, weight, false).0
}

/// [`conv2d_forward`] that also returns its im2col matrices when `keep` (for
/// [`conv2d_backward`]).
pub fn conv2d_forward_keep(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    keep: bool,
) -> (Vec<f32>, Option<Columns>) {
    assert_eq!(x.len(), s.batch * s.in_len(), "input length");
    assert_eq!(weight.len(), s.c_out * s.k(), "weight length");
    let (p, k, g) = (s.pixels(), s.k(), s.chunk());
    let mut y = crate::output_buffer(s.batch * s.out_len());
    let columns: Vec<Vec<f32>> = y
        .par_chunks_mut(g * s.out_len())
        .zip(x.par_chunks(g * s.in_len()))
        .map(|(y, x)| {
            let samples = x.len() / s.in_len();
            let cols = samples * p;
            let mut col = crate::output_buffer(k * cols);
            for (j, xs) in x.chunks(s.in_len()).enumerate() {
                im2col(s, xs, &mut col, cols, j * p);
            }
            if samples == 1 {
                matmul(s.c_out, cols, k, y, false, weight, false, &col, false);
            } else {
                let mut out = crate::output_buffer(s.c_out * cols);
                matmul(
                    s.c_out, cols, k, &mut out, false, weight, false, &col, false,
                );
                // [c_out, samples * p] -> [samples, c_out, p]
                for (j, ys) in y.chunks_mut(s.out_len()).enumerate() {
                    for (o, row) in ys.chunks_mut(p).enumerate() {
                        row.copy_from_slice(&out[o * cols + j * p..][..p]);
                    }
                }
            }
            if keep { col } else { Vec::new() }
        })
        .collect();
    (y, keep.then_some(columns))
}

/// Independent accumulators of the weight gradient. A fixed number, each summing a fixed range of
/// chunks, then added in order: the result does not depend on thread scheduling, which keeps runs
/// reproducible bit for bit.
const WEIGHT_GRAD_LANES: usize = 8;

/// Gradients of [`conv2d_forward`] given the output gradient `dy`: `(dx, dweight)`; `dx` is
/// skipped (`None`) when `want_dx` is false (e.g. for the input images).
///
/// `columns` are the forward pass's im2col matrices ([`conv2d_forward_keep`]); without them they
/// are rebuilt from `x`, which may then be empty when `columns` are given.
pub fn conv2d_backward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    want_dx: bool,
    columns: Option<Columns>,
) -> (Option<Vec<f32>>, Vec<f32>) {
    if columns.is_none() {
        assert_eq!(x.len(), s.batch * s.in_len(), "input length");
    }
    assert_eq!(weight.len(), s.c_out * s.k(), "weight length");
    assert_eq!(dy.len(), s.batch * s.out_len(), "output-gradient length");
    let g = s.chunk();
    let chunks = s.batch.div_ceil(g);
    let per_lane = chunks.div_ceil(WEIGHT_GRAD_LANES.min(chunks).max(1)).max(1);
    let lane_samples = per_lane * g;
    let mut dx = if want_dx {
        vec![0.0; s.batch * s.in_len()]
    } else {
        Vec::new()
    };
    let lanes = s.batch.div_ceil(lane_samples);
    let mut dx_lanes: Vec<&mut [f32]> = if want_dx {
        dx.chunks_mut(lane_samples * s.in_len()).collect()
    } else {
        Vec::new()
    };
    dx_lanes.resize_with(lanes, Default::default);
    // Each lane takes the kept columns of its own chunks.
    let mut lane_columns: Vec<Vec<Vec<f32>>> = Vec::new();
    if let Some(mut columns) = columns {
        assert_eq!(columns.len(), chunks, "one im2col matrix per chunk");
        while !columns.is_empty() {
            let rest = columns.split_off(per_lane.min(columns.len()));
            lane_columns.push(std::mem::replace(&mut columns, rest));
        }
    }
    lane_columns.resize_with(lanes, Vec::new);
    let partials: Vec<Vec<f32>> = dx_lanes
        .into_par_iter()
        .zip(lane_columns)
        .enumerate()
        .map(|(lane, (dx, kept))| {
            let mut kept = kept.into_iter();
            let mut dw_t = vec![0.0f32; s.k() * s.c_out];
            let first = lane * lane_samples;
            let last = (first + lane_samples).min(s.batch);
            for start in (first..last).step_by(g) {
                let samples = g.min(last - start);
                let dx = if want_dx {
                    let offset = (start - first) * s.in_len();
                    Some(&mut dx[offset..offset + samples * s.in_len()])
                } else {
                    None
                };
                backward_chunk(s, x, weight, dy, start, samples, kept.next(), &mut dw_t, dx);
            }
            dw_t
        })
        .collect();
    let mut dw_t = vec![0.0f32; s.k() * s.c_out];
    for partial in partials {
        dw_t.iter_mut().zip(&partial).for_each(|(a, b)| *a += b);
    }
    let mut dw = vec![0.0f32; s.c_out * s.k()];
    for (i, row) in dw_t.chunks_exact(s.c_out).enumerate() {
        for (o, &v) in row.iter().enumerate() {
            dw[o * s.k() + i] = v;
        }
    }
    (want_dx.then_some(dx), dw)
}

/// Adds the weight gradient of samples `first..first + samples` to `dw_t` (transposed,
/// `[k, c_out]`) and, when asked, writes
/// their input gradient into `dx` (zeroed, `samples x c_in x h x w`). `kept` is the chunk's
/// im2col matrix from the forward pass, if it was kept.
#[allow(clippy::too_many_arguments)]
fn backward_chunk(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    first: usize,
    samples: usize,
    kept: Option<Vec<f32>>,
    dw_t: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let (p, k) = (s.pixels(), s.k());
    let cols = samples * p;
    let dys = &dy[first * s.out_len()..(first + samples) * s.out_len()];
    let mut col = match kept {
        Some(col) => col,
        None => {
            let xs = &x[first * s.in_len()..(first + samples) * s.in_len()];
            let mut col = crate::output_buffer(k * cols);
            for (j, xj) in xs.chunks(s.in_len()).enumerate() {
                im2col(s, xj, &mut col, cols, j * p);
            }
            col
        }
    };
    assert_eq!(
        col.len(),
        k * cols,
        "kept im2col matrix has the chunk's size"
    );
    // dy of the chunk as [c_out, samples * p]
    let gathered;
    let dyc: &[f32] = if samples == 1 {
        dys
    } else {
        let mut buf = crate::output_buffer(s.c_out * cols);
        for (j, dj) in dys.chunks(s.out_len()).enumerate() {
            for (o, row) in dj.chunks(p).enumerate() {
                buf[o * cols + j * p..][..p].copy_from_slice(row);
            }
        }
        gathered = buf;
        &gathered
    };
    // dW^T[k, c_out] += col[k, cols] * dy[c_out, cols]^T. Transposed, because `gemm` works on
    // column-major outputs: it then reads the big `col` as the right operand, which it does
    // not pack, where for dW itself it packed `col` with strided scalar loads (a fifth of the
    // small CNN's training step).
    matmul(k, s.c_out, cols, dw_t, true, &col, false, dyc, true);
    if let Some(dx) = dx {
        // dcol[k, cols] = W^T[k, c_out] * dy[c_out, cols], reusing `col`.
        matmul(k, cols, s.c_out, &mut col, false, weight, true, dyc, false);
        for (j, dxj) in dx.chunks_mut(s.in_len()).enumerate() {
            col2im(s, &col, cols, j * p, dxj);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_values as values;

    /// The definition, loop by loop.
    fn naive_forward(s: &ConvShape, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (oh, ow) = (s.out_h(), s.out_w());
        let mut y = vec![0.0; s.batch * s.c_out * oh * ow];
        for b in 0..s.batch {
            for o in 0..s.c_out {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0.0;
                        for c in 0..s.c_in {
                            for ky in 0..s.kernel {
                                for kx in 0..s.kernel {
                                    let iy = (oy * s.stride + ky) as isize - s.padding as isize;
                                    let ix = (ox * s.stride + kx) as isize - s.padding as isize;
                                    if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize
                                    {
                                        continue;
                                    }
                                    let xi =
                                        ((b * s.c_in + c) * s.h + iy as usize) * s.w + ix as usize;
                                    let wi = ((o * s.c_in + c) * s.kernel + ky) * s.kernel + kx;
                                    acc += x[xi] * w[wi];
                                }
                            }
                        }
                        y[((b * s.c_out + o) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        y
    }

    fn shapes() -> Vec<ConvShape> {
        let base = ConvShape {
            batch: 3,
            c_in: 2,
            h: 7,
            w: 6,
            c_out: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        vec![
            base,
            ConvShape { stride: 2, ..base },
            ConvShape {
                kernel: 1,
                padding: 0,
                stride: 2,
                ..base
            },
            ConvShape {
                h: 4,
                w: 4,
                batch: 70,
                ..base
            },
            ConvShape {
                c_in: 3,
                h: 8,
                w: 8,
                stride: 2,
                batch: 5,
                ..base
            },
        ]
    }

    fn assert_close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: length");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    #[test]
    fn forward_matches_the_definition() {
        for s in shapes() {
            let x = values(s.batch * s.in_len(), 1);
            let w = values(s.c_out * s.k(), 2);
            assert_close(
                &conv2d_forward(&s, &x, &w),
                &naive_forward(&s, &x, &w),
                &format!("{s:?}"),
            );
        }
    }

    #[test]
    fn backward_is_the_adjoint_of_forward() {
        // For L = sum(dy * conv(x, w)): dL/dx and dL/dw by finite differences are exact for a
        // linear map, so compare each against <dy, conv(e_i)> computed with the naive forward.
        for s in shapes() {
            let x = values(s.batch * s.in_len(), 3);
            let w = values(s.c_out * s.k(), 4);
            let dy = values(s.batch * s.out_len(), 5);
            let (dx, dw) = conv2d_backward(&s, &x, &w, &dy, true, None);
            let dx = dx.expect("asked for dx");
            let dot = |y: &[f32]| y.iter().zip(&dy).map(|(a, b)| a * b).sum::<f32>();
            for i in (0..x.len()).step_by(7) {
                let mut e = vec![0.0; x.len()];
                e[i] = 1.0;
                let expected = dot(&naive_forward(&s, &e, &w));
                assert!(
                    (dx[i] - expected).abs() < 1e-3,
                    "{s:?} dx[{i}] {} vs {expected}",
                    dx[i]
                );
            }
            for i in 0..w.len() {
                let mut e = vec![0.0; w.len()];
                e[i] = 1.0;
                let expected = dot(&naive_forward(&s, &x, &e));
                assert!(
                    (dw[i] - expected).abs() < 1e-3 * (1.0 + expected.abs()),
                    "{s:?} dw[{i}] {} vs {expected}",
                    dw[i]
                );
            }
            let (none, dw2) = conv2d_backward(&s, &x, &w, &dy, false, None);
            assert!(none.is_none());
            assert_close(&dw2, &dw, "dw without dx");
            let (y, kept) = conv2d_forward_keep(&s, &x, &w, true);
            assert_close(&y, &naive_forward(&s, &x, &w), "forward that keeps columns");
            let (dx3, dw3) = conv2d_backward(&s, &[], &w, &dy, true, kept);
            assert_close(&dx3.expect("asked for dx"), &dx, "dx from kept columns");
            assert_close(&dw3, &dw, "dw from kept columns");
        }
    }
}
