//! The global batch's rows for the losses that compare every sample with every other (SimCLR,
//! CLIP): each rank's rows gathered in rank order, the calling rank's own rows keeping their
//! gradient and the others' entering as constants, as the SimCLR paper does on TPUs. Each rank's
//! loss over its own anchors against every candidate, averaged over the ranks, is the loss of
//! the global batch.

use burn::prelude::*;

use super::{Aborted, append_values, current};

/// The rows of `local` (`[n, D]`, the same `n` on every rank) of every rank of the calling
/// thread's world, `[size * n, D]`, and where this rank's rows start. In a world of one:
/// `local` itself and 0.
pub fn gather_rows(local: Tensor<2>) -> Result<(Tensor<2>, usize), Aborted> {
    let world = current();
    if world.size() == 1 {
        return Ok((local, 0));
    }
    let [n, d] = local.dims();
    let mut mine = Vec::with_capacity(n * d);
    append_values(&mut mine, local.clone().detach());
    let all = world.all_gather(&mine)?;
    let rank = world.rank();
    let device = local.device();
    let rows = |from: usize, count: usize| {
        let values = all[from * d..(from + count) * d].to_vec();
        Tensor::<2>::from_data(TensorData::new(values, [count, d]), &device)
    };
    let start = rank * n;
    let mut parts = Vec::with_capacity(3);
    if start > 0 {
        parts.push(rows(0, start));
    }
    parts.push(local);
    let after = (world.size() - rank - 1) * n;
    if after > 0 {
        parts.push(rows(start + n, after));
    }
    Ok((Tensor::cat(parts, 0), start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collective::LocalRanks;

    #[test]
    fn every_rank_sees_all_rows_with_the_gradient_through_its_own() {
        let results = LocalRanks::run(2, |world| {
            let device = Device::flex().autodiff();
            let r = crate::collective::Collective::rank(&world) as f32;
            let local = Tensor::<2>::from_data(
                TensorData::new(vec![r, r + 0.5, r + 10.0, r + 10.5], [2, 2]),
                &device,
            )
            .require_grad();
            let (all, start) = gather_rows(local.clone()).unwrap();
            let grads = all.clone().sum().backward();
            let grad = local.grad(&grads).unwrap().into_data();
            (
                all.into_data().try_to_vec::<f32>().unwrap(),
                start,
                grad.try_to_vec::<f32>().unwrap(),
            )
        });
        let want = vec![0.0, 0.5, 10.0, 10.5, 1.0, 1.5, 11.0, 11.5];
        for (rank, (all, start, grad)) in results.into_iter().enumerate() {
            assert_eq!(all, want);
            assert_eq!(start, 2 * rank);
            assert_eq!(grad, vec![1.0; 4]);
        }
    }
}
