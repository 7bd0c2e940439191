//! Losses over the global batch of a data-parallel run, for the methods that compare every
//! sample with every other (SimCLR's and CLIP's negatives are every rank's samples). Each rank
//! scores its own anchors against every rank's rows; the gradient each rank sends into its
//! network is that of the sum of every rank's loss with respect to its own rows (the ranks
//! exchange the gradients of their losses with respect to all rows), as an all-gather with an
//! all-reduce in its backward does (the SimCLR code's cross-replica concatenation, lightly's
//! `GatherLayer`). Averaged over the ranks, values and gradients are the global batch's.

use burn::prelude::*;

use super::{Aborted, append_values, current};

/// `loss(all, shared, start)` of this rank, where `all[i]` holds every rank's rows of
/// `locals[i]` (`[n, D]`, the same `n` on every rank) in rank order and this rank's rows start
/// at `start`; `shared` are parameters the loss uses (the same on every rank: CLIP's
/// temperature). The value is this rank's loss; its gradient with respect to `locals` is that
/// of every rank's loss together, with respect to `shared` that of this rank's loss (the loop
/// averages those over the ranks). In a world of one: `loss(locals, shared, 0)`.
pub fn global_loss(
    locals: Vec<Tensor<2>>,
    shared: Vec<Tensor<1>>,
    loss: impl Fn(&[Tensor<2>], &[Tensor<1>], usize) -> Tensor<1>,
) -> Result<Tensor<1>, Aborted> {
    let world = current();
    if world.size() == 1 {
        return Ok(loss(&locals, &shared, 0));
    }
    let Some(first) = locals.first() else {
        return Ok(loss(&locals, &shared, 0));
    };
    let device = first.device();
    let n = first.dims()[0];
    let start = world.rank() * n;
    // Every rank's rows, as leaves of a graph of the loss alone.
    let mut all = Vec::with_capacity(locals.len());
    for local in &locals {
        let [_, d] = local.dims();
        let mut mine = Vec::with_capacity(n * d);
        append_values(&mut mine, local.clone().detach());
        let rows = world.all_gather(&mine)?;
        let leaf = Tensor::<2>::from_data(TensorData::new(rows, [world.size() * n, d]), &device);
        all.push(if device.is_autodiff() {
            leaf.require_grad()
        } else {
            leaf
        });
    }
    let leaves: Vec<Tensor<1>> = shared
        .iter()
        .map(|p| {
            let leaf = Tensor::<1>::from_data(p.clone().into_data(), &device);
            if device.is_autodiff() {
                leaf.require_grad()
            } else {
                leaf
            }
        })
        .collect();
    let value = loss(&all, &leaves, start);
    if !device.is_autodiff() {
        return Ok(value);
    }
    let scalar = value.clone().into_scalar::<f32>();
    let grads = value.backward();
    // d(this rank's loss)/d(every row), summed over the ranks: the whole loss's gradient.
    let mut flat = Vec::new();
    for leaf in &all {
        match leaf.grad(&grads) {
            Some(g) => append_values(&mut flat, g),
            None => flat.resize(flat.len() + leaf.shape().num_elements(), 0.0),
        }
    }
    world.all_reduce_sum(&mut flat)?;
    let mut offset = 0;
    let mut surrogate = Tensor::<1>::zeros([1], &device);
    for (local, leaf) in locals.into_iter().zip(&all) {
        let [rows, d] = leaf.dims();
        let mine = flat[offset + start * d..offset + (start + n) * d].to_vec();
        offset += rows * d;
        let g = Tensor::<2>::from_data(TensorData::new(mine, [n, d]), &device);
        surrogate = surrogate + (local * g).sum();
    }
    for (param, leaf) in shared.into_iter().zip(&leaves) {
        if let Some(g) = leaf.grad(&grads) {
            let g = Tensor::<1>::from_data(g.into_data(), &device);
            surrogate = surrogate + (param * g).sum();
        }
    }
    // The value of this rank's loss, the gradient of the whole loss.
    let value = Tensor::<1>::from_data(TensorData::new(vec![scalar], [1]), &device);
    Ok(surrogate.clone() - surrogate.detach() + value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collective::{Collective, LocalRanks};

    /// `sum over rows of (x_i . sum of all rows)`: every row meets every other.
    fn pairwise(all: &[Tensor<2>], start: usize, n: usize) -> Tensor<1> {
        let x = &all[0];
        let total = x.clone().sum_dim(0);
        (x.clone().narrow(0, start, n) * total).sum()
    }

    #[test]
    fn the_ranks_get_the_whole_batchs_value_and_gradient() {
        let rows: Vec<f32> = (0..6 * 2).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::from_data(TensorData::new(rows, [6, 2]), &device).require_grad();
        let whole = pairwise(std::slice::from_ref(&x), 0, 6);
        let want_value = whole.clone().into_scalar::<f32>();
        let want_grad = x.grad(&whole.backward()).unwrap().into_data();
        let want_grad = want_grad.try_to_vec::<f32>().unwrap();
        let parts = LocalRanks::run(3, |world| {
            let r = world.rank();
            let rows = x.clone().narrow(0, 2 * r, 2).into_data();
            let local = Tensor::<2>::from_data(rows, &device).require_grad();
            let loss = global_loss(vec![local.clone()], Vec::new(), |all, _, start| {
                pairwise(all, start, 2)
            })
            .unwrap();
            let value = loss.clone().into_scalar::<f32>();
            let grad = local.grad(&loss.backward()).unwrap().into_data();
            (value, grad.try_to_vec::<f32>().unwrap())
        });
        let value: f32 = parts.iter().map(|p| p.0).sum();
        assert!((value - want_value).abs() < 1e-4, "{value} vs {want_value}");
        let grad: Vec<f32> = parts.iter().flat_map(|p| p.1.clone()).collect();
        for (g, w) in grad.iter().zip(&want_grad) {
            assert!((g - w).abs() < 1e-4, "{g} vs {w}");
        }
    }
}
