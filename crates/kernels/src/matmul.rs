//! The one matrix product the kernels need: dense row-major operands, optionally read
//! transposed, through the `gemm` crate: on the calling thread (callers that parallelise
//! outside it) or split across the thread pool (one big product).

use gemm::{Parallelism, gemm};

/// `dst[m, n] (+)= lhs[m, k] * rhs[k, n]`, all row-major with the given row strides; `lhs_t`
/// / `rhs_t` read the operand transposed (stored `[k, m]` / `[n, k]`).
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
    product(
        m,
        n,
        k,
        dst,
        accumulate,
        lhs,
        lhs_t,
        rhs,
        rhs_t,
        Parallelism::None,
    )
}

#[allow(clippy::too_many_arguments)]
fn product(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_t: bool,
    rhs: &[f32],
    rhs_t: bool,
    parallelism: Parallelism,
) {
    assert!(dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    let (lhs_cs, lhs_rs) = if lhs_t {
        (m as isize, 1)
    } else {
        (1, k as isize)
    };
    let (rhs_cs, rhs_rs) = if rhs_t {
        (k as isize, 1)
    } else {
        (1, n as isize)
    };
    // SAFETY: the assert above bounds every index the strides reach: dst is m x n row-major,
    // lhs m x k (or its transpose) and rhs k x n (or its transpose), each densely packed.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Products at least this big (m * n * k) are split across the thread pool by `gemm` itself.
const PARALLEL_WORK: usize = 1 << 21;

/// [`matmul`] for one big product: `gemm` splits the output across the thread pool (the same
/// tiles whatever the number of threads, so the result is too).
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
    let parallelism = if m * n * k >= PARALLEL_WORK {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    product(
        m,
        n,
        k,
        dst,
        accumulate,
        lhs,
        lhs_t,
        rhs,
        rhs_t,
        parallelism,
    )
}
