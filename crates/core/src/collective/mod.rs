//! The seam between the one training loop and the processes a run spans (issue 27): the rank and
//! the world size, and the collective operations data-parallel training needs (sum of
//! gradients, the starting parameters from rank 0, the global batch's embeddings, a barrier, an
//! abort). [`SingleProcess`] is a world of one; [`LocalRanks`] runs ranks as threads of one
//! process, which the equivalence tests use; an MPI world (crates/mpi, `MpiWorld`) goes behind the
//! same trait.
//! [`average_gradients`] is the data-parallel step's exchange.
//!
//! Every reduction sums the ranks' values in rank order, so its result does not depend on
//! which rank arrives first.

mod current;
mod gather;
mod gradients;
mod local;
mod start;
mod sums;

pub use current::{current, install, with_world};
pub use gather::global_loss;
pub use gradients::{
    BUCKET_VALUES, average_gradients, average_gradients_and, exchanged_values, parameter_order,
};
pub use local::LocalRanks;
pub use start::{average_buffers, broadcast_module};
pub use sums::sum_over_ranks;

/// Appends `t`'s values to `out` (parameters and gradients are exchanged as one flat buffer).
fn append_values<const D: usize>(out: &mut Vec<f32>, t: burn::prelude::Tensor<D>) {
    let data = t.into_data().convert::<f32>();
    out.extend_from_slice(data.as_slice::<f32>().expect("converted to f32"));
}

/// A collective operation failed: another rank aborted (or was lost) and the run must stop.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("rank {rank} of the run stopped: {message}")]
pub struct Aborted {
    pub rank: usize,
    pub message: String,
}

/// The ranks of one run and what they do together. Every rank calls the same operations in the
/// same order with buffers of the same length.
pub trait Collective: Send + Sync {
    /// This process's rank, `0..size()`; rank 0 writes the run's files.
    fn rank(&self) -> usize;

    /// How many ranks the run has.
    fn size(&self) -> usize;

    /// `values` summed element-wise over the ranks, on every rank.
    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<(), Aborted>;

    /// Rank `root`'s `values` on every rank.
    fn broadcast(&self, values: &mut [f32], root: usize) -> Result<(), Aborted>;

    /// Every rank's `values` (the same length on each), concatenated in rank order.
    fn all_gather(&self, values: &[f32]) -> Result<Vec<f32>, Aborted>;

    /// Returns once every rank has called it.
    fn barrier(&self) -> Result<(), Aborted>;

    /// Stops the run on every rank: their pending and later operations fail with [`Aborted`]
    /// naming this rank and `message`.
    fn abort(&self, message: &str);

    /// Whether this rank writes checkpoints, metrics and logs.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }
}

/// A run of one process: every operation is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_reduce_sum(&self, _values: &mut [f32]) -> Result<(), Aborted> {
        Ok(())
    }

    fn broadcast(&self, _values: &mut [f32], root: usize) -> Result<(), Aborted> {
        assert_eq!(root, 0, "broadcast from rank {root} in a world of one");
        Ok(())
    }

    fn all_gather(&self, values: &[f32]) -> Result<Vec<f32>, Aborted> {
        Ok(values.to_vec())
    }

    fn barrier(&self) -> Result<(), Aborted> {
        Ok(())
    }

    fn abort(&self, _message: &str) {}
}
