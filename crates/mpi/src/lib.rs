//! The ranks of a run launched by `mpirun` (or `srun`, or a hostfile): MPI's collectives behind
//! core's [`Collective`]. Its own crate, so that building with MPI (`--features mpi`, which
//! needs Open MPI and libclang) rebuilds this crate and the command line, not every modality.
//!
//! MPI's default error handler ends every rank when one is lost (`mpirun` then names it), and
//! [`Collective::abort`] is `MPI_Abort`, so no rank waits forever on a dead peer.

use std::sync::Mutex;

use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};

use autodidact_core::collective::{Aborted, Collective};

/// Environment variables a launcher sets in the processes it starts (Open MPI, MPICH's Hydra,
/// PMIx, Slurm's `srun --mpi`).
const LAUNCHER_VARIABLES: [&str; 4] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "PMIX_RANK",
    "MPI_LOCALNRANKS",
];

/// This process's place among the ranks `mpirun` started. MPI is finalised when it drops.
pub struct MpiWorld {
    inner: Mutex<Inner>,
    rank: usize,
    size: usize,
}

struct Inner {
    world: SimpleCommunicator,
    /// Finalises MPI when dropped ([`MpiWorld::finish`]).
    universe: Option<Universe>,
}

// SAFETY: MPI is initialised with `Threading::Serialized` and every call goes through the mutex,
// so no two threads are ever inside MPI at once.
unsafe impl Send for Inner {}

impl MpiWorld {
    /// MPI's world when this process was started by an MPI launcher, `None` otherwise (a plain
    /// `autodidact` run never initialises MPI).
    pub fn from_launcher() -> anyhow::Result<Option<Self>> {
        if !LAUNCHER_VARIABLES
            .iter()
            .any(|v| std::env::var_os(v).is_some())
        {
            return Ok(None);
        }
        let (universe, threading) = mpi::initialize_with_threading(mpi::Threading::Serialized)
            .ok_or_else(|| anyhow::anyhow!("MPI: already initialised in this process"))?;
        if threading < mpi::Threading::Serialized {
            anyhow::bail!("MPI: the library offers no serialised multi-threading ({threading:?})");
        }
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(Some(Self {
            inner: Mutex::new(Inner {
                world,
                universe: Some(universe),
            }),
            rank,
            size,
        }))
    }

    /// Finalises MPI once every rank has arrived here; later operations must not be called.
    pub fn finish(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.world.barrier();
        inner.universe.take();
    }

    fn with<T>(&self, f: impl FnOnce(&SimpleCommunicator) -> T) -> T {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&inner.world)
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<(), Aborted> {
        let send = values.to_vec();
        self.with(|w| w.all_reduce_into(&send[..], values, SystemOperation::sum()));
        Ok(())
    }

    fn broadcast(&self, values: &mut [f32], root: usize) -> Result<(), Aborted> {
        self.with(|w| w.process_at_rank(root as i32).broadcast_into(values));
        Ok(())
    }

    fn all_gather(&self, values: &[f32]) -> Result<Vec<f32>, Aborted> {
        let mut out = vec![0.0; values.len() * self.size];
        self.with(|w| w.all_gather_into(values, &mut out[..]));
        Ok(out)
    }

    fn barrier(&self) -> Result<(), Aborted> {
        self.with(|w| w.barrier());
        Ok(())
    }

    fn abort(&self, message: &str) {
        eprintln!("error: rank {} of {}: {message}", self.rank, self.size);
        self.with(|w| w.abort(1))
    }
}
