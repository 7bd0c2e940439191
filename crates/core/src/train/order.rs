//! Which samples a step trains on, as a pure function of the seed and the step.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::seed::mix;

/// The `batch` samples of step `step` out of `n`: epochs of `n / batch` steps (the remainder
/// dropped), each a permutation seeded by `(seed, epoch)`. Requires `1 <= batch <= n`.
pub fn epoch_batch(n: usize, batch: usize, seed: u64, step: usize) -> Vec<usize> {
    let per_epoch = (n / batch).max(1);
    let epoch = step / per_epoch;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(mix(seed, epoch as u64)));
    let start = (step % per_epoch) * batch;
    order[start..start + batch].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_s_batches_are_disjoint_and_a_step_always_gets_the_same_one() {
        let (n, b) = (10, 3);
        let mut seen: Vec<usize> = (0..3).flat_map(|s| epoch_batch(n, b, 7, s)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 9, "three batches of an epoch are disjoint");
        assert_eq!(epoch_batch(n, b, 7, 4), epoch_batch(n, b, 7, 4));
        assert_ne!(epoch_batch(n, b, 7, 0), epoch_batch(n, b, 7, 3));
    }
}
