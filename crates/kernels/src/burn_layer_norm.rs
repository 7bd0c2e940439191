//! [`layer_norm`]: `LayerNorm::forward` through [`super::layer_norm`] on the Flex CPU backend
//! (one operation, with its own backward pass) and Burn's layer on every other device.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::nn::LayerNorm;
use burn::prelude::*;

use super::fused_on;
use super::layer_norm::{layer_norm_backward, layer_norm_forward};

/// LayerNorm over the last dimension as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait FusedLayerNorm: burn::backend::Backend {
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
}

/// `(y, mean, rstd)`.
fn forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    epsilon: f64,
) -> (FlexTensor, Vec<f32>, Vec<f32>) {
    let (xc, g, b) = (
        x.to_contiguous(),
        gamma.to_contiguous(),
        beta.to_contiguous(),
    );
    let (y, mean, rstd) = layer_norm_forward(
        xc.storage::<f32>(),
        g.storage::<f32>(),
        b.storage::<f32>(),
        epsilon as f32,
    );
    let y = FlexTensor::from_data(TensorData::new(y, x.layout().shape().clone()));
    (y, mean, rstd)
}

impl FusedLayerNorm for Flex {
    fn fused_layer_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        forward(&x, &gamma, &beta, epsilon).0
    }
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    /// The input, gamma, and each row's mean and reciprocal standard deviation.
    type State = (FlexTensor, FlexTensor, FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, gamma, mean, rstd) = ops.state;
        let (xc, g) = (x.to_contiguous(), gamma.to_contiguous());
        let (dx, dgamma, dbeta) = layer_norm_backward(
            xc.storage::<f32>(),
            g.storage::<f32>(),
            mean.storage::<f32>(),
            rstd.storage::<f32>(),
            dy.storage::<f32>(),
        );
        let width = gamma.layout().shape().clone();
        if let Some(node) = node_x {
            let shape = x.layout().shape().clone();
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
        if let Some(node) = node_gamma {
            let t = FlexTensor::from_data(TensorData::new(dgamma, width.clone()));
            grads.register::<Flex>(node.id, t);
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(dbeta, width)),
            );
        }
    }
}

impl<C: CheckpointStrategy> FusedLayerNorm for Autodiff<Flex, C> {
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        match LayerNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, g) = (x.primitive().clone(), gamma.primitive().clone());
                let (y, mean, rstd) = forward(&x, &g, beta.primitive(), epsilon);
                let rows = mean.len();
                let stats = |v: Vec<f32>| FlexTensor::from_data(TensorData::new(v, [rows]));
                prep.finish((x, g, stats(mean), stats(rstd)), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward(x.primitive(), gamma.primitive(), beta.primitive(), epsilon).0)
            }
        }
    }
}

/// `norm.forward(x)`: one fused operation on Flex, Burn's layer elsewhere (and for a norm
/// without a shift). `epsilon` must be the one `norm` was configured with (Burn keeps it
/// private); the callers' tests compare with `norm.forward`.
pub fn layer_norm<const D: usize>(norm: &LayerNorm, epsilon: f64, x: Tensor<D>) -> Tensor<D> {
    let Some(beta) = norm.beta.as_ref() else {
        return norm.forward(x);
    };
    if !fused_on(&x.device()) {
        return norm.forward(x);
    }
    Tensor::<D>::from_dispatch(<Dispatch as FusedLayerNorm>::fused_layer_norm(
        x.into_dispatch(),
        norm.gamma.val().into_dispatch(),
        beta.val().into_dispatch(),
        epsilon,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assert_close as close;
    use burn::nn::LayerNormConfig;
    use burn::tensor::Distribution;

    #[test]
    fn matches_burns_layer_norm_values_and_gradients() {
        let device = Device::flex().autodiff();
        let mut norm = LayerNormConfig::new(24).with_epsilon(1e-6).init(&device);
        norm.gamma = burn::module::Param::from_tensor(Tensor::random(
            [24],
            Distribution::Normal(1.0, 0.5),
            &device,
        ));
        let x = Tensor::<3>::random([5, 33, 24], Distribution::Normal(0.3, 2.0), &device)
            .require_grad();
        let w = Tensor::<3>::random(x.dims(), Distribution::Default, &device);
        let ours = layer_norm(&norm, 1e-6, x.clone());
        let theirs = norm.forward(x.clone());
        close(ours.clone(), theirs.clone(), "forward");
        let g_ours = (ours * w.clone()).sum().backward();
        let g_theirs = (theirs * w).sum().backward();
        close(
            x.grad(&g_ours).expect("dx"),
            x.grad(&g_theirs).expect("dx"),
            "dx",
        );
        close(
            norm.gamma.grad(&g_ours).expect("dgamma"),
            norm.gamma.grad(&g_theirs).expect("dgamma"),
            "dgamma",
        );
        let beta = norm.beta.as_ref().expect("beta");
        close(
            beta.grad(&g_ours).expect("dbeta"),
            beta.grad(&g_theirs).expect("dbeta"),
            "dbeta",
        );
    }
}
