//! `autodidact bench ucr`: every method on every UCR/UEA problem found under a folder, pre-trained
//! with its fixed recipe and evaluated the UCR way, beside 1-NN Euclidean and the supervised
//! baseline.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::data::load_series;
use super::eval::{SeriesBaselineConfig, SeriesEvaluand, baseline_at, series_suite};
use super::nn::one_nn_euclidean;
use super::train::{SeriesRunConfig, pretrain};
use crate::methods::SeriesMethodKind;
use autodidact_core::eval::protocol::Protocol;
use autodidact_core::eval::suite::{LabelShare, SuiteConfig, evaluate};
use autodidact_core::recipe::Recipe;
use autodidact_core::train::checkpoint::load_encoder;
use autodidact_core::train::metrics::TrainOptions;
use autodidact_core::train::run_folder::RunFolder;

/// One method, protocol and label share on one problem.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UcrRow {
    pub dataset: String,
    pub method: String,
    pub protocol: String,
    pub labels_fraction: f64,
    /// Test accuracy of the classifier on the pre-trained representation.
    pub accuracy: f64,
    /// 1-NN Euclidean on the raw series with every train label.
    pub baseline_1nn_euclidean: f64,
    /// The same encoder trained from scratch on the same labels.
    pub supervised_baseline: Option<f64>,
    /// Pre-training plus evaluation of this method on this problem (the baseline excluded).
    pub seconds: f64,
}

/// The JSON file `bench ucr --json` writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UcrReport {
    pub results: Vec<UcrRow>,
}

/// What the benchmark runs.
#[derive(Clone, Debug)]
pub struct UcrBenchConfig {
    pub methods: Vec<SeriesMethodKind>,
    pub protocols: Vec<Protocol>,
    pub fractions: Vec<f64>,
    /// Train the supervised baseline at each share.
    pub baseline: bool,
    /// `<recipes>/ucr-<method>.toml` is each method's recipe, where it exists.
    pub recipes: PathBuf,
    /// Run folders go to `<runs>/<dataset>-<method>`.
    pub runs: PathBuf,
    pub seed: u64,
}

/// The problem folders under `dir` (each holding a `*_TRAIN` / `*_TEST` pair), sorted by name;
/// `dir` itself when it is one.
pub fn find_problems(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let is_problem = |d: &Path| {
        std::fs::read_dir(d).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name().to_string_lossy().to_uppercase();
                name.contains("_TRAIN.")
            })
        })
    };
    if is_problem(dir) {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read folder", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && is_problem(p))
        .collect();
    found.sort();
    if found.is_empty() {
        anyhow::bail!(
            "{}: no UCR problems found (expected folders holding <Name>_TRAIN.ts and <Name>_TEST.ts)",
            dir.display()
        );
    }
    Ok(found)
}

/// Runs every configured method on the problem in `path`.
pub fn bench_problem(
    path: &Path,
    cfg: &UcrBenchConfig,
    log: &dyn Fn(&str),
) -> anyhow::Result<Vec<UcrRow>> {
    let problem = load_series(path)?;
    let Some(test) = &problem.test else {
        anyhow::bail!("{}: no test split", path.display());
    };
    let one_nn = one_nn_euclidean(&problem.train, test)?;
    log(&format!(
        "{}: {} train / {} test series, {} channel(s), {} classes; 1-NN Euclidean {:.2}%",
        problem.name,
        problem.train.len(),
        test.len(),
        problem.train.channels,
        problem.train.num_classes(),
        100.0 * one_nn
    ));
    let mut baselines: Vec<Option<f64>> = Vec::new();
    let mut rows = Vec::new();
    for &method in &cfg.methods {
        let start = Instant::now();
        let recipe_path = cfg.recipes.join(format!("ucr-{}.toml", method.name()));
        let recipe = if recipe_path.exists() {
            Recipe::load(&recipe_path)?
        } else {
            Recipe::default()
        };
        let mut run = SeriesRunConfig::defaults(method, path.to_path_buf(), &problem.train);
        run.apply_recipe(&recipe, &problem.train)?;
        run.seed = cfg.seed;
        let run_dir = cfg.runs.join(format!("{}-{}", problem.name, method.name()));
        // Replaces an earlier bench's run, never a folder of anything else.
        let _folder = RunFolder::create(&run_dir, true, &[path])?;
        run.save(&run_dir.join("config.toml"))?;
        let opts = TrainOptions {
            quiet: true,
            ..TrainOptions::default()
        };
        let summary = pretrain(&run, &problem.train, &run_dir, &opts)?;
        let device = run.device.device()?;
        let encoder = load_encoder(run.build_encoder(&device), &summary.encoder_path)?;
        let suite = SuiteConfig {
            protocols: cfg.protocols.clone(),
            shares: cfg
                .fractions
                .iter()
                .map(|&f| LabelShare::Fraction(f))
                .collect(),
            // Trained below, once per share: it does not depend on the method.
            baseline: false,
            ..series_suite(cfg.seed)
        };
        let evaluand = SeriesEvaluand::new(
            &encoder,
            &run,
            &problem.train,
            test,
            SeriesBaselineConfig::default(),
            &device,
        )?;
        let results = evaluate(&evaluand, &suite, &|_| {})?;
        let seconds = start.elapsed().as_secs_f64();
        if cfg.baseline && baselines.is_empty() {
            // Trained once per share: it does not depend on the method.
            for &fraction in &cfg.fractions {
                let t = Instant::now();
                let baseline = SeriesBaselineConfig {
                    seed: cfg.seed,
                    ..SeriesBaselineConfig::default()
                };
                let accuracy = baseline_at(
                    &run,
                    &problem.train,
                    test,
                    fraction,
                    &baseline,
                    cfg.seed,
                    &device,
                )?;
                log(&format!(
                    "{}: supervised baseline with {}% of the labels: {:.2}% ({:.0} s)",
                    problem.name,
                    fraction * 100.0,
                    100.0 * accuracy,
                    t.elapsed().as_secs_f64()
                ));
                baselines.push(Some(accuracy));
            }
        }
        for r in results {
            let fraction = r.labels_fraction.unwrap_or(1.0);
            let supervised_baseline = cfg
                .fractions
                .iter()
                .position(|&f| f == fraction)
                .and_then(|i| baselines.get(i).copied().flatten());
            log(&format!(
                "{}: {} {} with {}% of the labels: {:.2}% ({:.0} s)",
                problem.name,
                method.name(),
                r.protocol,
                fraction * 100.0,
                100.0 * r.ssl_accuracy,
                seconds
            ));
            rows.push(UcrRow {
                dataset: problem.name.clone(),
                method: method.name().to_string(),
                protocol: r.protocol,
                labels_fraction: fraction,
                accuracy: r.ssl_accuracy,
                baseline_1nn_euclidean: one_nn,
                supervised_baseline,
                seconds,
            });
        }
    }
    Ok(rows)
}
