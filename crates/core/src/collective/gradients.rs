//! Gradients averaged over the ranks of a data-parallel run. They are flattened in the order the
//! model's visitor walks its parameters (the same on every rank; parameter ids are random per
//! process) and summed in one all-reduce per bucket of at most [`BUCKET_VALUES`] values. A
//! parameter gets a gradient where any rank had one for it (zeros stand in for the others).

use burn::module::{ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

use super::{Aborted, Collective, append_values};

/// Values per all-reduce (16 MiB of `f32`).
pub const BUCKET_VALUES: usize = 1 << 22;

/// `grads` (of `model` on this rank's part of the batch) replaced by their mean over the ranks:
/// the gradient of the global batch's mean loss when every rank holds an equal part.
pub fn average_gradients<M: Module>(
    model: &M,
    grads: GradientsParams,
    world: &dyn Collective,
) -> Result<GradientsParams, Aborted> {
    average_gradients_and(model, grads, &mut [], world)
}

/// [`average_gradients`], also averaging `extra` (the step's loss...) in the same exchange.
pub fn average_gradients_and<M: Module>(
    model: &M,
    grads: GradientsParams,
    extra: &mut [f32],
    world: &dyn Collective,
) -> Result<GradientsParams, Aborted> {
    if world.size() == 1 {
        return Ok(grads);
    }
    let mut flat = Flatten {
        grads: &grads,
        values: Vec::new(),
        present: Vec::new(),
    };
    model.visit(&mut flat);
    // The presence flags and the extra values ride at the end of the last bucket.
    let (mut values, params) = (flat.values, flat.present.len());
    values.extend_from_slice(&flat.present);
    values.extend_from_slice(extra);
    for bucket in values.chunks_mut(BUCKET_VALUES) {
        world.all_reduce_sum(bucket)?;
    }
    let scale = 1.0 / world.size() as f32;
    let summed = values.split_off(values.len() - extra.len());
    extra
        .iter_mut()
        .zip(summed)
        .for_each(|(e, sum)| *e = sum * scale);
    let present = values.split_off(values.len() - params);
    values.iter_mut().for_each(|v| *v *= scale);
    let mut rebuild = Rebuild {
        values: &values,
        present: &present,
        offset: 0,
        index: 0,
        grads: GradientsParams::new(),
    };
    model.visit(&mut rebuild);
    Ok(rebuild.grads)
}

/// Every parameter's gradient (or zeros) in visitor order, and 1 or 0 for whether it had one.
struct Flatten<'a> {
    grads: &'a GradientsParams,
    values: Vec<f32>,
    present: Vec<f32>,
}

impl ModuleVisitor for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match self.grads.get::<D>(param.id) {
            Some(g) => {
                append_values(&mut self.values, g);
                self.present.push(1.0);
            }
            None => {
                let n = param.shape().num_elements();
                self.values.resize(self.values.len() + n, 0.0);
                self.present.push(0.0);
            }
        }
    }
}

/// The averaged values back into tensors, for the parameters some rank had a gradient for.
struct Rebuild<'a> {
    values: &'a [f32],
    present: &'a [f32],
    offset: usize,
    index: usize,
    grads: GradientsParams,
}

impl ModuleVisitor for Rebuild<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let shape = param.shape();
        let n = shape.num_elements();
        let values = &self.values[self.offset..self.offset + n];
        if self.present[self.index] > 0.0 {
            let device = param.val().without_autodiff().device();
            let grad = Tensor::<D>::from_data(TensorData::new(values.to_vec(), shape), &device);
            self.grads.register::<D>(param.id, grad);
        }
        self.offset += n;
        self.index += 1;
    }
}

/// How many values one [`average_gradients_and`] of `model` sends with `extra` values: every
/// visited tensor (parameters and buffers), a presence flag each, and the extras.
pub fn exchanged_values<M: Module>(model: &M, extra: usize) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 += param.shape().num_elements() + 1;
        }
    }
    let mut count = Count(extra);
    model.visit(&mut count);
    count.0
}

/// The ids of `model`'s parameters in visitor order (the order gradients are exchanged in).
pub fn parameter_order<M: Module>(model: &M) -> Vec<ParamId> {
    struct Ids(Vec<ParamId>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id);
        }
    }
    let mut ids = Ids(Vec::new());
    model.visit(&mut ids);
    ids.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collective::LocalRanks;
    use burn::nn::{Linear, LinearConfig};

    /// The mean squared output of `layer` over `x`'s rows.
    fn loss(layer: &Linear, x: Tensor<2>) -> Tensor<1> {
        layer.forward(x).powf_scalar(2.0).mean()
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn the_ranks_mean_gradient_is_the_full_batchs() {
        let device = Device::flex().autodiff();
        let rows: Vec<f32> = (0..8 * 3)
            .map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0)
            .collect();
        let batch = Tensor::<2>::from_data(TensorData::new(rows, [8, 3]), &device);
        // The same start on every rank (in a run: broadcast from rank 0).
        let layer: Linear = LinearConfig::new(3, 2).init(&device);
        let full = GradientsParams::from_grads(loss(&layer, batch.clone()).backward(), &layer);
        let want_w = values(full.get::<2>(layer.weight.id).unwrap());
        let want_b = values(full.get::<1>(layer.bias.as_ref().unwrap().id).unwrap());
        let results = LocalRanks::run(2, |world| {
            let part = batch.clone().narrow(0, 4 * world.rank(), 4);
            let grads = GradientsParams::from_grads(loss(&layer, part).backward(), &layer);
            let mean = average_gradients(&layer, grads, &world).unwrap();
            let w = values(mean.get::<2>(layer.weight.id).unwrap());
            let b = values(mean.get::<1>(layer.bias.as_ref().unwrap().id).unwrap());
            (w, b)
        });
        for (w, b) in results {
            for (got, want) in w.iter().zip(&want_w).chain(b.iter().zip(&want_b)) {
                assert!((got - want).abs() < 1e-6, "{got} vs {want}");
            }
        }
        assert_eq!(
            parameter_order(&layer),
            vec![layer.weight.id, layer.bias.as_ref().unwrap().id]
        );
    }
}
