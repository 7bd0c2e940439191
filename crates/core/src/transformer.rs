//! The pre-norm Transformer block every modality's sequence model stacks (text's encoder,
//! wav2vec 2.0's context network): multi-head self-attention and a GELU MLP, each on a residual
//! branch behind a LayerNorm, with GPT-2's initialisation.

use crate::export::onnx::OnnxGraph;
use autodidact_kernels::burn_attention::self_attention;
use autodidact_kernels::burn_gelu::gelu;
use autodidact_kernels::burn_layer_norm::layer_norm;
use autodidact_kernels::burn_linear::linear as apply_linear;
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

/// Standard deviation of the initial weights (GPT-2's).
pub const INIT_STD: f64 = 0.02;

/// Every LayerNorm's epsilon (Burn's default, written out: the fused kernel is told it).
pub const NORM_EPSILON: f64 = 1e-5;

/// A LayerNorm of width `d` with [`NORM_EPSILON`].
pub fn norm(d: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(d)
        .with_epsilon(NORM_EPSILON)
        .init(device)
}

/// `norm.forward(x)` of a norm made by [`norm`], through the fused kernel on the CPU.
pub fn apply_norm<const D: usize>(norm: &LayerNorm, x: Tensor<D>) -> Tensor<D> {
    layer_norm(norm, NORM_EPSILON, x)
}

/// Dropout whose masks come from the device's generator, which the training loop seeds from the
/// run's seed and the step (Burn's `Dropout` does the same draw; this one is only active when
/// asked, so evaluation code cannot forget to turn it off).
pub fn dropout(x: Tensor<3>, p: f64, active: bool) -> Tensor<3> {
    if !active || p <= 0.0 {
        return x;
    }
    let keep = Tensor::<3>::random(x.dims(), Distribution::Bernoulli(1.0 - p), &x.device());
    x * keep / (1.0 - p)
}

/// Weights (and here biases) from N(0, `std`).
pub fn normal(std: f64) -> Initializer {
    Initializer::Normal { mean: 0.0, std }
}

fn linear(d_in: usize, d_out: usize, std: f64, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out)
        .with_initializer(normal(std))
        .init(device)
}

/// One pre-norm block of width `d` with `n_heads` heads and a `4 d` MLP.
#[derive(Module, Debug)]
pub struct TransformerBlock {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    n_heads: usize,
}

impl TransformerBlock {
    /// GPT-2's initialisation for a stack of `n_layers`: the projections that end a residual
    /// branch are scaled down by `sqrt(2 * n_layers)` so the residual stream's variance does not
    /// grow with depth.
    pub fn new(d: usize, n_heads: usize, n_layers: usize, device: &Device) -> Self {
        let residual = INIT_STD / (2.0 * n_layers as f64).sqrt();
        Self {
            norm1: norm(d, device),
            qkv: linear(d, 3 * d, INIT_STD, device),
            proj: linear(d, d, residual, device),
            norm2: norm(d, device),
            fc1: linear(d, 4 * d, INIT_STD, device),
            fc2: linear(4 * d, d, residual, device),
            n_heads,
        }
    }

    /// `x`: `[B, T, D]`. `bias`: `[B or 1, 1, T or 1, T]`, added to the attention scores (-1e9
    /// where attention is not allowed). `p`: dropout on both branches when `train`.
    pub fn forward(&self, x: Tensor<3>, bias: &Tensor<4>, p: f64, train: bool) -> Tensor<3> {
        let qkv = apply_linear(&self.qkv, apply_norm(&self.norm1, x.clone()));
        let context = self_attention(qkv, bias, self.n_heads);
        let x = x + dropout(apply_linear(&self.proj, context), p, train);
        let hidden = gelu(apply_linear(&self.fc1, apply_norm(&self.norm2, x.clone())));
        let mlp = apply_linear(&self.fc2, hidden);
        x + dropout(mlp, p, train)
    }
}

impl TransformerBlock {
    /// Attention heads.
    pub fn heads(&self) -> usize {
        self.n_heads
    }

    /// [`TransformerBlock::forward`] in evaluation as ONNX nodes on `x` (`[B, T, D]`), `bias`
    /// as there.
    pub fn onnx(&self, g: &mut OnnxGraph, name: &str, x: &str, bias: Option<&str>) -> String {
        let d = self.proj.weight.dims()[0];
        let normed = g.layer_norm(&format!("{name}.norm1"), &self.norm1, NORM_EPSILON, x);
        let qkv = g.linear(&format!("{name}.qkv"), &self.qkv, &normed);
        let q = g.columns(&qkv, 0, d);
        let k = g.columns(&qkv, d, 2 * d);
        let v = g.columns(&qkv, 2 * d, 3 * d);
        let context = g.multi_head(&q, &k, &v, self.n_heads, d / self.n_heads, bias);
        let attended = g.linear(&format!("{name}.proj"), &self.proj, &context);
        let x = g.node("Add", &[x, &attended], &[]);
        let normed = g.layer_norm(&format!("{name}.norm2"), &self.norm2, NORM_EPSILON, &x);
        let hidden = g.linear(&format!("{name}.fc1"), &self.fc1, &normed);
        let hidden = g.gelu(&hidden);
        let mlp = g.linear(&format!("{name}.fc2"), &self.fc2, &hidden);
        g.node("Add", &[&x, &mlp], &[])
    }
}

/// The attention bias `[B, 1, 1, T]` that keeps padding (`valid` 0, `[B, T]`) out of attention.
pub fn padding_bias(valid: Tensor<2>) -> Tensor<4> {
    let [b, t] = valid.dims();
    (valid.reshape([b, 1, 1, t]) - 1.0) * 1e9
}
