//! [`gelu`]: Burn's exact GELU routed to [`super::gelu`] on the Flex CPU backend (vectorised,
//! parallel, with its own backward pass) and to Burn's activation on every other device.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::prelude::*;

use super::fused_on;
use super::gelu::{gelu_backward, gelu_forward};

/// GELU as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait FusedGelu: burn::backend::Backend {
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

fn forward(x: &FlexTensor) -> FlexTensor {
    let xc = x.to_contiguous();
    let y = gelu_forward(xc.storage::<f32>());
    FlexTensor::from_data(TensorData::new(y, x.layout().shape().clone()))
}

impl FusedGelu for Flex {
    fn fused_gelu(x: FlexTensor) -> FlexTensor {
        forward(&x)
    }
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    /// The input.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        if let Some(node) = node_x {
            let shape = ops.state.layout().shape().clone();
            let x = ops.state.to_contiguous();
            let dx = gelu_backward(x.storage::<f32>(), dy.storage::<f32>());
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
    }
}

impl<C: CheckpointStrategy> FusedGelu for Autodiff<Flex, C> {
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match GeluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                let y = forward(&input);
                prep.finish(input, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(x.primitive())),
        }
    }
}

/// `burn::tensor::activation::gelu(x)` (the exact, erf form): the kernels of [`super::gelu`] on
/// Flex, Burn's activation elsewhere.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !fused_on(&x.device()) {
        return burn::tensor::activation::gelu(x);
    }
    Tensor::<D>::from_dispatch(<Dispatch as FusedGelu>::fused_gelu(x.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assert_close as close;
    use burn::tensor::Distribution;

    #[test]
    fn matches_burns_gelu_values_and_gradients() {
        let device = Device::flex().autodiff();
        // Big enough for the parallel split; wide enough to reach both tails.
        let x = Tensor::<3>::random([4, 130, 257], Distribution::Normal(0.0, 3.0), &device)
            .require_grad();
        let w = Tensor::<3>::random(x.dims(), Distribution::Default, &device);
        let ours = gelu(x.clone());
        let theirs = burn::tensor::activation::gelu(x.clone());
        close(ours.clone(), theirs.clone(), "forward");
        let g_ours = (ours * w.clone()).sum().backward();
        let g_theirs = (theirs * w).sum().backward();
        close(
            x.grad(&g_ours).expect("dx"),
            x.grad(&g_theirs).expect("dx"),
            "dx",
        );
    }

    #[test]
    fn strided_input_and_inference_devices_match_too() {
        let device = Device::flex();
        let x = Tensor::<2>::random([40, 30], Distribution::Normal(0.0, 2.0), &device);
        // A transposed view is not contiguous.
        let xt = x.transpose();
        close(
            gelu(xt.clone()),
            burn::tensor::activation::gelu(xt),
            "transposed",
        );
    }
}
