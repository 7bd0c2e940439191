//! Hand-written CPU kernels for the hot spots of training (convolution, BatchNorm + ReLU, fully connected layers, attention, LayerNorm, GELU)
//! and their hooks into Burn: each `burn_*` module registers a backend extension for Flex with its own
//! backward pass and falls back to Burn's layers on other devices.

pub mod approx;
pub mod attention;
pub mod batch_norm;
pub mod burn_attention;
pub mod burn_bn;
pub mod burn_conv;
pub mod burn_gelu;
pub mod burn_layer_norm;
pub mod burn_linear;
pub mod conv;
pub mod gelu;
mod lanes;
pub mod layer_norm;
pub mod linear;
mod matmul;

use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::DispatchDevice;
use burn::prelude::*;

static FUSED: AtomicBool = AtomicBool::new(true);

/// Turns the hand-written kernels on or off for the whole process (off: Burn's own layers
/// everywhere, the "plain implementation" that the numerics tests and benchmarks compare with).
pub fn set_fused(enabled: bool) {
    FUSED.store(enabled, Ordering::Relaxed);
}

/// Whether the hand-written kernels are on (the default).
pub fn fused() -> bool {
    FUSED.load(Ordering::Relaxed)
}

/// Whether the hand-written kernels handle tensors on `device`: they are on, and `device`
/// computes on the Flex CPU backend (with or without autodiff).
pub fn fused_on(device: &Device) -> bool {
    fused()
        && matches!(
            device.clone().without_autodiff().as_dispatch(),
            DispatchDevice::Flex(_)
        )
}

/// A buffer of `len` values that the caller overwrites entirely before reading any, allocated
/// without zeroing (zeroing every kernel output cost 4% of a ViT training step).
#[allow(clippy::uninit_vec)]
pub(crate) fn output_buffer(len: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    // SAFETY: f32 has no invalid bit patterns, and every caller writes each element before
    // anything reads it (the same allocation Burn's CPU backend makes for its own outputs).
    unsafe { v.set_len(len) };
    v
}

/// Deterministic test inputs in `[-1, 1)`, different for each `seed` (test helper).
#[cfg(test)]
fn test_values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

/// Asserts two tensors agree element by element within 1e-4 relative (test helper).
#[cfg(test)]
fn assert_close<const D: usize>(a: Tensor<D>, b: Tensor<D>, what: &str) {
    let a = a.into_data().try_to_vec::<f32>().expect("f32");
    let b = b.into_data().try_to_vec::<f32>().expect("f32");
    assert_eq!(a.len(), b.len(), "{what}: length");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() < 1e-4 * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}
