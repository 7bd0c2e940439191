//! The one matrix product the kernels need: dense row-major operands, optionally read
//! transposed, through the `gemm` crate: on the calling thread (callers that parallelise
//! outside it) or cut into blocks of output columns (or rows) across the thread pool (one big
//! product).

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

/// `dst[m, n] (+)= lhs[m, k] * rhs[k, n]`, all row-major and densely packed; `lhs_t` / `rhs_t`
/// read the operand transposed (stored `[k, m]` / `[n, k]`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_t: bool,
    rhs: &[f32],
    rhs_t: bool,
) {
    let p = Product::new(m, n, k, dst, accumulate, lhs, lhs_t, rhs, rhs_t);
    // SAFETY: `Product::new` checked that the whole product lies inside the buffers, and
    // `dst` is borrowed mutably for the call.
    unsafe { p.block(0..m, 0..n) }
}

/// Products smaller than this (m * n * k) run on the calling thread.
const PIECE_WORK: usize = 1 << 21;
/// At most this many blocks per product.
const MAX_PIECES: usize = 8;
/// `gemm`'s widest AVX-512 tile covers this many output columns (4 x 16 lanes); narrower
/// remainders run on slower tiles.
const TILE_COLS: usize = 64;
/// Blocks cut by rows are at least this tall: each packs its own copy of the right operand.
const PIECE_ROWS: usize = 256;

/// How many blocks `len` columns (or rows) of a product of `work` multiply-adds are cut into:
/// a power of two that depends on the shape alone, so the result does not depend on the number
/// of threads.
fn pieces(work: usize, len: usize, least: usize) -> usize {
    let most = (work / PIECE_WORK).min(len / least).clamp(1, MAX_PIECES);
    1 << most.ilog2()
}

/// [`matmul`] for one big product: its output cut into blocks of rows where there are rows
/// enough (each block packs its own copy of `rhs`), else of whole tiles of columns (each reads
/// only its columns of `rhs`); one `gemm` per block across the thread pool: one parallel region
/// per product, where `gemm`'s own threading opens several.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_parallel(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_t: bool,
    rhs: &[f32],
    rhs_t: bool,
) {
    let p = Product::new(m, n, k, dst, accumulate, lhs, lhs_t, rhs, rhs_t);
    in_blocks(&p);
}

/// [`matmul_parallel`] onto `rows` (`[n]`, e.g. a bias) repeated down the output, which each
/// block writes into its own part before its product: whatever `dst` held is overwritten.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_parallel_onto_rows(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    rows: &[f32],
    lhs: &[f32],
    lhs_t: bool,
    rhs: &[f32],
    rhs_t: bool,
) {
    assert_eq!(rows.len(), n, "matmul: the starting row is not [n]");
    let mut p = Product::new(m, n, k, dst, true, lhs, lhs_t, rhs, rhs_t);
    p.start_row = Some(rows.as_ptr());
    in_blocks(&p);
}

/// Computes `p` in blocks across the thread pool (see [`matmul_parallel`]).
fn in_blocks(p: &Product) {
    let (m, n) = (p.m, p.n);
    let work = m * n * p.k;
    let by_cols = pieces(work, n, TILE_COLS);
    let by_rows = pieces(work, m, PIECE_ROWS);
    // SAFETY (all branches): `Product::new` checked the whole product against the buffers,
    // the blocks are disjoint parts of it, and `dst` stays borrowed mutably until they finish.
    if by_rows > 1 && by_rows >= by_cols {
        let height = m.div_ceil(by_rows);
        (0..m.div_ceil(height))
            .into_par_iter()
            .for_each(|i| unsafe {
                p.block(i * height..m.min((i + 1) * height), 0..n);
            });
    } else if by_cols > 1 {
        // Whole tiles per block (at least `by_cols` blocks), so only the last ends narrow.
        let width = TILE_COLS * (n.div_ceil(TILE_COLS) / by_cols).max(1);
        (0..n.div_ceil(width)).into_par_iter().for_each(|i| unsafe {
            p.block(0..m, i * width..n.min((i + 1) * width));
        });
    } else {
        unsafe { p.block(0..m, 0..n) }
    }
}

/// A matrix read through a pointer with row and column strides.
#[derive(Clone, Copy)]
struct Strided {
    ptr: *const f32,
    rows: isize,
    cols: isize,
}

impl Strided {
    /// A dense row-major `[r, c]` matrix, or (`transposed`) the transpose of a dense `[c, r]`
    /// one.
    fn dense(data: &[f32], r: usize, c: usize, transposed: bool) -> Self {
        assert!(
            data.len() >= r * c,
            "matmul: operand shorter than {r} x {c}"
        );
        let (rows, cols) = if transposed { (1, r) } else { (c, 1) };
        Self {
            ptr: data.as_ptr(),
            rows: rows as isize,
            cols: cols as isize,
        }
    }

    fn at(self, row: usize, col: usize) -> *const f32 {
        self.ptr
            .wrapping_offset(row as isize * self.rows + col as isize * self.cols)
    }
}

/// One checked product, computed block by block.
struct Product {
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    accumulate: bool,
    /// A row of `n` values each block copies down its part of `dst` first.
    start_row: Option<*const f32>,
    lhs: Strided,
    rhs: Strided,
}

// SAFETY: the pointers are only read, except `dst`, and blocks write disjoint parts of it.
unsafe impl Sync for Product {}

impl Product {
    #[allow(clippy::too_many_arguments)]
    fn new(
        m: usize,
        n: usize,
        k: usize,
        dst: &mut [f32],
        accumulate: bool,
        lhs: &[f32],
        lhs_t: bool,
        rhs: &[f32],
        rhs_t: bool,
    ) -> Self {
        assert!(dst.len() >= m * n, "matmul: output shorter than {m} x {n}");
        Self {
            m,
            n,
            k,
            dst: dst.as_mut_ptr(),
            accumulate,
            start_row: None,
            lhs: Strided::dense(lhs, m, k, lhs_t),
            rhs: Strided::dense(rhs, k, n, rhs_t),
        }
    }

    /// `dst[rows, cols] (+)= lhs[rows, :] * rhs[:, cols]`.
    ///
    /// # Safety
    /// The ranges lie inside the product's shape, no other thread writes the same block, and
    /// the buffers given to [`Product::new`] are still borrowed.
    unsafe fn block(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) {
        debug_assert!(rows.end <= self.m && cols.end <= self.n);
        let (m, n, k) = (rows.len(), cols.len(), self.k);
        if m == 0 || n == 0 {
            return;
        }
        let dst = self.dst.wrapping_add(rows.start * self.n + cols.start);
        if let Some(start) = self.start_row {
            // SAFETY: `start` holds n values (checked), the rows are the block's own.
            let start = unsafe { std::slice::from_raw_parts(start.add(cols.start), n) };
            for r in 0..m {
                unsafe { std::slice::from_raw_parts_mut(dst.add(r * self.n), n) }
                    .copy_from_slice(start);
            }
        }
        if k == 0 {
            if !self.accumulate {
                for r in 0..m {
                    // SAFETY: row r of the block, inside dst by the caller's contract.
                    unsafe { std::slice::from_raw_parts_mut(dst.add(r * self.n), n).fill(0.0) };
                }
            }
            return;
        }
        let (lhs, rhs) = (self.lhs.at(rows.start, 0), self.rhs.at(0, cols.start));
        // SAFETY: every index gemm reaches is inside the block of the checked product.
        unsafe {
            gemm(
                m,
                n,
                k,
                dst,
                1,
                self.n as isize,
                self.accumulate,
                lhs,
                self.lhs.cols,
                self.lhs.rows,
                rhs,
                self.rhs.cols,
                self.rhs.rows,
                if self.accumulate { 1.0 } else { 0.0 },
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lhs * rhs` (+ `dst`) by the definition, in f64.
    #[allow(clippy::too_many_arguments)]
    fn by_definition(
        (m, n, k): (usize, usize, usize),
        dst: &[f32],
        accumulate: bool,
        lhs: &[f32],
        lhs_t: bool,
        rhs: &[f32],
        rhs_t: bool,
    ) -> Vec<f32> {
        let a = |i: usize, p: usize| lhs[if lhs_t { p * m + i } else { i * k + p }] as f64;
        let b = |p: usize, j: usize| rhs[if rhs_t { j * k + p } else { p * n + j }] as f64;
        (0..m * n)
            .map(|e| {
                let (i, j) = (e / n, e % n);
                let start = if accumulate { dst[e] as f64 } else { 0.0 };
                (start + (0..k).map(|p| a(i, p) * b(p, j)).sum::<f64>()) as f32
            })
            .collect()
    }

    #[test]
    fn blocked_products_match_the_definition() {
        // Cut by columns (n = 200: blocks of 128 and 72; too few rows for row blocks), by
        // rows (n = 40; n = 200 with rows enough), and whole.
        for (m, n, k) in [(300, 200, 70), (700, 40, 200), (600, 200, 70), (5, 7, 3)] {
            for (lhs_t, rhs_t, accumulate) in [
                (false, false, false),
                (true, false, true),
                (false, true, true),
                (true, true, false),
            ] {
                let lhs = crate::test_values(m * k, 1);
                let rhs = crate::test_values(k * n, 2);
                let start = crate::test_values(m * n, 3);
                let want = by_definition((m, n, k), &start, accumulate, &lhs, lhs_t, &rhs, rhs_t);
                for parallel in [false, true] {
                    let mut dst = start.clone();
                    let f = if parallel { matmul_parallel } else { matmul };
                    f(m, n, k, &mut dst, accumulate, &lhs, lhs_t, &rhs, rhs_t);
                    for (e, (got, want)) in dst.iter().zip(&want).enumerate() {
                        assert!(
                            (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                            "{m}x{n}x{k} lhs_t {lhs_t} rhs_t {rhs_t} acc {accumulate} \
                             parallel {parallel} [{e}]: {got} vs {want}"
                        );
                    }
                }
            }
        }
        // Onto a repeated row, cut by columns and by rows.
        for (m, n, k) in [(300, 200, 70), (600, 200, 70)] {
            let (lhs, rhs) = (crate::test_values(m * k, 4), crate::test_values(k * n, 5));
            let row = crate::test_values(n, 6);
            let start: Vec<f32> = (0..m).flat_map(|_| row.iter().copied()).collect();
            let want = by_definition((m, n, k), &start, true, &lhs, false, &rhs, false);
            let mut dst = vec![f32::NAN; m * n];
            matmul_parallel_onto_rows(m, n, k, &mut dst, &row, &lhs, false, &rhs, false);
            for (e, (got, want)) in dst.iter().zip(&want).enumerate() {
                assert!(
                    (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "onto rows {m}x{n}x{k} [{e}]: {got} vs {want}"
                );
            }
        }
        assert!(pieces(300 * 200 * 70, 200, TILE_COLS) > 1);
        assert_eq!(pieces(700 * 40 * 200, 40, TILE_COLS), 1);
        assert!(pieces(700 * 40 * 200, 700, PIECE_ROWS) > 1);
    }
}
