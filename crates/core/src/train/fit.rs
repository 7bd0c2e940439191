//! The one training loop every method of every modality runs: batch of the step, forward under
//! the step's seed, NaN stop, collapse watch, backward, optimiser, schedule, after-step hook,
//! time-budget planning, held-out loss, metrics, checkpoints, exact resume. Under MPI (or
//! [`crate::collective::LocalRanks`]) the same loop is data-parallel ([`super::ranks`]): each
//! rank trains on its slice of the global batch, gradients are averaged, rank 0 plans and writes.

use std::path::Path;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

use super::checkpoint::{Checkpoints, TrainState, save_encoder};
use super::metrics::{
    COLLAPSE_SPREAD, MetricsLine, MetricsLog, Rate, TrainOptions, TrainSummary, check_loss,
};
use super::optim::{OptimizerConfig, build_optimizer};
use super::progress::{Observer, Silent, StepReport};
use super::ranks::{Next, Plan, Ranks};
use super::seed::{mix, with_seeded_device};
use super::shard::{Shard, part_of};
use crate::losses::normalized_spread;
use crate::method::{AfterStep, Method};

/// Steps timed before a `--minutes` budget fixes the length of the schedule.
const CALIBRATION_STEPS: usize = 5;
/// A time budget's schedule length is planned again every this many steps.
const REPLAN_EVERY: usize = 20;
/// The throughput shown is measured over windows of about this many seconds.
const RATE_WINDOW_S: f64 = 5.0;

/// The global L2 norm of `grads`, the gradients of `model`'s parameters.
pub fn gradient_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    struct SquaredNorm<'a> {
        grads: &'a GradientsParams,
        sum: f64,
    }
    impl ModuleVisitor for SquaredNorm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                self.sum += g.square().sum().into_scalar::<f64>();
            }
        }
    }
    let mut visitor = SquaredNorm { grads, sum: 0.0 };
    model.visit(&mut visitor);
    visitor.sum.sqrt()
}

/// Where the batches come from: the batch of step `s` must be a pure function of the run's seed
/// and `s`, so that a resumed run sees the batches an uninterrupted one would.
pub trait BatchSource {
    type Batch;
    /// The batch of `step`, or `None` when the data is exhausted (which ends the run). Steps
    /// are asked for in order, starting wherever the run resumes.
    fn batch(&mut self, step: usize) -> Option<Self::Batch>;

    /// Asks the source to yield only rank `rank` of `size`'s part of each global batch (see
    /// [`super::shard`]); a source that returns false yields whole batches, which the loop
    /// splits. Called once, before the first batch, in data-parallel runs only.
    fn yield_part(&mut self, _rank: usize, _size: usize) -> bool {
        false
    }
}

/// How long to train.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Budget {
    /// A fixed number of optimiser steps.
    Steps(usize),
    /// A wall-clock budget: the first steps are timed, then the schedule's length is planned
    /// (and planned again as the pace changes) so that it ends with the time.
    Minutes {
        minutes: f64,
        /// Never more steps than this.
        max_steps: Option<usize>,
    },
}

impl Budget {
    /// `steps` steps, or with `minutes` a time budget of at most `steps` steps: how the
    /// step-counted runs (series, text, audio, pairs) store theirs.
    pub fn of_run(steps: usize, minutes: Option<f64>) -> Self {
        match minutes {
            None => Budget::Steps(steps),
            Some(minutes) => Budget::Minutes {
                minutes,
                max_steps: Some(steps),
            },
        }
    }
}

/// The learning rate at each step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The optimiser's rate throughout.
    Constant,
    /// Linear warm-up and cosine decay from the optimiser's rate to `floor` times it (while a
    /// time budget is still being timed, a slow ramp).
    WarmupCosine { floor: f64 },
}

/// The numbers of one run's loop.
#[derive(Clone, Debug)]
pub struct LoopSettings {
    pub seed: u64,
    /// Stream of the per-step seed handed to [`Method::step`]; each modality keeps its own so
    /// that runs made before the loops were one stay reproducible.
    pub stream: u64,
    pub budget: Budget,
    pub optimizer: OptimizerConfig,
    pub schedule: Schedule,
    pub checkpoint_every: usize,
    pub log_every: usize,
    /// What one step consumes, for the throughput: `units_per_step` of `unit` (`images`...).
    pub unit: &'static str,
    pub units_per_step: usize,
    /// Steps in one pass over the data (for the `epoch` column).
    pub steps_per_epoch: f64,
}

impl LoopSettings {
    /// The learning rate of `step` when the run is planned for `total` steps.
    pub fn lr_at(&self, step: usize, total: Option<usize>) -> f64 {
        let peak = self.optimizer.lr;
        match self.schedule {
            Schedule::Constant => peak,
            Schedule::WarmupCosine { floor } => {
                let floor = total.map_or(0.0, |_| floor * peak);
                self.optimizer.lr_at(step, total).max(floor).min(peak)
            }
        }
    }
}

/// A loss measured on held-out data every so often (next-token runs).
pub trait Heldout<M> {
    /// Measure every this many steps (and when the run ends).
    fn every(&self) -> usize;
    fn loss(&mut self, model: &M) -> Option<f64>;
}

/// What [`fit`] hands back.
pub struct Fitted<M> {
    pub summary: TrainSummary,
    /// The method as the run left it (the newest checkpoint's when the run had already finished).
    pub model: M,
    /// Whether the run reached its end in this call (false when it stopped early, or had
    /// finished before).
    pub finished_now: bool,
}

/// Trains `model` (freshly initialised; replaced by the newest checkpoint on `--resume`) on
/// `source` into `run_dir`, reporting to `observer`. In a data-parallel run (the calling
/// thread's [`crate::collective::current`] world has several ranks) every rank calls it alike;
/// rank 0 alone writes and reports, and an error on any rank ends them all.
#[allow(clippy::too_many_arguments)]
pub fn fit<M, S>(
    model: M,
    source: &mut S,
    settings: &LoopSettings,
    run_dir: &Path,
    opts: &TrainOptions,
    heldout: Option<&mut dyn Heldout<M>>,
    observer: &mut dyn Observer,
) -> anyhow::Result<Fitted<M>>
where
    M: Method,
    M::Batch: Shard,
    S: BatchSource<Batch = M::Batch>,
{
    let mut ranks = Ranks::current();
    let mut silent = Silent;
    let observer = if ranks.is_root() {
        observer
    } else {
        &mut silent
    };
    let fitted = fit_ranks(
        model, source, settings, run_dir, opts, heldout, observer, &mut ranks,
    );
    if let Err(err) = &fitted {
        ranks.abort(err);
    }
    fitted
}

#[allow(clippy::too_many_arguments)]
fn fit_ranks<M, S>(
    model: M,
    source: &mut S,
    settings: &LoopSettings,
    run_dir: &Path,
    opts: &TrainOptions,
    mut heldout: Option<&mut dyn Heldout<M>>,
    observer: &mut dyn Observer,
    ranks: &mut Ranks,
) -> anyhow::Result<Fitted<M>>
where
    M: Method,
    M::Batch: Shard,
    S: BatchSource<Batch = M::Batch>,
{
    let root = ranks.is_root();
    let device = model
        .devices()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the method has no parameters"))?;
    let checkpoints = Checkpoints::new(run_dir);
    let fresh = TrainState::fresh(match settings.budget {
        Budget::Steps(n) => Some(n),
        Budget::Minutes { .. } => None,
    });
    // Rank 0 first: it recovers the run folder and sets damaged checkpoints aside; the others
    // then read the checkpoint it chose.
    let mut start = |model| {
        checkpoints.start(
            model,
            build_optimizer(&settings.optimizer),
            fresh.clone(),
            opts.resume,
            observer,
        )
    };
    let started = if root {
        Some(start(model.clone())?)
    } else {
        None
    };
    ranks.after_root()?;
    let (model, mut optim, mut state) = match started {
        Some(started) => started,
        None => start(model)?,
    };
    let mut model = ranks.start(model, state.step)?;
    let encoder_path = run_dir.join("encoder.safetensors");
    if state.finished {
        return Ok(Fitted {
            summary: TrainSummary::of_finished(&state, encoder_path),
            model,
            finished_now: false,
        });
    }
    let mut metrics = root
        .then(|| MetricsLog::open(run_dir, state.step))
        .transpose()?;
    let split_here = ranks.size() > 1 && !source.yield_part(ranks.rank(), ranks.size());
    let (budget_s, max_steps) = match settings.budget {
        Budget::Minutes { minutes, max_steps } => (Some(minutes * 60.0), max_steps),
        Budget::Steps(_) => (None, None),
    };
    let session_start = Instant::now();
    let elapsed_before = state.elapsed_s;
    let elapsed = || elapsed_before + session_start.elapsed().as_secs_f64();
    let mut calibration_start = None;
    let mut window_start = (Instant::now(), state.step);
    let mut steps_this_session = 0;
    let mut collapse_warnings = 0;
    let mut measured_at = None;

    loop {
        // Rank 0's clock decides, for every rank.
        let next = if state.total_steps.is_some_and(|t| state.step >= t)
            || max_steps.is_some_and(|m| state.step >= m)
            || budget_s.is_some_and(|b| elapsed() >= b)
        {
            Next::Finish
        } else if opts.stop_after.is_some_and(|s| steps_this_session >= s)
            || observer.stop_requested()
        {
            Next::Stop
        } else {
            Next::Go
        };
        let plan = ranks.agree(Plan {
            next,
            total_steps: state.total_steps,
        })?;
        state.total_steps = plan.total_steps;
        match plan.next {
            Next::Finish => {
                state.finished = true;
                break;
            }
            Next::Stop => break,
            Next::Go => {}
        }
        let Some(batch) = source.batch(state.step) else {
            state.finished = true;
            break;
        };
        let batch = if split_here {
            part_of(batch, ranks.rank(), ranks.size())?
        } else {
            batch
        };
        let mut seed = mix(settings.seed ^ settings.stream, state.step as u64);
        if ranks.size() > 1 {
            // Each rank's slice draws its own dropout and masks.
            seed = mix(seed, ranks.rank() as u64);
        }
        let out = with_seeded_device(&device, seed, || model.step(batch, seed));
        let loss = out.loss.clone().into_scalar::<f32>() as f64;
        check_loss(loss, state.step, &checkpoints)?;
        let log_now = state.step.is_multiple_of(settings.log_every);
        let spread = if log_now {
            normalized_spread(out.embeddings.clone())
        } else {
            f64::NAN
        };
        let lr = settings.lr_at(state.step, state.total_steps);
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        let (grads, loss) = ranks.average(&model, grads, loss)?;
        let grad_norm = log_now.then(|| gradient_norm(&model, &grads));
        model = optim.step(lr, model, grads);
        state.step += 1;
        steps_this_session += 1;
        let progress = state
            .total_steps
            .map_or(0.0, |t| state.step as f64 / t as f64);
        model = model.after_step(
            AfterStep {
                step: state.step,
                progress,
            },
            out.carry,
        );
        state.last_loss = Some(loss);

        if let Some(budget) = budget_s {
            let now = elapsed();
            // Steps that fit the rest of the budget at the pace since `(t0, s0)`.
            let plan = |t0: Instant, s0: usize, step: usize| {
                let per_step = t0.elapsed().as_secs_f64() / (step - s0) as f64;
                let planned = step + ((budget - now) / per_step).floor().max(0.0) as usize;
                max_steps.map_or(planned, |m| planned.min(m))
            };
            match (state.total_steps, calibration_start) {
                // Time the steps after the first (which pays one-off allocation costs).
                (None, None) if state.step >= 1 => {
                    calibration_start = Some((Instant::now(), state.step))
                }
                (None, Some((t0, s0))) if state.step >= s0 + CALIBRATION_STEPS => {
                    state.total_steps = Some(plan(t0, s0, state.step));
                    calibration_start = Some((Instant::now(), state.step));
                }
                // The pace changes (other load, a resumed run on another machine): plan again
                // from the last stretch so the schedule ends when the time does.
                (Some(_), Some((t0, s0))) if state.step >= s0 + REPLAN_EVERY => {
                    state.total_steps = Some(plan(t0, s0, state.step));
                    calibration_start = Some((Instant::now(), state.step));
                }
                (Some(_), None) => calibration_start = Some((Instant::now(), state.step)),
                _ => {}
            }
        }

        let at_end = state.total_steps.is_some_and(|t| state.step >= t);
        let measure = heldout
            .as_ref()
            .is_some_and(|h| state.step.is_multiple_of(h.every()) || at_end);
        if measure
            && root
            && let Some(h) = heldout.as_mut()
        {
            state.val_loss = h.loss(&model);
            measured_at = Some(state.step);
        }

        let (t0, s0) = window_start;
        let window_s = t0.elapsed().as_secs_f64();
        let units_per_step = settings.units_per_step as f64;
        let per_s = (state.step - s0) as f64 * units_per_step / window_s.max(1e-9);
        if window_s > RATE_WINDOW_S {
            window_start = (Instant::now(), state.step);
        }
        let now = elapsed();
        let val_loss = if measure { state.val_loss } else { None };
        observer.step(&StepReport {
            step: state.step,
            total: state.total_steps,
            loss,
            lr,
            per_s,
            unit: settings.unit,
            eta_s: state
                .total_steps
                .map(|t| t.saturating_sub(state.step) as f64 * units_per_step / per_s.max(1e-9)),
            val_loss,
        });
        if let Some(metrics) = metrics.as_mut()
            && (log_now || measure)
        {
            metrics.write(&MetricsLine {
                step: state.step,
                epoch: state.step as f64 / settings.steps_per_epoch,
                loss,
                lr,
                rate: Rate::new(settings.unit, per_s),
                spread,
                elapsed_s: now,
                val_loss,
                grad_norm,
                method: out
                    .metrics
                    .iter()
                    .map(|&(name, value)| (name.to_string(), value))
                    .collect(),
            })?;
            if let Some(warning) = model.health(&out.metrics) {
                collapse_warnings += 1;
                observer.message(&format!("warning: step {}: {warning}", state.step));
            }
            if model.watches_collapse() && spread < COLLAPSE_SPREAD {
                collapse_warnings += 1;
                observer.message(&format!(
                    "warning: step {}: embeddings are collapsing (normalised spread {spread:.3}, healthy is about 1)",
                    state.step
                ));
            }
        }
        if state.step.is_multiple_of(settings.checkpoint_every) {
            model = ranks.average_buffers(model)?;
            if root {
                state.elapsed_s = now;
                checkpoints.save(&model, &optim, &state)?;
                save_encoder(model.encoder(), &encoder_path)?;
            }
        }
    }
    if let Some((seconds, bytes)) = ranks.exchange_cost() {
        observer.message(&format!(
            "{} ranks: gradient exchange {:.1} ms per step, {:.1} MB from each rank",
            ranks.size(),
            seconds * 1e3,
            bytes as f64 / 1e6
        ));
    }
    observer.finish();
    let model = ranks.average_buffers(model)?;
    if !root {
        return Ok(Fitted {
            summary: TrainSummary::of_finished(&state, encoder_path),
            model,
            finished_now: state.finished,
        });
    }
    if let Some(h) = heldout.as_mut()
        && let Some(metrics) = metrics.as_mut()
        && measured_at != Some(state.step)
    {
        // The run stopped between measurements (its time ran out, or it was interrupted).
        state.val_loss = h.loss(&model);
        metrics.write(&MetricsLine {
            step: state.step,
            epoch: state.step as f64 / settings.steps_per_epoch,
            loss: state.last_loss.unwrap_or(f64::NAN),
            lr: f64::NAN,
            rate: Rate::new(settings.unit, f64::NAN),
            spread: f64::NAN,
            elapsed_s: elapsed(),
            val_loss: state.val_loss,
            grad_norm: None,
            method: Default::default(),
        })?;
    }
    state.elapsed_s = elapsed();
    checkpoints.save(&model, &optim, &state)?;
    save_encoder(model.encoder(), &encoder_path)?;
    Ok(Fitted {
        summary: TrainSummary {
            collapse_warnings,
            ..TrainSummary::of_finished(&state, encoder_path)
        },
        model,
        finished_now: state.finished,
    })
}
