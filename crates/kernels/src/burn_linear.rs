//! [`linear`]: `Linear::forward` through [`super::linear`] on the Flex CPU backend (one
//! operation, with its own backward pass) and Burn's layer on every other device.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::nn::Linear;
use burn::prelude::*;

use super::fused_on;
use super::linear::{LinearShape, linear_backward, linear_forward};

/// A fully connected layer with a bias as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait FusedLinear: burn::backend::Backend {
    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

fn shape_of(x: &FlexTensor, weight: &FlexTensor) -> LinearShape {
    let w = weight.layout().shape();
    let (d_in, d_out) = (w[0], w[1]);
    LinearShape {
        rows: x.layout().num_elements() / d_in,
        d_in,
        d_out,
    }
}

fn forward(x: &FlexTensor, weight: &FlexTensor, bias: &FlexTensor) -> FlexTensor {
    let s = shape_of(x, weight);
    let (xc, w, b) = (
        x.to_contiguous(),
        weight.to_contiguous(),
        bias.to_contiguous(),
    );
    let y = linear_forward(xc.storage(), w.storage(), b.storage(), s);
    let mut dims = x.layout().shape().to_vec();
    *dims.last_mut().expect("rank >= 1") = s.d_out;
    FlexTensor::from_data(TensorData::new(y, dims))
}

impl FusedLinear for Flex {
    fn fused_linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        forward(&x, &weight, &bias)
    }
}

#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    /// The input and the weight.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, weight) = ops.state;
        let s = shape_of(&x, &weight);
        let (xc, w) = (x.to_contiguous(), weight.to_contiguous());
        let (dx, dw, db) = linear_backward(xc.storage(), w.storage(), dy.storage(), s);
        if let Some(node) = node_x {
            let shape = x.layout().shape().clone();
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
        if let Some(node) = node_w {
            let t = FlexTensor::from_data(TensorData::new(dw, [s.d_in, s.d_out]));
            grads.register::<Flex>(node.id, t);
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(db, [s.d_out])),
            );
        }
    }
}

impl<C: CheckpointStrategy> FusedLinear for Autodiff<Flex, C> {
    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match LinearBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (xp, wp) = (x.primitive().clone(), weight.primitive().clone());
                let y = forward(&xp, &wp, bias.primitive());
                prep.finish((xp, wp), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward(x.primitive(), weight.primitive(), bias.primitive()))
            }
        }
    }
}

/// `x W + b` for `x` `[.., d_in]`, `weight` `[d_in, d_out]`, `bias` `[d_out]`: one fused
/// operation on Flex, Burn's `linear` elsewhere.
pub fn linear_parts<const D: usize>(x: Tensor<D>, weight: Tensor<2>, bias: Tensor<1>) -> Tensor<D> {
    if !fused_on(&x.device()) {
        return burn::tensor::module::linear(x, weight, Some(bias));
    }
    Tensor::<D>::from_dispatch(<Dispatch as FusedLinear>::fused_linear(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// `layer.forward(x)`: [`linear_parts`] for a layer with a bias, Burn's layer without one.
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    match &layer.bias {
        Some(bias) => linear_parts(x, layer.weight.val(), bias.val()),
        None => layer.forward(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assert_close as close;
    use burn::nn::LinearConfig;
    use burn::tensor::Distribution;

    #[test]
    fn matches_burns_linear_values_and_gradients() {
        let device = Device::flex().autodiff();
        let layer = LinearConfig::new(40, 72).init(&device);
        let x = Tensor::<3>::random([6, 50, 40], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        let w = Tensor::<3>::random([6, 50, 72], Distribution::Default, &device);
        let ours = linear(&layer, x.clone());
        let theirs = layer.forward(x.clone());
        close(ours.clone(), theirs.clone(), "forward");
        let g_ours = (ours * w.clone()).sum().backward();
        let g_theirs = (theirs * w).sum().backward();
        close(
            x.grad(&g_ours).expect("dx"),
            x.grad(&g_theirs).expect("dx"),
            "dx",
        );
        close(
            layer.weight.grad(&g_ours).expect("dW"),
            layer.weight.grad(&g_theirs).expect("dW"),
            "dW",
        );
        let bias = layer.bias.as_ref().expect("bias");
        close(
            bias.grad(&g_ours).expect("db"),
            bias.grad(&g_theirs).expect("db"),
            "db",
        );
    }
}
