//! The training loop every method runs: batches from the prefetcher, forward, loss, backward,
//! optimiser step, schedule, after-step hook, metrics, checkpoints, NaN and collapse watch.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoints, TrainState, save_encoder};
use super::config::{Budget, RunConfig};
use super::optim::build_optimizer;
use super::progress::{Progress, StepReport};
use super::seed::seeded_init;
use crate::augment::image::{mix, normalise_batch};
use crate::augment::prefetch::Prefetcher;
use crate::data::ImageSet;
use crate::methods::{Method, losses::normalized_spread};

/// Stream of the per-step seed handed to [`Method::step_seeded`] (apart from the augmentations').
const METHOD_STREAM: u64 = 0x4d45_5448_4f44;
/// Images in the picture a method draws at the end of a run ([`Method::write_artifacts`]).
const ARTIFACT_IMAGES: usize = 8;
/// Steps timed before a `--minutes` budget fixes the length of the schedule.
const CALIBRATION_STEPS: usize = 5;
/// A time budget's schedule length is planned again every this many steps.
const REPLAN_EVERY: usize = 20;
/// Below this normalised spread the embeddings are reported as collapsing.
pub const COLLAPSE_SPREAD: f64 = 0.1;

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsLine {
    pub step: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub epoch: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub loss: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub lr: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub images_per_s: f64,
    /// Normalised spread of the embeddings (about 1 healthy, near 0 collapsed).
    #[serde(deserialize_with = "nan_if_null")]
    pub spread: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub elapsed_s: f64,
    /// Held-out loss (next-token training: nats per token), on the steps where it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
}

/// JSON has no NaN: serde_json writes it as `null`; read it back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    pub steps: usize,
    pub final_loss: f64,
    pub elapsed_s: f64,
    pub encoder_path: PathBuf,
    /// Logged steps of this session whose spread was below [`COLLAPSE_SPREAD`].
    pub collapse_warnings: usize,
    /// The final held-out loss, for methods that measure one (next-token training).
    pub val_loss: Option<f64>,
}

impl TrainSummary {
    /// The summary a run's saved state gives (a resumed finished run reports its own figures).
    pub fn of_finished(state: &TrainState, encoder_path: PathBuf) -> Self {
        Self {
            steps: state.step,
            final_loss: state.last_loss.unwrap_or(f64::NAN),
            elapsed_s: state.elapsed_s,
            encoder_path,
            collapse_warnings: 0,
            val_loss: state.val_loss,
        }
    }
}

/// Options of one invocation of the loop that are not part of the run's config.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// Continue from the newest checkpoint in the run folder.
    pub resume: bool,
    /// Print nothing.
    pub quiet: bool,
    /// Stop (with a checkpoint) after this many steps in this session; for tests of resume.
    pub stop_after: Option<usize>,
}

/// Pre-trains method `M` on `data` (labels ignored) into `run_dir`.
pub fn pretrain_with<M: Method>(
    cfg: &RunConfig,
    data: Arc<ImageSet>,
    run_dir: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainSummary> {
    let n = data.len();
    if n < cfg.batch_size {
        bail!(
            "{}: {n} training images is fewer than one batch of {}; lower --batch-size",
            cfg.data.display(),
            cfg.batch_size
        );
    }
    if cfg.batch_size < 2 {
        bail!("--batch-size must be at least 2 (contrastive losses need negatives)");
    }
    let steps_per_epoch = n / cfg.batch_size;
    crate::alloc::keep_freed_memory();
    let device = cfg.device.device()?.autodiff();
    let model = seeded_init(&device, cfg.seed, || {
        let encoder = cfg.new_encoder(&device);
        M::new(&cfg.method_config, encoder, &device)
    });
    let checkpoints = Checkpoints::new(run_dir);
    let fresh = TrainState::fresh(match cfg.budget {
        Budget::Epochs(e) => Some(e.saturating_mul(steps_per_epoch)),
        Budget::Minutes(_) => None,
    });
    let (mut model, mut optim, mut state) =
        checkpoints.start(model, build_optimizer(&cfg.optimizer), fresh, opts.resume)?;
    let encoder_path = run_dir.join("encoder.safetensors");
    if state.finished {
        return Ok(TrainSummary::of_finished(&state, encoder_path));
    }
    let mut metrics = MetricsLog::open(run_dir, state.step)?;

    let views = cfg
        .method_config
        .views
        .views::<M>(cfg.channels, cfg.image_size)?;
    let images_per_step = cfg.batch_size * views.len();
    let mut prefetch = Prefetcher::spawn(
        data.clone(),
        views,
        cfg.batch_size,
        cfg.seed,
        state.step,
        // A time budget's length moves with its plan; the loop stops at it.
        match cfg.budget {
            Budget::Epochs(_) => state.total_steps,
            Budget::Minutes(_) => None,
        },
        3,
    );
    let budget_s = match cfg.budget {
        Budget::Minutes(m) => Some(m * 60.0),
        Budget::Epochs(_) => None,
    };
    let mut progress = Progress::new(opts.quiet);
    let session_start = Instant::now();
    let elapsed_before = state.elapsed_s;
    let mut calibration_start = None;
    let mut window_start = (Instant::now(), state.step);
    let mut steps_this_session = 0;
    let mut collapse_warnings = 0;

    loop {
        let elapsed = elapsed_before + session_start.elapsed().as_secs_f64();
        if state.total_steps.is_some_and(|t| state.step >= t)
            || budget_s.is_some_and(|b| elapsed >= b)
        {
            state.finished = true;
            break;
        }
        if opts.stop_after.is_some_and(|s| steps_this_session >= s) {
            break;
        }
        let Some(batch) = prefetch.next() else {
            state.finished = true;
            break;
        };
        let shapes: Vec<[usize; 4]> = (0..batch.views.len()).map(|v| batch.shape(v)).collect();
        let inputs: Vec<Tensor<4>> = batch
            .views
            .into_iter()
            .zip(shapes)
            .map(|(v, shape)| Tensor::from_data(TensorData::new(v, shape), &device))
            .collect();

        let out = model.step_seeded(inputs, mix(cfg.seed ^ METHOD_STREAM, state.step as u64));
        let loss_value = out.loss.clone().into_scalar::<f32>() as f64;
        check_loss(loss_value, state.step, &checkpoints)?;
        let log_now = state.step.is_multiple_of(cfg.log_every);
        let spread = if log_now {
            normalized_spread(out.embeddings.clone())
        } else {
            f64::NAN
        };
        let lr = cfg.optimizer.lr_at(state.step, state.total_steps);
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(lr, model, grads);
        state.step += 1;
        steps_this_session += 1;
        let progress_fraction = state
            .total_steps
            .map_or(0.0, |t| state.step as f64 / t as f64);
        model = model.after_step(progress_fraction, out.carry);
        state.last_loss = Some(loss_value);

        if let Some(budget) = budget_s {
            let elapsed = elapsed_before + session_start.elapsed().as_secs_f64();
            // Steps that fit the rest of the budget at the pace since `(t0, s0)`.
            let plan = |t0: Instant, s0: usize, step: usize| {
                let per_step = t0.elapsed().as_secs_f64() / (step - s0) as f64;
                step + ((budget - elapsed) / per_step).floor().max(0.0) as usize
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
                // from the last stretch so the cosine ends when the time does.
                (Some(_), Some((t0, s0))) if state.step >= s0 + REPLAN_EVERY => {
                    state.total_steps = Some(plan(t0, s0, state.step));
                    calibration_start = Some((Instant::now(), state.step));
                }
                (Some(_), None) => calibration_start = Some((Instant::now(), state.step)),
                _ => {}
            }
        }

        let (t0, s0) = window_start;
        let window_s = t0.elapsed().as_secs_f64();
        let images_per_s = (state.step - s0) as f64 * images_per_step as f64 / window_s.max(1e-9);
        if window_s > 5.0 {
            window_start = (Instant::now(), state.step);
        }
        let elapsed = elapsed_before + session_start.elapsed().as_secs_f64();
        let eta_s = state.total_steps.map(|t| {
            (t.saturating_sub(state.step)) as f64 * images_per_step as f64 / images_per_s.max(1e-9)
        });
        progress.update(&StepReport {
            step: state.step,
            total: state.total_steps,
            loss: loss_value,
            lr,
            images_per_s,
            eta_s,
        });
        if log_now {
            let line = MetricsLine {
                step: state.step,
                epoch: state.step as f64 / steps_per_epoch as f64,
                loss: loss_value,
                lr,
                images_per_s,
                spread,
                elapsed_s: elapsed,
                val_loss: None,
            };
            metrics.write(&line)?;
            if M::watches_collapse() && spread < COLLAPSE_SPREAD {
                collapse_warnings += 1;
                progress.message(&format!(
                    "warning: step {}: embeddings are collapsing (normalised spread {spread:.3}, healthy is about 1)",
                    state.step
                ));
            }
        }
        if state.step.is_multiple_of(cfg.checkpoint_every) {
            state.elapsed_s = elapsed;
            checkpoints.save(&model, &optim, &state)?;
            save_encoder(model.encoder(), &encoder_path)?;
        }
    }
    progress.finish();
    state.elapsed_s = elapsed_before + session_start.elapsed().as_secs_f64();
    checkpoints.save(&model, &optim, &state)?;
    save_encoder(model.encoder(), &encoder_path)?;
    if state.finished {
        write_artifacts(
            &model,
            &data,
            cfg.image_size,
            &cfg.device.device()?,
            run_dir,
        )?;
    }
    Ok(TrainSummary {
        collapse_warnings,
        ..TrainSummary::of_finished(&state, encoder_path)
    })
}

/// Lets the method draw its pictures from the first training images, un-augmented, with the
/// evaluation copy of the model.
fn write_artifacts<M: Method>(
    model: &M,
    data: &ImageSet,
    size: usize,
    device: &Device,
    run_dir: &Path,
) -> anyhow::Result<()> {
    let n = data.len().min(ARTIFACT_IMAGES);
    let indices: Vec<usize> = (0..n).collect();
    let model = model.valid();
    let batch = Tensor::<4>::from_data(
        TensorData::new(
            normalise_batch(data, &indices, size),
            [n, data.channels, size, size],
        ),
        device,
    );
    model
        .write_artifacts(&[batch], run_dir)
        .context("writing the method's pictures")
}

/// A run's `metrics.jsonl`, open for appending.
pub struct MetricsLog {
    path: PathBuf,
    file: fs::File,
}

impl MetricsLog {
    /// Opens `run_dir/metrics.jsonl`, first dropping the lines past `step` (written after the
    /// checkpoint a resumed run starts from).
    pub fn open(run_dir: &Path, step: usize) -> anyhow::Result<Self> {
        let path = run_dir.join("metrics.jsonl");
        truncate_metrics(&path, step)?;
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        Ok(Self { path, file })
    }

    pub fn write(&mut self, line: &MetricsLine) -> anyhow::Result<()> {
        writeln!(self.file, "{}", serde_json::to_string(line)?)
            .with_context(|| format!("{}: cannot write", self.path.display()))
    }
}

/// Fails when `loss` is not finite, naming the step and the last good checkpoint (which stays).
pub fn check_loss(loss: f64, step: usize, checkpoints: &Checkpoints) -> anyhow::Result<()> {
    if loss.is_finite() {
        return Ok(());
    }
    let kept = checkpoints
        .latest()
        .map_or("no checkpoint yet".to_string(), |p| p.display().to_string());
    bail!(
        "loss became {loss} at step {step}; training stopped (last good checkpoint: {kept}). \
         Try a lower learning rate (--lr) or a larger batch."
    )
}

/// Drops metric lines past `step` (written after the checkpoint a resume starts from).
fn truncate_metrics(path: &Path, step: usize) -> anyhow::Result<()> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<MetricsLine>(line).is_ok_and(|m| m.step <= step && step > 0)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    super::checkpoint::write_atomic(path, kept.as_bytes())
}

/// Reads every line of a run's `metrics.jsonl`.
pub fn read_metrics(run_dir: &Path) -> anyhow::Result<Vec<MetricsLine>> {
    let path = run_dir.join("metrics.jsonl");
    let text =
        fs::read_to_string(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{}:{}: invalid metrics line", path.display(), i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_lines_with_missing_figures_read_back_as_nan() {
        let line = MetricsLine {
            step: 3,
            epoch: 0.5,
            loss: 1.0,
            lr: f64::NAN,
            images_per_s: f64::NAN,
            spread: f64::NAN,
            elapsed_s: 2.0,
            val_loss: Some(1.5),
        };
        let json = serde_json::to_string(&line).expect("serialisable");
        assert!(json.contains("\"spread\":null"), "{json}");
        let back: MetricsLine = serde_json::from_str(&json).expect("NaN figures read back");
        assert!(back.spread.is_nan() && back.lr.is_nan());
        assert_eq!((back.step, back.val_loss), (3, Some(1.5)));
    }
}
