//! Joining the ranks of an MPI launch (`mpirun -np N autodidact pretrain ...`): the world is
//! installed for the whole process, ranks other than 0 print nothing on stdout, and an error on
//! one rank ends them all.

use autodidact_core::collective::current;

/// Environment variables through which MPI launchers announce the world's size.
#[cfg(not(feature = "mpi"))]
const SIZE_VARIABLES: [&str; 2] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"];

/// This process's part in a launch.
pub struct Launch {
    #[cfg(feature = "mpi")]
    mpi: Option<std::sync::Arc<autodidact_mpi::MpiWorld>>,
}

impl Launch {
    /// Joins the launch this process belongs to (none: a world of one).
    pub fn join() -> anyhow::Result<Self> {
        #[cfg(feature = "mpi")]
        {
            use autodidact_core::collective::{Collective, install};
            use autodidact_mpi::MpiWorld;
            use std::sync::Arc;
            let mpi = MpiWorld::from_launcher()?.map(Arc::new);
            if let Some(world) = &mpi {
                install(world.clone() as Arc<dyn Collective>).map_err(anyhow::Error::msg)?;
                if !world.is_root() {
                    silence_stdout();
                }
            }
            Ok(Self { mpi })
        }
        #[cfg(not(feature = "mpi"))]
        {
            match launched_ranks() {
                Some(n) if n > 1 => anyhow::bail!(
                    "started by an MPI launcher as one of {n} ranks, but this build has no MPI: build with `cargo build --release --features mpi` (scripts/install-mpi.sh installs what it needs)"
                ),
                _ => Ok(Self {}),
            }
        }
    }

    /// Refuses `verb` on several ranks unless it trains data-parallel.
    pub fn check(&self, verb: &str, data_parallel: bool) -> anyhow::Result<()> {
        let size = current().size();
        if size > 1 && !data_parallel {
            anyhow::bail!(
                "`autodidact {verb}` runs in one process; launch it without mpirun (only pretrain and bench train on {size} ranks)"
            );
        }
        Ok(())
    }

    /// Prints `err` and ends this process, and in a launch of several ranks every other.
    pub fn fail(self, err: &anyhow::Error) -> ! {
        let world = current();
        if world.size() > 1 {
            // Prints the message naming this rank, then ends every rank.
            world.abort(&format!("{err:#}"));
        }
        eprintln!("error: {err:#}");
        std::process::exit(1)
    }

    /// The command ended well: leaves the launch in step with the other ranks.
    pub fn finish(self) {
        #[cfg(feature = "mpi")]
        if let Some(world) = self.mpi {
            world.finish();
        }
    }
}

/// The world size a launcher announced, if any.
#[cfg(not(feature = "mpi"))]
fn launched_ranks() -> Option<usize> {
    SIZE_VARIABLES
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// Points stdout at /dev/null: the ranks besides 0 would repeat rank 0's report line for line.
#[cfg(feature = "mpi")]
fn silence_stdout() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 on two open descriptors; stdout stays valid (now /dev/null).
        unsafe {
            libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO);
        }
    }
}
