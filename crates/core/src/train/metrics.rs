//! What a run records and reports: `metrics.jsonl`, the NaN stop, the summary of a finished run.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::checkpoint::{Checkpoints, TrainState};
use crate::error::TrainError;

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
    /// Samples (images, series, tokens...) per second, written as `<unit>_per_s`.
    #[serde(flatten)]
    pub rate: Rate,
    /// Normalised spread of the embeddings (about 1 healthy, near 0 collapsed).
    #[serde(deserialize_with = "nan_if_null")]
    pub spread: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub elapsed_s: f64,
    /// Held-out loss (next-token training: nats per token), on the steps where it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Global L2 norm of the gradient (before the optimiser's step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_norm: Option<f64>,
    /// The method's own figures ([`crate::method::StepOutput::metrics`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub method: std::collections::BTreeMap<String, f64>,
}

/// A throughput that names its unit: `{"tokens_per_s": 5120.0}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rate {
    /// What is counted, plural: `images`, `series`, `tokens`.
    pub unit: String,
    pub per_s: f64,
}

impl Rate {
    pub fn new(unit: &str, per_s: f64) -> Self {
        Self {
            unit: unit.to_string(),
            per_s,
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        let value = self.per_s.is_finite().then_some(self.per_s);
        map.serialize_entry(&format!("{}_per_s", self.unit), &value)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fields = std::collections::BTreeMap::<String, Option<f64>>::deserialize(d)?;
        fields
            .into_iter()
            .find_map(|(key, value)| {
                let unit = key.strip_suffix("_per_s")?;
                Some(Rate::new(unit, value.unwrap_or(f64::NAN)))
            })
            .ok_or_else(|| serde::de::Error::custom("no `<unit>_per_s` figure"))
    }
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

/// Fails with [`TrainError::LossNotFinite`] when `loss` is not finite, naming the step and the
/// last good checkpoint (which stays).
pub fn check_loss(loss: f64, step: usize, checkpoints: &Checkpoints) -> anyhow::Result<()> {
    if loss.is_finite() {
        return Ok(());
    }
    Err(TrainError::LossNotFinite {
        loss,
        step,
        kept: checkpoints.latest(),
    }
    .into())
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
            rate: Rate::new("tokens", f64::NAN),
            spread: f64::NAN,
            elapsed_s: 2.0,
            val_loss: Some(1.5),
            grad_norm: Some(0.25),
            method: [("perplexity_0".to_string(), 12.5)].into_iter().collect(),
        };
        let json = serde_json::to_string(&line).expect("serialisable");
        assert!(json.contains("\"spread\":null"), "{json}");
        assert!(
            json.contains("\"method\":{\"perplexity_0\":12.5}"),
            "{json}"
        );
        let back: MetricsLine = serde_json::from_str(&json).expect("NaN figures read back");
        assert!(json.contains("\"tokens_per_s\":null"), "{json}");
        assert!(back.spread.is_nan() && back.lr.is_nan());
        assert_eq!(back.rate.unit, "tokens");
        assert_eq!((back.step, back.val_loss), (3, Some(1.5)));
    }
}
