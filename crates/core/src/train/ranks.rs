//! The training loop's side of a data-parallel run (issue 27): the ranks start from rank 0's
//! parameters, agree on rank 0's plan every step (stop or go on, the schedule's length, which a
//! `--minutes` budget moves), and average their gradients and losses. In a world of one every
//! operation is free and the loop is the single-process loop.

use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;

use crate::collective::{
    Collective, average_buffers, average_gradients_and, broadcast_module, current, exchanged_values,
};

/// This process's world, as the loop uses it, with the cost of its gradient exchanges.
pub struct Ranks {
    world: Arc<dyn Collective>,
    /// Seconds spent in gradient exchanges, and their count.
    exchange_s: f64,
    exchanges: usize,
    /// Values each exchange sends (gradients, flags, the loss).
    exchange_values: usize,
}

/// What rank 0 decided for the coming step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    pub next: Next,
    pub total_steps: Option<usize>,
}

/// Whether the run takes another step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    Go,
    /// Stop for now (`--stop-after`), to be resumed.
    Stop,
    /// The run has reached its end.
    Finish,
}

impl Ranks {
    /// The calling thread's world ([`current`]).
    pub fn current() -> Self {
        Self {
            world: current(),
            exchange_s: 0.0,
            exchanges: 0,
            exchange_values: 0,
        }
    }

    pub fn rank(&self) -> usize {
        self.world.rank()
    }

    pub fn size(&self) -> usize {
        self.world.size()
    }

    /// Whether this rank writes the run's files and reports its progress.
    pub fn is_root(&self) -> bool {
        self.world.is_root()
    }

    /// Every rank returns once rank 0 has done what must come first (recovering the run
    /// folder, setting damaged checkpoints aside).
    pub fn after_root(&self) -> anyhow::Result<()> {
        Ok(self.world.barrier()?)
    }

    /// `model` with rank 0's parameters, after checking that every rank starts at rank 0's
    /// step (a resumed run reads the checkpoint on every rank).
    pub fn start<M: Module>(&self, model: M, step: usize) -> anyhow::Result<M> {
        if self.size() == 1 {
            return Ok(model);
        }
        let mut root_step = [step as f32];
        self.world.broadcast(&mut root_step, 0)?;
        if root_step[0] as usize != step {
            anyhow::bail!(
                "rank {} resumes at step {step} but rank 0 at step {}: every rank must see the run folder's checkpoints (put it on a file system they share)",
                self.rank(),
                root_step[0]
            );
        }
        Ok(broadcast_module(model, self.world.as_ref(), 0)?)
    }

    /// `model` with its buffers (running statistics) averaged over the ranks: before rank 0
    /// saves it.
    pub fn average_buffers<M: Module>(&self, model: M) -> anyhow::Result<M> {
        Ok(average_buffers(model, self.world.as_ref())?)
    }

    /// Rank 0's `plan`, on every rank.
    pub fn agree(&self, plan: Plan) -> anyhow::Result<Plan> {
        if self.size() == 1 {
            return Ok(plan);
        }
        // f32 holds step counts exactly up to 2^24.
        let next = match plan.next {
            Next::Go => 0.0,
            Next::Stop => 1.0,
            Next::Finish => 2.0,
        };
        let mut values = [next, plan.total_steps.map_or(-1.0, |t| t as f32)];
        self.world.broadcast(&mut values, 0)?;
        Ok(Plan {
            next: match values[0] as u8 {
                0 => Next::Go,
                1 => Next::Stop,
                _ => Next::Finish,
            },
            total_steps: (values[1] >= 0.0).then_some(values[1] as usize),
        })
    }

    /// The ranks' mean gradients and mean loss.
    pub fn average<M: Module>(
        &mut self,
        model: &M,
        grads: GradientsParams,
        loss: f64,
    ) -> anyhow::Result<(GradientsParams, f64)> {
        if self.size() == 1 {
            return Ok((grads, loss));
        }
        let started = Instant::now();
        let mut extra = [loss as f32];
        let grads = average_gradients_and(model, grads, &mut extra, self.world.as_ref())?;
        self.exchange_s += started.elapsed().as_secs_f64();
        self.exchanges += 1;
        if self.exchange_values == 0 {
            self.exchange_values = exchanged_values(model, extra.len());
        }
        Ok((grads, f64::from(extra[0])))
    }

    /// The mean time of a gradient exchange and the bytes each rank contributes to one
    /// (`None` in a world of one or before the first).
    pub fn exchange_cost(&self) -> Option<(f64, usize)> {
        (self.exchanges > 0).then(|| {
            (
                self.exchange_s / self.exchanges as f64,
                self.exchange_values * size_of::<f32>(),
            )
        })
    }

    /// Ends the run on every rank with `err` (the other ranks' operations fail naming this one).
    pub fn abort(&self, err: &anyhow::Error) {
        if self.size() > 1 {
            self.world.abort(&format!("{err:#}"));
        }
    }
}
