//! The identical start of a data-parallel run: every rank takes rank 0's parameters.

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use super::{Aborted, Collective, append_values};

/// `model` with `root`'s parameter values on every rank (ids and training state kept).
pub fn broadcast_module<M: Module>(
    model: M,
    world: &dyn Collective,
    root: usize,
) -> Result<M, Aborted> {
    if world.size() == 1 {
        return Ok(model);
    }
    struct Flatten(Vec<f32>);
    impl ModuleVisitor for Flatten {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            append_values(&mut self.0, param.val());
        }
    }
    let mut flat = Flatten(Vec::new());
    model.visit(&mut flat);
    let mut values = flat.0;
    world.broadcast(&mut values, root)?;

    struct Assign<'a> {
        values: &'a [f32],
        offset: usize,
    }
    impl ModuleMapper for Assign<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let n = param.shape().num_elements();
            let values = &self.values[self.offset..self.offset + n];
            self.offset += n;
            param.map(|t| {
                let (autodiff, grad) = (t.is_autodiff(), t.is_require_grad());
                let shape = t.shape();
                let device = t.without_autodiff().device();
                let fresh =
                    Tensor::<D>::from_data(TensorData::new(values.to_vec(), shape), &device);
                match (autodiff, grad) {
                    (true, true) => fresh.autodiff().require_grad(),
                    (true, false) => fresh.autodiff(),
                    _ => fresh,
                }
            })
        }
    }
    Ok(model.map(&mut Assign {
        values: &values,
        offset: 0,
    }))
}

/// `model` with its buffers (values that get no gradient: BatchNorm's running statistics, EMA
/// targets) averaged over the ranks, so that what rank 0 saves stands for every rank's slice of
/// the data. Trainable parameters are left alone (they are equal on every rank already).
pub fn average_buffers<M: Module>(model: M, world: &dyn Collective) -> Result<M, Aborted> {
    if world.size() == 1 {
        return Ok(model);
    }
    struct Buffers(Vec<f32>);
    impl ModuleVisitor for Buffers {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            if !value.is_require_grad() {
                append_values(&mut self.0, value);
            }
        }
    }
    let mut buffers = Buffers(Vec::new());
    model.visit(&mut buffers);
    let mut values = buffers.0;
    world.all_reduce_sum(&mut values)?;
    let scale = 1.0 / world.size() as f32;
    values.iter_mut().for_each(|v| *v *= scale);

    struct Assign<'a> {
        values: &'a [f32],
        offset: usize,
    }
    impl ModuleMapper for Assign<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if param.val().is_require_grad() {
                return param;
            }
            let n = param.shape().num_elements();
            let values = &self.values[self.offset..self.offset + n];
            self.offset += n;
            param.map(|t| {
                let (shape, device) = (t.shape(), t.device());
                Tensor::<D>::from_data(TensorData::new(values.to_vec(), shape), &device)
            })
        }
    }
    Ok(model.map(&mut Assign {
        values: &values,
        offset: 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collective::LocalRanks;
    use burn::nn::{Linear, LinearConfig};

    #[test]
    fn every_rank_starts_from_the_roots_parameters() {
        let results = LocalRanks::run(3, |world| {
            let device = Device::flex().autodiff();
            // Each rank initialises differently (a fresh random draw per layer).
            let layer: Linear = LinearConfig::new(4, 3).init(&device);
            let mine = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
            let layer = broadcast_module(layer, &world, 1).unwrap();
            let weight = layer.weight.val();
            assert!(weight.is_require_grad(), "still trainable");
            let bias = layer.bias.as_ref().unwrap().val().into_data();
            (
                mine,
                weight.into_data().try_to_vec::<f32>().unwrap(),
                bias.try_to_vec::<f32>().unwrap(),
            )
        });
        let root = &results[1];
        for (rank, (_, weight, bias)) in results.iter().enumerate() {
            assert_eq!(weight, &root.0, "rank {rank} has rank 1's weight");
            assert_eq!(bias, &root.2);
        }
        assert_ne!(results[0].0, results[1].0, "the ranks started apart");
    }

    #[test]
    fn buffers_are_averaged_and_trainable_parameters_left_alone() {
        use burn::module::RunningState;
        use burn::nn::BatchNormConfig;
        let results = LocalRanks::run(2, |world| {
            let device = Device::flex().autodiff();
            let r = world.rank() as f32;
            let mut bn = BatchNormConfig::new(2).init(&device);
            bn.running_mean = RunningState::new(Tensor::from_floats([r, 2.0 * r], &device));
            bn.gamma = Param::from_tensor(Tensor::from_floats([r, r], &device));
            let bn = average_buffers(bn, &world).unwrap();
            let values = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
            (values(bn.running_mean.value()), values(bn.gamma.val()))
        });
        for (rank, (mean, gamma)) in results.into_iter().enumerate() {
            assert_eq!(mean, vec![0.5, 1.0]);
            assert_eq!(
                gamma,
                vec![rank as f32; 2],
                "a trainable parameter is not a buffer"
            );
        }
    }
}
