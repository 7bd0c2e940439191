//! What every `autodidact bench` workload reports ([`BenchResult`]) and how it times itself:
//! median of timed repeats after warm-up, peak memory, deterministic inputs.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

/// One benchmark's figures, written with `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// Workload name (`simclr-step`, `forward`, `augment`, `knn`).
    pub bench: String,
    /// Images (or queries) per second: the headline figure.
    pub images_per_s: f64,
    /// Median seconds of one timed repetition.
    pub median_s: f64,
    /// Timed repetitions behind the median.
    pub repeats: usize,
    /// Peak resident memory of this process so far, MiB (`VmHWM`); null where unknown.
    pub peak_rss_mib: Option<f64>,
    /// Workload settings (encoder, batch, device, threads, ...).
    pub settings: serde_json::Value,
}

impl BenchResult {
    /// The result of workload `bench` whose timed repetitions took `times` seconds, each handling
    /// `items` images (or queries).
    pub fn from_times(
        bench: &str,
        items: usize,
        times: &[f64],
        settings: serde_json::Value,
    ) -> Self {
        let median_s = median(times);
        Self {
            bench: bench.into(),
            images_per_s: items as f64 / median_s,
            median_s,
            repeats: times.len(),
            peak_rss_mib: peak_rss_mib(),
            settings,
        }
    }

    /// One human line: name, figure, median time and peak memory.
    pub fn summary(&self) -> String {
        let mem = self
            .peak_rss_mib
            .map_or(String::new(), |m| format!(", peak RSS {m:.0} MiB"));
        let unit = self.settings["unit"].as_str().unwrap_or("images");
        format!(
            "{}: {:.1} {unit}/s (median {:.4} s over {} repeats{mem}) {}",
            self.bench, self.images_per_s, self.median_s, self.repeats, self.settings
        )
    }

    /// Writes the result as JSON to `path`.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("{}: cannot write", path.display()))
    }
}

/// Median of `samples` (seconds); NaN when empty.
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    if s.len().is_multiple_of(2) {
        (s[mid - 1] + s[mid]) / 2.0
    } else {
        s[mid]
    }
}

/// Runs `f` `warmup` times untimed, then `repeats` times timed; returns the timings in seconds.
pub fn time_repeats(warmup: usize, repeats: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        f();
    }
    (0..repeats)
        .map(|_| {
            let start = std::time::Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect()
}

/// Peak resident set size of this process in MiB, from `/proc/self/status` (Linux only).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Deterministic pseudo-random values in `[-1, 1)` (inputs of the benchmarks; content does not
/// matter for speed, only that it is not all zeros).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn pseudo_random_is_in_range_and_not_constant() {
        let v = pseudo_random(1000, 7);
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.1, "mean {mean}");
        assert_ne!(v[0], v[1]);
        assert_eq!(v, pseudo_random(1000, 7));
    }

    #[test]
    fn peak_rss_is_positive_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mib().is_some_and(|m| m > 0.0));
        }
    }
}
