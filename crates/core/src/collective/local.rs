//! [`LocalRanks`]: the ranks of a run as threads of one process, exchanging buffers through
//! shared memory. Each operation is one exchange: every rank deposits its buffer, the last to
//! arrive publishes them all, and each rank computes the result from all of them in rank order.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{Aborted, Collective};

/// One rank of a world of threads (see [`LocalRanks::run`]).
#[derive(Clone)]
pub struct LocalRanks {
    rank: usize,
    shared: Arc<Shared>,
}

struct Shared {
    size: usize,
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    /// This exchange's buffers, by rank, as they arrive.
    slots: Vec<Option<Vec<f32>>>,
    arrived: usize,
    /// Exchanges completed so far.
    generation: u64,
    /// The buffers of the last completed exchange.
    last: Arc<Vec<Vec<f32>>>,
    aborted: Option<Aborted>,
}

impl LocalRanks {
    /// Runs `f` on `size` ranks, each on its own thread, and returns their results in rank
    /// order. Each rank is its thread's [`super::current`] world. A rank that panics aborts the others (their operations fail instead of waiting
    /// for it), and the panic is then raised here.
    pub fn run<T: Send>(size: usize, f: impl Fn(LocalRanks) -> T + Sync) -> Vec<T> {
        assert!(size > 0, "a world needs at least one rank");
        let shared = Arc::new(Shared {
            size,
            state: Mutex::new(State {
                slots: vec![None; size],
                arrived: 0,
                generation: 0,
                last: Arc::new(Vec::new()),
                aborted: None,
            }),
            changed: Condvar::new(),
        });
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..size)
                .map(|rank| {
                    let ranks = LocalRanks {
                        rank,
                        shared: shared.clone(),
                    };
                    let f = &f;
                    scope.spawn(move || {
                        let world: Arc<dyn Collective> = Arc::new(ranks.clone());
                        super::with_world(world, || f(ranks))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A rank that panicked while holding the lock left nothing half-written that matters:
        // it also aborted the world, which every later operation reports.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Deposits `mine` and returns every rank's buffer, in rank order, once all have arrived.
    fn exchange(&self, mine: Vec<f32>) -> Result<Arc<Vec<Vec<f32>>>, Aborted> {
        let mut state = self.lock();
        if let Some(aborted) = &state.aborted {
            return Err(aborted.clone());
        }
        let generation = state.generation;
        state.slots[self.rank] = Some(mine);
        state.arrived += 1;
        if state.arrived == self.shared.size {
            let all: Vec<Vec<f32>> = state
                .slots
                .iter_mut()
                .map(|s| s.take().expect("every rank deposited"))
                .collect();
            state.last = Arc::new(all);
            state.arrived = 0;
            state.generation += 1;
            self.shared.changed.notify_all();
            return Ok(state.last.clone());
        }
        // Exchange `generation + 1` needs this rank too, so `last` is still this one's.
        while state.generation == generation {
            if let Some(aborted) = &state.aborted {
                return Err(aborted.clone());
            }
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        Ok(state.last.clone())
    }
}

impl Drop for LocalRanks {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.abort("panicked");
        }
    }
}

impl Collective for LocalRanks {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<(), Aborted> {
        let all = self.exchange(values.to_vec())?;
        values.fill(0.0);
        for other in all.iter() {
            assert_eq!(other.len(), values.len(), "all_reduce_sum: lengths differ");
            values.iter_mut().zip(other).for_each(|(v, o)| *v += o);
        }
        Ok(())
    }

    fn broadcast(&self, values: &mut [f32], root: usize) -> Result<(), Aborted> {
        assert!(
            root < self.size(),
            "broadcast from rank {root} of {}",
            self.size()
        );
        let mine = if self.rank == root {
            values.to_vec()
        } else {
            Vec::new()
        };
        let all = self.exchange(mine)?;
        values.copy_from_slice(&all[root]);
        Ok(())
    }

    fn all_gather(&self, values: &[f32]) -> Result<Vec<f32>, Aborted> {
        let all = self.exchange(values.to_vec())?;
        assert!(
            all.iter().all(|other| other.len() == values.len()),
            "all_gather: lengths differ"
        );
        Ok(all.concat())
    }

    fn barrier(&self) -> Result<(), Aborted> {
        self.exchange(Vec::new()).map(drop)
    }

    fn abort(&self, message: &str) {
        let mut state = self.lock();
        if state.aborted.is_none() {
            state.aborted = Some(Aborted {
                rank: self.rank,
                message: message.to_string(),
            });
        }
        self.shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operation_combines_the_ranks_in_rank_order() {
        let results = LocalRanks::run(3, |w| {
            let r = w.rank() as f32;
            let mut sum = vec![r, 10.0 * r];
            w.all_reduce_sum(&mut sum).unwrap();
            let mut from_two = vec![r; 2];
            w.broadcast(&mut from_two, 2).unwrap();
            let gathered = w.all_gather(&[r, -r]).unwrap();
            w.barrier().unwrap();
            // Many exchanges in a row keep their results apart.
            let mut last = 0.0;
            for step in 0..200 {
                let mut v = [r + step as f32];
                w.all_reduce_sum(&mut v).unwrap();
                last = v[0];
            }
            (w.size(), sum, from_two, gathered, last)
        });
        for (rank, (size, sum, from_two, gathered, last)) in results.into_iter().enumerate() {
            assert_eq!(size, 3, "rank {rank}");
            assert_eq!(sum, vec![3.0, 30.0]);
            assert_eq!(from_two, vec![2.0, 2.0]);
            assert_eq!(gathered, vec![0.0, -0.0, 1.0, -1.0, 2.0, -2.0]);
            assert_eq!(last, 3.0 + 3.0 * 199.0);
        }
    }

    #[test]
    fn an_abort_ends_the_other_ranks_waits_with_its_message() {
        let results = LocalRanks::run(3, |w| {
            if w.rank() == 1 {
                w.abort("out of memory");
                return Err(Aborted {
                    rank: 1,
                    message: "self".into(),
                });
            }
            // Ranks 0 and 2 wait for rank 1, which never comes.
            w.barrier()
        });
        let want = Aborted {
            rank: 1,
            message: "out of memory".into(),
        };
        assert_eq!(results[0], Err(want.clone()));
        assert_eq!(results[2], Err(want.clone()));
        assert_eq!(want.to_string(), "rank 1 of the run stopped: out of memory");
    }

    #[test]
    fn a_panicking_rank_aborts_the_others_and_its_panic_reaches_the_caller() {
        let outcome = std::panic::catch_unwind(|| {
            LocalRanks::run(2, |w| {
                if w.rank() == 0 {
                    panic!("rank 0 fails");
                }
                w.barrier()
            })
        });
        assert!(outcome.is_err(), "the panic is raised again");
    }

    #[test]
    fn a_single_process_is_the_identity() {
        let w = super::super::SingleProcess;
        let mut v = vec![1.0, 2.0];
        w.all_reduce_sum(&mut v).unwrap();
        w.broadcast(&mut v, 0).unwrap();
        assert_eq!(v, vec![1.0, 2.0]);
        assert_eq!(w.all_gather(&v).unwrap(), v);
        assert!(w.is_root() && w.size() == 1);
        w.barrier().unwrap();
    }
}
