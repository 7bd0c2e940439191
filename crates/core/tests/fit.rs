//! The one loop on a toy method: every behaviour each modality relies on, once, quickly.

use std::cell::RefCell;
use std::fs;
use std::path::Path;
use std::rc::Rc;

use autodidact_core::collective::{Collective, LocalRanks};
use autodidact_core::error::TrainError;
use autodidact_core::method::{Method, StepOutput};
use autodidact_core::train::fit::{
    BatchSource, Budget, Fitted, Heldout, LoopSettings, Schedule, fit,
};
use autodidact_core::train::metrics::{TrainOptions, read_metrics};
use autodidact_core::train::optim::OptimizerConfig;
use autodidact_core::train::progress::{Observer, Silent, StepReport};
use autodidact_core::train::seed::{mix, seeded_init};
use autodidact_core::train::shard::Shard;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Fits `y = x W` for a fixed `W`; can turn its loss NaN at one step, collapse its embeddings,
/// or take its time.
#[derive(Module, Debug)]
struct Toy {
    encoder: Linear,
    nan_at: usize,
    collapse: bool,
    watches: bool,
    sleep_ms: u64,
}

impl Toy {
    fn new(device: &Device) -> Self {
        Self {
            encoder: LinearConfig::new(4, 3).init(device),
            nan_at: usize::MAX,
            collapse: false,
            watches: true,
            sleep_ms: 0,
        }
    }
}

/// A batch: inputs and the targets a fixed linear map gives them.
struct Pairs {
    x: Tensor<2>,
    y: Tensor<2>,
    step: usize,
}

impl Shard for Pairs {
    fn samples(&self) -> usize {
        self.x.dims()[0]
    }

    fn slice_samples(self, range: std::ops::Range<usize>) -> Self {
        Self {
            x: self.x.slice_samples(range.clone()),
            y: self.y.slice_samples(range),
            step: self.step,
        }
    }
}

impl Method for Toy {
    type Batch = Pairs;
    type Encoder = Linear;

    fn step(&self, batch: Pairs, _seed: u64) -> StepOutput {
        std::thread::sleep(std::time::Duration::from_millis(self.sleep_ms));
        let z = self.encoder.forward(batch.x);
        let mut loss = (z.clone() - batch.y).square().mean();
        if batch.step == self.nan_at {
            loss = loss.mul_scalar(f32::NAN);
        }
        let embeddings = if self.collapse {
            z.clone().mul_scalar(0.0).add_scalar(1.0)
        } else {
            z
        };
        StepOutput::new(loss, embeddings)
    }

    fn encoder(&self) -> &Linear {
        &self.encoder
    }

    fn watches_collapse(&self) -> bool {
        self.watches
    }
}

/// Eight seeded pairs per step.
struct Seeded {
    seed: u64,
    device: Device,
}

impl BatchSource for Seeded {
    type Batch = Pairs;

    fn batch(&mut self, step: usize) -> Option<Pairs> {
        let mut rng = StdRng::seed_from_u64(mix(self.seed, step as u64));
        let x: Vec<f32> = (0..32).map(|_| rng.random_range(-1.0..1.0)).collect();
        let y: Vec<f32> = x
            .chunks(4)
            .flat_map(|r| [r[0] - r[1], r[2] + r[3], 0.5 * r[0]])
            .collect();
        Some(Pairs {
            x: Tensor::from_data(TensorData::new(x, [8, 4]), &self.device),
            y: Tensor::from_data(TensorData::new(y, [8, 3]), &self.device),
            step,
        })
    }
}

fn settings(budget: Budget) -> LoopSettings {
    LoopSettings {
        seed: 3,
        stream: 7,
        budget,
        optimizer: OptimizerConfig {
            lr: 0.05,
            ..OptimizerConfig::default()
        },
        schedule: Schedule::WarmupCosine { floor: 0.0 },
        checkpoint_every: 2,
        log_every: 1,
        unit: "pairs",
        units_per_step: 8,
        steps_per_epoch: 4.0,
    }
}

fn device() -> Device {
    Device::flex().autodiff()
}

fn toy(tweak: impl FnOnce(&mut Toy)) -> Toy {
    let device = device();
    let mut toy = seeded_init(&device, 1, || Toy::new(&device));
    tweak(&mut toy);
    toy
}

fn run(
    model: Toy,
    budget: Budget,
    dir: &Path,
    opts: &TrainOptions,
    observer: &mut dyn Observer,
) -> anyhow::Result<Fitted<Toy>> {
    let mut source = Seeded {
        seed: 3,
        device: device(),
    };
    fit(
        model,
        &mut source,
        &settings(budget),
        dir,
        opts,
        None,
        observer,
    )
}

fn quiet() -> TrainOptions {
    TrainOptions {
        quiet: true,
        ..TrainOptions::default()
    }
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let whole = tempfile::tempdir().unwrap();
    let a = run(
        toy(|_| ()),
        Budget::Steps(20),
        whole.path(),
        &quiet(),
        &mut Silent,
    )
    .unwrap();
    assert!(a.finished_now);
    assert_eq!(a.summary.steps, 20);

    let parts = tempfile::tempdir().unwrap();
    let first = TrainOptions {
        stop_after: Some(4),
        ..quiet()
    };
    let stopped = run(
        toy(|_| ()),
        Budget::Steps(20),
        parts.path(),
        &first,
        &mut Silent,
    )
    .unwrap();
    assert!(!stopped.finished_now);
    assert_eq!(stopped.summary.steps, 4);
    let resume = TrainOptions {
        resume: true,
        ..quiet()
    };
    let b = run(
        toy(|_| ()),
        Budget::Steps(20),
        parts.path(),
        &resume,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(b.summary.steps, 20);
    assert_eq!(a.summary.final_loss, b.summary.final_loss);
    let bytes = |dir: &Path| fs::read(dir.join("encoder.safetensors")).unwrap();
    assert_eq!(
        bytes(whole.path()),
        bytes(parts.path()),
        "same exported encoder"
    );
    let losses =
        |dir: &Path| -> Vec<f64> { read_metrics(dir).unwrap().iter().map(|m| m.loss).collect() };
    assert_eq!(
        losses(whole.path()),
        losses(parts.path()),
        "same loss curve"
    );
    let curve = losses(whole.path());
    assert!(curve[19] < 0.5 * curve[0], "the toy learns: {curve:?}");
}

/// Asks the loop to stop once it has heard `after` steps.
struct StopAfter {
    after: usize,
    heard: usize,
}

impl Observer for StopAfter {
    fn step(&mut self, _: &StepReport) {
        self.heard += 1;
    }

    fn message(&mut self, _: &str) {}

    fn stop_requested(&mut self) -> bool {
        self.heard >= self.after
    }
}

#[test]
fn an_observer_that_asks_to_stop_gets_a_checkpoint_the_run_resumes_from() {
    let dir = tempfile::tempdir().unwrap();
    let mut stopper = StopAfter { after: 3, heard: 0 };
    let stopped = run(
        toy(|_| ()),
        Budget::Steps(10),
        dir.path(),
        &quiet(),
        &mut stopper,
    )
    .unwrap();
    assert!(!stopped.finished_now);
    assert_eq!(stopped.summary.steps, 3);
    let resume = TrainOptions {
        resume: true,
        ..quiet()
    };
    let resumed = run(
        toy(|_| ()),
        Budget::Steps(10),
        dir.path(),
        &resume,
        &mut Silent,
    )
    .unwrap();
    assert!(resumed.finished_now);
    assert_eq!(resumed.summary.steps, 10);
}

#[test]
fn a_finished_run_is_reported_from_its_state_without_training() {
    let dir = tempfile::tempdir().unwrap();
    let done = run(
        toy(|_| ()),
        Budget::Steps(5),
        dir.path(),
        &quiet(),
        &mut Silent,
    )
    .unwrap();
    let lines = read_metrics(dir.path()).unwrap().len();
    let resume = TrainOptions {
        resume: true,
        ..quiet()
    };
    let again = run(
        toy(|_| ()),
        Budget::Steps(5),
        dir.path(),
        &resume,
        &mut Silent,
    )
    .unwrap();
    assert!(!again.finished_now);
    assert_eq!(again.summary.steps, 5);
    assert_eq!(again.summary.final_loss, done.summary.final_loss);
    assert_eq!(
        read_metrics(dir.path()).unwrap().len(),
        lines,
        "nothing was logged"
    );
}

#[test]
fn a_nan_loss_stops_the_run_and_names_the_checkpoint_it_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let err = run(
        toy(|t| t.nan_at = 5),
        Budget::Steps(20),
        dir.path(),
        &quiet(),
        &mut Silent,
    )
    .err()
    .expect("a NaN loss is an error");
    // A caller tells it from a bad file by its type, not its words.
    match err.downcast_ref::<TrainError>() {
        Some(TrainError::LossNotFinite { step: 5, kept, .. }) => {
            assert!(
                kept.as_ref().is_some_and(|k| k.ends_with("step-00000004")),
                "{kept:?}"
            )
        }
        other => panic!("a typed NaN stop, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("NaN") && msg.contains("step 5"), "{msg}");
    let kept = msg
        .split("last good checkpoint: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("names the kept checkpoint: {msg}"));
    assert!(Path::new(kept).is_dir(), "{kept}");
    assert!(
        kept.ends_with("step-00000004"),
        "the one after step 4: {kept}"
    );
}

/// Collects what the loop reports.
#[derive(Default)]
struct Recorder {
    messages: Vec<String>,
    steps: Vec<(usize, String)>,
    finished: bool,
}

impl Observer for Recorder {
    fn step(&mut self, report: &StepReport) {
        self.steps.push((report.step, report.unit.to_string()));
    }
    fn message(&mut self, text: &str) {
        self.messages.push(text.to_string());
    }
    fn finish(&mut self) {
        self.finished = true;
    }
}

#[test]
fn collapse_is_warned_about_and_counted_unless_the_method_cannot_collapse() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Recorder::default();
    let fitted = run(
        toy(|t| t.collapse = true),
        Budget::Steps(4),
        dir.path(),
        &quiet(),
        &mut seen,
    )
    .unwrap();
    assert_eq!(fitted.summary.collapse_warnings, 4);
    assert_eq!(seen.messages.len(), 4);
    assert!(
        seen.messages[0].contains("collapsing"),
        "{:?}",
        seen.messages
    );
    assert_eq!(seen.steps.len(), 4);
    assert!(seen.steps.iter().all(|(_, unit)| unit == "pairs"));
    assert!(seen.finished);

    let healthy = tempfile::tempdir().unwrap();
    let fine = run(
        toy(|_| ()),
        Budget::Steps(4),
        healthy.path(),
        &quiet(),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(fine.summary.collapse_warnings, 0);
    let unwatched = tempfile::tempdir().unwrap();
    let off = run(
        toy(|t| {
            t.collapse = true;
            t.watches = false
        }),
        Budget::Steps(4),
        unwatched.path(),
        &quiet(),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(off.summary.collapse_warnings, 0);
}

#[test]
fn metrics_name_the_unit_of_their_throughput() {
    let dir = tempfile::tempdir().unwrap();
    run(
        toy(|_| ()),
        Budget::Steps(3),
        dir.path(),
        &quiet(),
        &mut Silent,
    )
    .unwrap();
    let text = fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    assert!(
        text.lines().all(|l| l.contains("\"pairs_per_s\":")),
        "{text}"
    );
    assert!(!text.contains("images_per_s"));
    let lines = read_metrics(dir.path()).unwrap();
    assert_eq!(lines[0].rate.unit, "pairs");
    assert_eq!(lines[2].epoch, 3.0 / 4.0);
}

#[test]
fn a_time_budget_plans_the_schedule_to_end_with_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let minutes = 0.025; // 1.5 s at about 20 ms a step: some 75 steps
    let fitted = run(
        toy(|t| t.sleep_ms = 20),
        Budget::Minutes {
            minutes,
            max_steps: None,
        },
        dir.path(),
        &quiet(),
        &mut Silent,
    )
    .unwrap();
    assert!(fitted.finished_now);
    let s = fitted.summary;
    assert!(s.steps > 20, "{} steps", s.steps);
    assert!(s.elapsed_s >= minutes * 60.0 * 0.9, "{} s", s.elapsed_s);
    let lines = read_metrics(dir.path()).unwrap();
    let last = lines.last().unwrap();
    // The cosine was planned to end with the time: the last rate is near the end of the decay.
    assert!(last.lr < 0.2 * 0.05, "last lr {}", last.lr);
    let peak = lines.iter().map(|l| l.lr).fold(0.0, f64::max);
    assert!(
        peak > 0.5 * 0.05,
        "the schedule warmed up to near its peak: {peak}"
    );
}

#[test]
fn a_step_cap_ends_a_time_budget_early() {
    let dir = tempfile::tempdir().unwrap();
    let fitted = run(
        toy(|_| ()),
        Budget::Minutes {
            minutes: 10.0,
            max_steps: Some(3),
        },
        dir.path(),
        &quiet(),
        &mut Silent,
    )
    .unwrap();
    assert!(fitted.finished_now);
    assert_eq!(fitted.summary.steps, 3);
}

/// Counts the held-out measurements.
struct Counting {
    at: Rc<RefCell<Vec<usize>>>,
}

impl Heldout<Toy> for Counting {
    fn every(&self) -> usize {
        3
    }
    fn loss(&mut self, _: &Toy) -> Option<f64> {
        self.at.borrow_mut().push(0);
        Some(self.at.borrow().len() as f64)
    }
}

#[test]
fn held_out_loss_is_measured_every_n_steps_and_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let at = Rc::new(RefCell::new(Vec::new()));
    let mut heldout = Counting { at: at.clone() };
    let mut source = Seeded {
        seed: 3,
        device: device(),
    };
    let fitted = fit(
        toy(|_| ()),
        &mut source,
        &settings(Budget::Steps(7)),
        dir.path(),
        &quiet(),
        Some(&mut heldout),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(at.borrow().len(), 3, "at steps 3, 6 and 7");
    assert_eq!(fitted.summary.val_loss, Some(3.0));
    let measured: Vec<usize> = read_metrics(dir.path())
        .unwrap()
        .iter()
        .filter(|m| m.val_loss.is_some())
        .map(|m| m.step)
        .collect();
    assert_eq!(measured, [3, 6, 7]);
}

/// The encoder's weight and bias values.
fn weights(toy: &Toy) -> Vec<f32> {
    let mut values = toy
        .encoder
        .weight
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let bias = toy.encoder.bias.as_ref().unwrap().val().into_data();
    values.extend(bias.try_to_vec::<f32>().unwrap());
    values
}

fn losses(dir: &Path) -> Vec<f64> {
    read_metrics(dir).unwrap().iter().map(|l| l.loss).collect()
}

fn assert_close(got: &[f32], want: &[f32], tolerance: f32) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= tolerance, "{g} vs {w}");
    }
}

#[test]
fn two_ranks_with_half_batches_follow_one_process_with_the_whole_batch() {
    let single = tempfile::tempdir().unwrap();
    let one = run(
        toy(|_| ()),
        Budget::Steps(50),
        single.path(),
        &quiet(),
        &mut Silent,
    )
    .unwrap();
    let want = losses(single.path());
    assert_eq!(want.len(), 50);

    let ranks = tempfile::tempdir().unwrap();
    let fitted = LocalRanks::run(2, |world| {
        // Rank 1 initialises differently: the run starts from rank 0's parameters.
        let model = seeded_init(&device(), 1 + world.rank() as u64, || Toy::new(&device()));
        run(
            model,
            Budget::Steps(50),
            ranks.path(),
            &quiet(),
            &mut Silent,
        )
        .unwrap()
    });
    let got = losses(ranks.path());
    assert_eq!(got.len(), 50, "rank 0 alone writes the metrics");
    for (step, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-4 * w.abs(), "step {step}: {g} vs {w}");
    }
    for f in &fitted {
        assert_eq!(f.summary.steps, 50);
        assert_close(&weights(&f.model), &weights(&one.model), 1e-5);
    }
}

#[test]
fn a_run_stopped_on_two_ranks_resumes_in_one_process_and_the_reverse() {
    let single = tempfile::tempdir().unwrap();
    let whole = run(
        toy(|_| ()),
        Budget::Steps(20),
        single.path(),
        &quiet(),
        &mut Silent,
    )
    .unwrap();
    let stop = TrainOptions {
        stop_after: Some(6),
        ..quiet()
    };
    let resume = TrainOptions {
        resume: true,
        ..quiet()
    };
    let on_ranks = |dir: &Path, opts: &TrainOptions| {
        LocalRanks::run(2, |_| {
            run(toy(|_| ()), Budget::Steps(20), dir, opts, &mut Silent).unwrap()
        })
    };

    let a = tempfile::tempdir().unwrap();
    on_ranks(a.path(), &stop);
    let resumed = run(
        toy(|_| ()),
        Budget::Steps(20),
        a.path(),
        &resume,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(resumed.summary.steps, 20);
    assert_close(&weights(&resumed.model), &weights(&whole.model), 1e-5);

    let b = tempfile::tempdir().unwrap();
    run(toy(|_| ()), Budget::Steps(20), b.path(), &stop, &mut Silent).unwrap();
    for f in on_ranks(b.path(), &resume) {
        assert_eq!(f.summary.steps, 20);
        assert_close(&weights(&f.model), &weights(&whole.model), 1e-5);
    }
}

#[test]
fn a_failing_rank_ends_the_others_naming_itself() {
    let dir = tempfile::tempdir().unwrap();
    let results = LocalRanks::run(2, |world| {
        // Rank 1's loss turns NaN at step 3; rank 0 would go on.
        let nan_at = if world.rank() == 1 { 3 } else { usize::MAX };
        let model = toy(|t| t.nan_at = nan_at);
        run(model, Budget::Steps(20), dir.path(), &quiet(), &mut Silent).map(|f| f.summary.steps)
    });
    let own = results[1].as_ref().unwrap_err().to_string();
    assert!(own.contains("NaN") || own.contains("not finite"), "{own}");
    let other = format!("{:#}", results[0].as_ref().unwrap_err());
    assert!(other.contains("rank 1"), "{other}");
}

#[test]
fn rank_zeros_clock_ends_a_time_budget_on_every_rank_at_the_same_step() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget::Minutes {
        minutes: 0.02,
        max_steps: None,
    };
    let steps = LocalRanks::run(2, |world| {
        // The ranks run at different paces; only rank 0's clock counts.
        let model = toy(|t| t.sleep_ms = 4 + 6 * world.rank() as u64);
        let fitted = run(model, budget, dir.path(), &quiet(), &mut Silent).unwrap();
        (fitted.summary.steps, fitted.finished_now)
    });
    assert_eq!(steps[0], steps[1]);
    assert!(steps[0].0 > 10 && steps[0].1, "{steps:?}");
}
