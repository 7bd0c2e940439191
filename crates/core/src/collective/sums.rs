//! Per-channel sums over the ranks, for synchronised BatchNorm (`autodidact_kernels::batch_norm`
//! calls it through a function pointer: the kernels know nothing of the ranks).

use super::current;

/// `values` summed element-wise over the calling thread's world, in place (carried as `f32`).
pub fn sum_over_ranks(values: &mut [f64]) {
    let world = current();
    if world.size() == 1 {
        return;
    }
    let mut carried: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    // Under MPI a lost rank ends this process before an error could come back; between threads
    // the failing rank's own error is re-raised where it began.
    world
        .all_reduce_sum(&mut carried)
        .unwrap_or_else(|stopped| panic!("{stopped}"));
    values
        .iter_mut()
        .zip(carried)
        .for_each(|(v, c)| *v = f64::from(c));
}
