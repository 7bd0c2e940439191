//! Progress reporting: the loop tells an [`Observer`]; [`Progress`] draws an indicatif bar on a
//! terminal and prints plain periodic lines otherwise, [`Silent`] says nothing. A [`Follower`]
//! installed with [`follow`] (the Python package's progress callback) hears every step instead
//! of the bar and the lines, and may stop the run.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// What the loop reports after a step.
pub struct StepReport<'a> {
    pub step: usize,
    pub total: Option<usize>,
    pub loss: f64,
    pub lr: f64,
    /// Samples per second, counted in `unit` (`images`, `series`, `tokens`).
    pub per_s: f64,
    pub unit: &'a str,
    pub eta_s: Option<f64>,
    /// The held-out loss, on the steps where it was measured.
    pub val_loss: Option<f64>,
}

/// Whoever follows a run: the loop reports every step and every warning here, never to stdout.
pub trait Observer {
    fn step(&mut self, report: &StepReport);
    /// A message that must be seen (warnings).
    fn message(&mut self, text: &str);
    /// The loop has ended.
    fn finish(&mut self) {}
    /// True when the run should stop now: it saves a checkpoint and can be resumed.
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// Follows every run of this process from outside the loop (a Python callback).
pub trait Follower: Send {
    fn step(&mut self, report: &StepReport);
    /// True once the follower wants the run to stop.
    fn wants_stop(&mut self) -> bool;
}

static FOLLOWER: Mutex<Option<Box<dyn Follower>>> = Mutex::new(None);

/// Installs `follower` until the returned guard is dropped.
pub fn follow(follower: Box<dyn Follower>) -> Following {
    *lock_follower() = Some(follower);
    Following(())
}

/// Removes the follower when dropped.
pub struct Following(());

impl Drop for Following {
    fn drop(&mut self) {
        *lock_follower() = None;
    }
}

fn lock_follower() -> std::sync::MutexGuard<'static, Option<Box<dyn Follower>>> {
    // A follower that panicked leaves nothing half-written behind: the slot is still usable.
    FOLLOWER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn followed() -> bool {
    lock_follower().is_some()
}

/// Reports nothing (library use and tests).
pub struct Silent;

impl Observer for Silent {
    fn step(&mut self, _: &StepReport) {}
    fn message(&mut self, _: &str) {}
}

/// Bar or log lines, chosen by whether stdout and stderr are terminals.
pub struct Progress {
    bar: Option<ProgressBar>,
    last_line: Instant,
    interval: Duration,
    quiet: bool,
    followed: bool,
}

impl Progress {
    /// `quiet` prints nothing (library use and tests).
    pub fn new(quiet: bool) -> Self {
        // The bar draws on stderr: both must be a terminal (under mpirun stdout is a pty and
        // stderr a pipe, where a bar would be invisible).
        let on_terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        // A follower draws its own progress: no bar and no periodic lines beside it.
        let followed = followed();
        let bar = (!quiet && on_terminal && !followed).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} steps  {msg}  [{elapsed_precise}, ETA {eta}]",
                )
                .expect("the progress template is valid"),
            );
            bar
        });
        Self {
            bar,
            last_line: Instant::now(),
            interval: Duration::from_secs(10),
            quiet,
            followed,
        }
    }

    pub fn update(&mut self, r: &StepReport) {
        if let Some(follower) = lock_follower().as_mut() {
            follower.step(r);
        }
        let held = r
            .val_loss
            .map_or(String::new(), |v| format!("  held-out {v:.4}"));
        let msg = format!(
            "loss {:.4}{held}  lr {:.2e}  {:.0} {}/s",
            r.loss, r.lr, r.per_s, r.unit
        );
        if r.val_loss.is_some() && self.bar.is_none() && !self.quiet {
            // A held-out figure is rare and worth a line of its own.
            if let Some(due) = Instant::now().checked_sub(self.interval) {
                self.last_line = due;
            }
        }
        if let Some(bar) = &self.bar {
            if let Some(total) = r.total {
                bar.set_length(total as u64);
            }
            bar.set_position(r.step as u64);
            bar.set_message(msg);
        } else if !self.quiet && !self.followed && self.last_line.elapsed() >= self.interval {
            self.last_line = Instant::now();
            let total = r.total.map_or("?".to_string(), |t| t.to_string());
            let eta = r.eta_s.map_or("?".to_string(), |s| format!("{s:.0}s"));
            println!("step {}/{total}  {msg}  eta {eta}", r.step);
        }
    }

    /// A message that must be seen (warnings): above the bar, or on stderr.
    pub fn message(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

impl Observer for Progress {
    fn step(&mut self, report: &StepReport) {
        self.update(report);
    }

    fn message(&mut self, text: &str) {
        Progress::message(self, text);
    }

    fn finish(&mut self) {
        Progress::finish(self);
    }

    fn stop_requested(&mut self) -> bool {
        lock_follower().as_mut().is_some_and(|f| f.wants_stop())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        steps: Arc<AtomicUsize>,
        stop_at: usize,
    }

    impl Follower for Counting {
        fn step(&mut self, report: &StepReport) {
            self.steps.store(report.step, Ordering::SeqCst);
        }

        fn wants_stop(&mut self) -> bool {
            self.steps.load(Ordering::SeqCst) >= self.stop_at
        }
    }

    fn report(step: usize) -> StepReport<'static> {
        StepReport {
            step,
            total: Some(10),
            loss: 1.0,
            lr: 0.1,
            per_s: 5.0,
            unit: "images",
            eta_s: None,
            val_loss: None,
        }
    }

    #[test]
    fn a_follower_hears_every_step_and_can_stop_the_run_until_its_guard_drops() {
        let steps = Arc::new(AtomicUsize::new(0));
        let mut progress = Progress::new(false);
        {
            let _following = follow(Box::new(Counting {
                steps: steps.clone(),
                stop_at: 2,
            }));
            progress.update(&report(1));
            assert_eq!(steps.load(Ordering::SeqCst), 1);
            assert!(!progress.stop_requested());
            progress.update(&report(2));
            assert!(progress.stop_requested());
        }
        progress.update(&report(7));
        assert_eq!(steps.load(Ordering::SeqCst), 2, "the guard removed it");
        assert!(!progress.stop_requested());
    }
}
