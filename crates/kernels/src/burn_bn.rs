//! [`batch_norm`]: training-mode BatchNorm (+ ReLU) through [`super::batch_norm`] on the Flex
//! CPU backend, with a hand-written backward pass; Burn's own layers everywhere else.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::activation::relu as relu_op;

use super::batch_norm::{BnShape, batch_stats_over, bn_backward_over, bn_forward, sync};
use super::fused_on;

/// BatchNorm as two backend operations: the batch statistics (not differentiated: the backward of
/// the normalisation accounts for them) and the normalisation with an optional ReLU.
#[backend_extension(Flex, Autodiff)]
pub trait FusedBatchNorm: burn::backend::Backend {
    /// `[2, channels]`: per-channel mean, then biased variance.
    fn bn_batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self>;
    fn bn_normalize(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self>;
}

fn bn_shape(x: &FlexTensor) -> BnShape {
    let s = x.layout().shape();
    BnShape {
        batch: s[0],
        channels: s[1],
        plane: s.iter().skip(2).product(),
    }
}

fn stats(x: &FlexTensor) -> FlexTensor {
    let s = bn_shape(x);
    let x = x.to_contiguous();
    let (mut mean, var) = batch_stats_over(&s, x.storage::<f32>(), sync());
    mean.extend(var);
    FlexTensor::from_data(TensorData::new(mean, [2, s.channels]))
}

/// The contiguous `f32` values of a tensor.
fn values(t: &FlexTensor) -> Vec<f32> {
    t.to_contiguous().storage::<f32>().to_vec()
}

fn normalize(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    stats: &FlexTensor,
    epsilon: f64,
    relu: bool,
) -> FlexTensor {
    let s = bn_shape(x);
    let st = values(stats);
    let (mean, var) = st.split_at(s.channels);
    let xc = x.to_contiguous();
    let y = bn_forward(
        &s,
        xc.storage::<f32>(),
        &values(gamma),
        &values(beta),
        mean,
        var,
        epsilon,
        relu,
    );
    FlexTensor::from_data(TensorData::new(y, x.layout().shape().clone()))
}

impl FusedBatchNorm for Flex {
    fn bn_batch_stats(x: FlexTensor) -> FlexTensor {
        stats(&x)
    }

    fn bn_normalize(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> FlexTensor {
        normalize(&x, &gamma, &beta, &stats, epsilon, relu)
    }
}

#[derive(Debug)]
struct NormalizeBackward;

impl Backward<Flex, 3> for NormalizeBackward {
    type State = (FlexTensor, FlexTensor, FlexTensor, FlexTensor, f64, bool);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, gamma, beta, stats, epsilon, relu) = ops.state;
        let s = bn_shape(&x);
        let st = values(&stats);
        let (mean, var) = st.split_at(s.channels);
        let xc = x.to_contiguous();
        let (dx, dgamma, dbeta) = bn_backward_over(
            &s,
            xc.storage::<f32>(),
            &values(&gamma),
            &values(&beta),
            mean,
            var,
            epsilon,
            relu,
            dy.storage::<f32>(),
            sync(),
        );
        let channel = |v: Vec<f32>| FlexTensor::from_data(TensorData::new(v, [s.channels]));
        if let Some(node) = node_x {
            let shape = x.layout().shape().clone();
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, channel(dgamma));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, channel(dbeta));
        }
    }
}

impl<C: CheckpointStrategy> FusedBatchNorm for Autodiff<Flex, C> {
    fn bn_batch_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        // A leaf without gradient: the normalisation's backward differentiates through the stats.
        FloatTensor::<Self>::new(stats(x.primitive()))
    }

    fn bn_normalize(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self> {
        let stats = stats.primitive().clone();
        match NormalizeBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, g, b) = (
                    x.primitive().clone(),
                    gamma.primitive().clone(),
                    beta.primitive().clone(),
                );
                let y = normalize(&x, &g, &b, &stats, epsilon, relu);
                prep.finish((x, g, b, stats, epsilon, relu), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(normalize(
                x.primitive(),
                gamma.primitive(),
                beta.primitive(),
                &stats,
                epsilon,
                relu,
            )),
        }
    }
}

/// The normalisation with the given `[2, channels]` statistics, as a Burn tensor operation.
fn normalize_op(bn: &BatchNorm, x: Tensor<4>, stats: Tensor<2>, relu: bool) -> Tensor<4> {
    Tensor::<4>::from_dispatch(<Dispatch as FusedBatchNorm>::bn_normalize(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        stats.into_dispatch(),
        bn.epsilon,
        relu,
    ))
}

/// `bn.forward(x)`, followed by a ReLU when `relu`: fused kernels on Flex (training, or
/// inference without autodiff), Burn's layers otherwise (other devices, frozen layers on an
/// autodiff device). Updates the running statistics exactly as [`BatchNorm::forward`] does.
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let device = x.device();
    if fused_on(&device) && !device.is_autodiff() {
        // Inference: the running statistics, one pass.
        let stats = Tensor::cat(
            vec![
                bn.running_mean.value().unsqueeze::<2>(),
                bn.running_var.value().unsqueeze::<2>(),
            ],
            0,
        );
        return normalize_op(bn, x, stats, relu);
    }
    if !(fused_on(&device) && bn.training.is_enabled()) {
        let y = bn.forward(x);
        return if relu { relu_op(y) } else { y };
    }
    let stats = Tensor::<2>::from_dispatch(<Dispatch as FusedBatchNorm>::bn_batch_stats(
        x.clone().into_dispatch(),
    ));
    let y = normalize_op(bn, x, stats.clone(), relu);
    let [mean, var] = [0, 1].map(|row| stats.clone().narrow(0, row, 1).flatten::<1>(0, 1));
    let m = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean
        .update((running_mean.mul_scalar(1.0 - m) + mean.mul_scalar(m)).detach());
    bn.running_var
        .update((running_var.mul_scalar(1.0 - m) + var.mul_scalar(m)).detach());
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assert_close as close;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    #[test]
    fn matches_burns_batch_norm_relu_gradients_and_running_stats() {
        let device = Device::flex().autodiff();
        for relu in [true, false] {
            let ours_bn = BatchNormConfig::new(3).init(&device);
            // Non-trivial affine parameters, shared by both layers.
            let gamma = Tensor::<1>::from_floats([1.5, -0.5, 0.8], &device);
            let beta = Tensor::<1>::from_floats([0.1, 0.3, -0.2], &device);
            let ours_bn = BatchNorm {
                gamma: burn::module::Param::from_tensor(gamma.clone()),
                beta: burn::module::Param::from_tensor(beta.clone()),
                ..ours_bn
            };
            let theirs_bn = BatchNorm {
                gamma: burn::module::Param::from_tensor(gamma),
                beta: burn::module::Param::from_tensor(beta),
                ..BatchNormConfig::new(3).init(&device)
            };
            let x = Tensor::<4>::random([4, 3, 5, 6], Distribution::Normal(0.5, 2.0), &device)
                .require_grad();
            let ours = batch_norm(&ours_bn, x.clone(), relu);
            let theirs = theirs_bn.forward(x.clone());
            let theirs = if relu { relu_op(theirs) } else { theirs };
            close(ours.clone(), theirs.clone(), "forward");
            let w = Tensor::<4>::random(ours.dims(), Distribution::Default, &device);
            let g_ours = (ours * w.clone()).sum().backward();
            let g_theirs = (theirs * w).sum().backward();
            close(
                x.grad(&g_ours).expect("dx"),
                x.grad(&g_theirs).expect("dx"),
                "dx",
            );
            close(
                ours_bn.gamma.grad(&g_ours).expect("dgamma"),
                theirs_bn.gamma.grad(&g_theirs).expect("dgamma"),
                "dgamma",
            );
            close(
                ours_bn.beta.grad(&g_ours).expect("dbeta"),
                theirs_bn.beta.grad(&g_theirs).expect("dbeta"),
                "dbeta",
            );
            close(
                ours_bn.running_mean.value(),
                theirs_bn.running_mean.value(),
                "running mean",
            );
            close(
                ours_bn.running_var.value(),
                theirs_bn.running_var.value(),
                "running var",
            );
        }
    }

    #[test]
    fn inference_uses_the_running_statistics() {
        let device = Device::flex();
        let mut bn = BatchNormConfig::new(2).init(&device);
        bn.running_mean =
            burn::module::RunningState::new(Tensor::from_floats([1.0, -2.0], &device));
        bn.running_var = burn::module::RunningState::new(Tensor::from_floats([4.0, 0.25], &device));
        let x = Tensor::<4>::random([3, 2, 4, 4], Distribution::Normal(0.0, 3.0), &device);
        for relu in [true, false] {
            let theirs = bn.forward(x.clone());
            let theirs = if relu { relu_op(theirs) } else { theirs };
            close(batch_norm(&bn, x.clone(), relu), theirs, "inference");
        }
    }
}
