//! [`conv2d`]: Burn's 2-D convolution, routed to [`super::conv`] on the Flex CPU backend (with a
//! hand-written backward pass) and to Burn's own kernel on every other device.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::conv::{
    Columns, ConvShape, KEEP_COLUMNS_MAX_BYTES, conv2d_backward, conv2d_forward_keep,
};
use super::fused_on;

/// The convolution as a backend operation: square kernel, symmetric padding, no groups or bias.
#[backend_extension(Flex, Autodiff)]
pub trait GemmConv: burn::backend::Backend {
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

fn shape_of(x: &FlexTensor, weight: &FlexTensor, stride: usize, padding: usize) -> ConvShape {
    let xs = x.layout().shape();
    let ws = weight.layout().shape();
    ConvShape {
        batch: xs[0],
        c_in: xs[1],
        h: xs[2],
        w: xs[3],
        c_out: ws[0],
        kernel: ws[2],
        stride,
        padding,
    }
}

fn f32_tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// The convolution; with `keep`, also its im2col matrices when they fit
/// [`KEEP_COLUMNS_MAX_BYTES`].
fn forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    stride: usize,
    padding: usize,
    keep: bool,
) -> (FlexTensor, Option<Columns>) {
    let s = shape_of(x, weight, stride, padding);
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let keep = keep && s.columns_bytes() <= KEEP_COLUMNS_MAX_BYTES;
    let (y, columns) = conv2d_forward_keep(&s, x.storage::<f32>(), weight.storage::<f32>(), keep);
    (
        f32_tensor(y, [s.batch, s.c_out, s.out_h(), s.out_w()]),
        columns,
    )
}

impl GemmConv for Flex {
    fn gemm_conv2d(x: FlexTensor, weight: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        forward(&x, &weight, stride, padding, false).0
    }
}

#[derive(Debug)]
struct GemmConvBackward;

impl Backward<Flex, 2> for GemmConvBackward {
    /// Input, weight, stride, padding, and the forward's im2col matrices if it kept them.
    type State = (FlexTensor, FlexTensor, usize, usize, Option<Columns>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, weight, stride, padding, columns) = ops.state;
        let s = shape_of(&x, &weight, stride, padding);
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let (dx, dw) = conv2d_backward(
            &s,
            x.storage::<f32>(),
            weight.storage::<f32>(),
            dy.storage::<f32>(),
            node_x.is_some(),
            columns,
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, f32_tensor(dx, [s.batch, s.c_in, s.h, s.w]));
        }
        if let Some(node) = node_w {
            let shape = [s.c_out, s.c_in, s.kernel, s.kernel];
            grads.register::<Flex>(node.id, f32_tensor(dw, shape));
        }
    }
}

impl<C: CheckpointStrategy> GemmConv for Autodiff<Flex, C> {
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        match GemmConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, w) = (x.primitive().clone(), weight.primitive().clone());
                let (y, columns) = forward(&x, &w, stride, padding, true);
                prep.finish((x, w, stride, padding, columns), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward(x.primitive(), weight.primitive(), stride, padding, false).0)
            }
        }
    }
}

/// `conv.forward(x)` for a bias-free, ungrouped, square, symmetrically padded `conv` (the only kind
/// the encoders use): the GEMM kernels on Flex, Burn's convolution elsewhere.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let weight = conv.weight.val();
    let [_, _, kh, kw] = weight.dims();
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(t, l, b, r) if t == l && l == b && b == r => Some(t),
        PaddingConfig2d::Valid => Some(0),
        _ => None,
    };
    let fits = fused_on(&x.device())
        && conv.bias.is_none()
        && conv.groups == 1
        && kh == kw
        && conv.stride[0] == conv.stride[1]
        && conv.dilation == [1, 1]
        && padding.is_some();
    if !fits {
        return conv.forward(x);
    }
    Tensor::from_dispatch(<Dispatch as GemmConv>::gemm_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        conv.stride[0],
        padding.unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assert_close as close;
    use burn::nn::conv::Conv2dConfig;

    #[test]
    fn matches_burns_convolution_and_its_gradients() {
        let device = Device::flex().autodiff();
        for (stride, kernel, pad) in [(1, 3, 1), (2, 3, 1), (2, 1, 0)] {
            let conv = Conv2dConfig::new([3, 5], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(false)
                .init(&device);
            let x = Tensor::<4>::random([4, 3, 9, 8], burn::tensor::Distribution::Default, &device)
                .require_grad();
            let ours = conv2d(&conv, x.clone());
            let theirs = conv.forward(x.clone());
            close(ours.clone(), theirs.clone(), "forward");
            // A loss that weights every output differently, so a transposed gradient would show.
            let weights =
                Tensor::<4>::random(ours.dims(), burn::tensor::Distribution::Default, &device);
            let g_ours = (ours * weights.clone()).sum().backward();
            let g_theirs = (theirs * weights).sum().backward();
            close(
                x.grad(&g_ours).expect("x grad"),
                x.grad(&g_theirs).expect("x grad"),
                "dx",
            );
            close(
                conv.weight.grad(&g_ours).expect("w grad"),
                conv.weight.grad(&g_theirs).expect("w grad"),
                "dw",
            );
        }
    }
}
