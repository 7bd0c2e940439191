//! The exact GELU, `0.5 x (1 + erf(x / sqrt 2))`, and its derivative over slices. Burn's CPU
//! backend calls libm's scalar `erff` per element on one thread; here erf and exp come from
//! [`super::approx`], which the compiler vectorises (8 lanes where the CPU has AVX2: the same
//! arithmetic and so the same bits either way), and long slices are split across the thread pool.

use rayon::prelude::*;

use super::approx::{erf, exp_nonpositive};

/// Elements per parallel task: big enough that waking a thread pays off.
const CHUNK: usize = 1 << 15;

const INV_SQRT_2PI: f32 = 0.398_942_3;

#[inline(always)]
fn gelu_one(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
fn gelu_grad_one(x: f32, g: f32) -> f32 {
    let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    let pdf = INV_SQRT_2PI * exp_nonpositive(-0.5 * x * x);
    g * (cdf + x * pdf)
}

#[inline(always)]
fn forward_plain(x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = gelu_one(x);
    }
}

#[inline(always)]
fn backward_plain(x: &[f32], g: &[f32], dx: &mut [f32]) {
    for ((d, &x), &g) in dx.iter_mut().zip(x).zip(g) {
        *d = gelu_grad_one(x, g);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn forward_avx2(x: &[f32], y: &mut [f32]) {
    forward_plain(x, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn backward_avx2(x: &[f32], g: &[f32], dx: &mut [f32]) {
    backward_plain(x, g, dx)
}

fn forward_chunk(x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { forward_avx2(x, y) };
    }
    forward_plain(x, y)
}

fn backward_chunk(x: &[f32], g: &[f32], dx: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { backward_avx2(x, g, dx) };
    }
    backward_plain(x, g, dx)
}

/// GELU of every element of `x`.
pub fn gelu_forward(x: &[f32]) -> Vec<f32> {
    let mut y = crate::output_buffer(x.len());
    if x.len() <= CHUNK {
        forward_chunk(x, &mut y);
    } else {
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(y, x)| forward_chunk(x, y));
    }
    y
}

/// The gradient with respect to `x` of GELU at `x`, given the output's gradient `g`.
pub fn gelu_backward(x: &[f32], g: &[f32]) -> Vec<f32> {
    assert_eq!(
        x.len(),
        g.len(),
        "gelu_backward: input and gradient lengths"
    );
    let mut dx = crate::output_buffer(x.len());
    if x.len() <= CHUNK {
        backward_chunk(x, g, &mut dx);
    } else {
        dx.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
            .for_each(|(dx, (x, g))| backward_chunk(x, g, dx));
    }
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approx::tests::erf_reference;

    #[test]
    fn gelu_and_its_derivative_match_the_formula_in_f64() {
        let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 / 400.0).collect();
        let g: Vec<f32> = xs.iter().map(|x| 1.0 + 0.1 * x).collect();
        // Long enough to run in parallel chunks too.
        let big: Vec<f32> = xs.iter().cycle().take(5 * CHUNK + 3).copied().collect();
        let big_g: Vec<f32> = g.iter().cycle().take(big.len()).copied().collect();
        let y = gelu_forward(&big);
        let dx = gelu_backward(&big, &big_g);
        for (((&x, &g), &y), &dx) in big.iter().zip(&big_g).zip(&y).zip(&dx) {
            let x = x as f64;
            let cdf = 0.5 * (1.0 + erf_reference(x / 2f64.sqrt()));
            let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let want_y = x * cdf;
            let want_dx = g as f64 * (cdf + x * pdf);
            assert!(
                (y as f64 - want_y).abs() < 2e-6 * (1.0 + x.abs()),
                "gelu({x})"
            );
            assert!(
                (dx as f64 - want_dx).abs() < 2e-6 * (1.0 + x.abs()),
                "gelu'({x}): {dx} vs {want_dx}"
            );
        }
    }

    #[test]
    fn the_parallel_split_gives_the_same_bits_as_one_pass() {
        let x: Vec<f32> = (0..3 * CHUNK + 17)
            .map(|i| ((i * 7919) % 2001) as f32 / 200.0 - 5.0)
            .collect();
        let g: Vec<f32> = x.iter().map(|v| v.sin()).collect();
        let mut one = vec![0.0; x.len()];
        forward_plain(&x, &mut one);
        assert_eq!(gelu_forward(&x), one);
        let mut one = vec![0.0; x.len()];
        backward_plain(&x, &g, &mut one);
        assert_eq!(gelu_backward(&x, &g), one);
    }
}
