//! [`self_attention`]: multi-head self-attention of a fused `[B, T, 3D]` projection, through
//! [`super::attention`] on the Flex CPU backend (with its own backward pass) and Burn's tensor
//! operations on every other device.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::attention::{AttentionShape, Bias, attention_backward, attention_forward};
use super::fused_on;

/// The attention as a backend operation; the bias is a constant (no gradient).
#[backend_extension(Flex, Autodiff)]
pub trait FusedAttention: burn::backend::Backend {
    fn fused_self_attention(
        qkv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self>;
}

fn shape_of(qkv: &FlexTensor, heads: usize) -> AttentionShape {
    let s = qkv.layout().shape();
    AttentionShape {
        batch: s[0],
        len: s[1],
        dim: s[2] / 3,
        heads,
    }
}

/// `(context, probabilities)`.
fn forward(qkv: &FlexTensor, bias: &FlexTensor, heads: usize) -> (FlexTensor, FlexTensor) {
    let s = shape_of(qkv, heads);
    let (x, b) = (qkv.to_contiguous(), bias.to_contiguous());
    let bias_shape = bias.layout().shape();
    let bias = Bias {
        values: b.storage::<f32>(),
        batch: bias_shape[0],
        rows: bias_shape[2],
    };
    let (context, probs) = attention_forward(x.storage::<f32>(), Some(bias), s);
    (
        FlexTensor::from_data(TensorData::new(context, [s.batch, s.len, s.dim])),
        FlexTensor::from_data(TensorData::new(probs, [s.batch, heads, s.len, s.len])),
    )
}

impl FusedAttention for Flex {
    fn fused_self_attention(qkv: FlexTensor, bias: FlexTensor, heads: usize) -> FlexTensor {
        forward(&qkv, &bias, heads).0
    }
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 1> for AttentionBackward {
    /// The input, the probabilities and the number of heads.
    type State = (FlexTensor, FlexTensor, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_qkv] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (qkv, probs, heads) = ops.state;
        if let Some(node) = node_qkv {
            let s = shape_of(&qkv, heads);
            let x = qkv.to_contiguous();
            let dx = attention_backward(
                x.storage::<f32>(),
                probs.storage::<f32>(),
                dy.storage::<f32>(),
                s,
            );
            let shape = [s.batch, s.len, 3 * s.dim];
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
    }
}

impl<C: CheckpointStrategy> FusedAttention for Autodiff<Flex, C> {
    fn fused_self_attention(
        qkv: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        let bias = bias.primitive().clone();
        match AttentionBackward
            .prepare::<C>([qkv.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let input = qkv.primitive().clone();
                let (context, probs) = forward(&input, &bias, heads);
                prep.finish((input, probs, heads), context)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(qkv.primitive(), &bias, heads).0),
        }
    }
}

/// Whether the kernel reads `bias` for `qkv`: `[B or 1, 1, T or 1, T]`.
fn kernel_takes(qkv: &Tensor<3>, bias: &Tensor<4>, heads: usize) -> bool {
    let [b, t, d3] = qkv.dims();
    let [bb, one, rows, keys] = bias.dims();
    d3 % 3 == 0
        && heads > 0
        && (d3 / 3) % heads == 0
        && (bb == 1 || bb == b)
        && one == 1
        && (rows == 1 || rows == t)
        && keys == t
}

/// Multi-head self-attention of `qkv` (`[B, T, 3D]`: queries, keys and values side by side, each
/// `heads` heads wide), `softmax(Q K^T / sqrt(D / heads) + bias) V` with the heads side by side
/// again: `[B, T, D]`. `bias` (a constant, broadcast as `[B or 1, 1, T or 1, T]`) is added to the
/// scores, -1e9 where attention is not allowed.
pub fn self_attention(qkv: Tensor<3>, bias: &Tensor<4>, heads: usize) -> Tensor<3> {
    if fused_on(&qkv.device()) && kernel_takes(&qkv, bias, heads) {
        return Tensor::<3>::from_dispatch(<Dispatch as FusedAttention>::fused_self_attention(
            qkv.into_dispatch(),
            bias.clone().into_dispatch(),
            heads,
        ));
    }
    composed_self_attention(qkv, bias, heads)
}

/// [`self_attention`] in Burn's tensor operations (other devices, and the reference).
pub fn composed_self_attention(qkv: Tensor<3>, bias: &Tensor<4>, heads: usize) -> Tensor<3> {
    let [b, t, d3] = qkv.dims();
    let (d, h) = (d3 / 3, heads);
    let dh = d / h;
    let split = |i: usize| {
        qkv.clone()
            .narrow(2, i * d, d)
            .reshape([b, t, h, dh])
            .swap_dims(1, 2)
    };
    let (q, k, v) = (split(0), split(1), split(2));
    let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((dh as f64).sqrt()) + bias.clone();
    softmax(scores, 3)
        .matmul(v)
        .swap_dims(1, 2)
        .reshape([b, t, d])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assert_close as close;
    use burn::tensor::Distribution;

    fn causal(t: usize, device: &Device) -> Tensor<4> {
        let values: Vec<f32> = (0..t * t)
            .map(|k| if k % t > k / t { -1e9 } else { 0.0 })
            .collect();
        Tensor::from_data(TensorData::new(values, [1, 1, t, t]), device)
    }

    #[test]
    fn matches_burns_operations_values_and_gradients() {
        let device = Device::flex().autodiff();
        let (b, t, d, h) = (3, 7, 12, 3);
        let padding = {
            let valid: Vec<f32> = (0..b * t)
                .map(|k| if k % t < t - k / t { 1.0 } else { 0.0 })
                .collect();
            (Tensor::<2>::from_data(TensorData::new(valid, [b, t]), &device).reshape([b, 1, 1, t])
                - 1.0)
                * 1e9
        };
        for bias in [
            causal(t, &device),
            padding,
            Tensor::zeros([1, 1, 1, t], &device),
        ] {
            let qkv = Tensor::<3>::random([b, t, 3 * d], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let w = Tensor::<3>::random([b, t, d], Distribution::Default, &device);
            let ours = self_attention(qkv.clone(), &bias, h);
            let theirs = composed_self_attention(qkv.clone(), &bias, h);
            close(ours.clone(), theirs.clone(), "context");
            let g_ours = (ours * w.clone()).sum().backward();
            let g_theirs = (theirs * w).sum().backward();
            close(
                qkv.grad(&g_ours).expect("dqkv"),
                qkv.grad(&g_theirs).expect("dqkv"),
                "d qkv",
            );
        }
    }

    #[test]
    fn a_bias_it_cannot_read_goes_through_burns_operations() {
        let device = Device::flex();
        let qkv = Tensor::<3>::random([2, 4, 6], Distribution::Default, &device);
        // Per head: [B, H, T, T] is not a shape the kernel reads.
        let bias = Tensor::<4>::random([2, 2, 4, 4], Distribution::Default, &device);
        assert!(!kernel_takes(&qkv, &bias, 2));
        close(
            self_attention(qkv.clone(), &bias, 2),
            composed_self_attention(qkv, &bias, 2),
            "per-head bias",
        );
    }
}
