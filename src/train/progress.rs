//! Progress reporting: an indicatif bar on a terminal, plain periodic lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// What the loop reports after a step.
pub struct StepReport {
    pub step: usize,
    pub total: Option<usize>,
    pub loss: f64,
    pub lr: f64,
    pub images_per_s: f64,
    pub eta_s: Option<f64>,
}

/// Bar or log lines, chosen by whether stdout is a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
    last_line: Instant,
    interval: Duration,
    quiet: bool,
}

impl Progress {
    /// `quiet` prints nothing (library use and tests).
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stdout().is_terminal()).then(|| {
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
        }
    }

    pub fn update(&mut self, r: &StepReport) {
        let msg = format!(
            "loss {:.4}  lr {:.2e}  {:.0} img/s",
            r.loss, r.lr, r.images_per_s
        );
        if let Some(bar) = &self.bar {
            if let Some(total) = r.total {
                bar.set_length(total as u64);
            }
            bar.set_position(r.step as u64);
            bar.set_message(msg);
        } else if !self.quiet && self.last_line.elapsed() >= self.interval {
            self.last_line = Instant::now();
            let total = r.total.map_or("?".to_string(), |t| t.to_string());
            let eta = r.eta_s.map_or("?".to_string(), |s| format!("{s:.0}s"));
            println!("step {}/{total}  {msg}  eta {eta}", r.step);
        }
    }

    /// A message that must be seen (warnings), above the bar.
    pub fn message(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
