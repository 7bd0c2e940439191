//! `autodidact bench probe`: embeddings made elsewhere (a reference implementation's encoder)
//! read by the same protocols, label sampling and seed as `eval`, so that a published method's
//! own code and ours are compared by one yardstick.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::flags;
use autodidact_audio::eval::AUDIO_FEATURES;
use autodidact_core::eval::Embeddings;
use autodidact_core::eval::npy::read_npy;
use autodidact_core::eval::protocol::parse_protocols;
use autodidact_core::eval::report::{EvalReport, format_table};
use autodidact_core::eval::suite::{LabelShare, Precomputed, SuiteConfig, evaluate};
use autodidact_core::split::parse_budgets;

#[derive(Args, Debug)]
pub(super) struct ProbeArgs {
    /// Folder with `train.npy` and `test.npy` (float32, rows x dimensions) and the labels of
    /// their rows, one integer per line (`train_labels.txt`, `test_labels.txt`).
    #[arg(long)]
    embeddings: PathBuf,
    /// Read `<PREFIX>train_labels.txt` and `<PREFIX>test_labels.txt` instead (e.g. `speaker_`).
    #[arg(long, default_value = "")]
    labels_prefix: String,
    /// Labels per class to sample from the train rows.
    #[arg(long, default_value = "1,5,10,all")]
    labels_per_class: String,
    /// Classifiers on the embeddings (frozen protocols only).
    #[arg(long, default_value = "linear,knn")]
    protocol: String,
    /// Seed of the label sampling and of the classifiers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn embeddings(path: &Path) -> anyhow::Result<Embeddings> {
    let (data, shape) = read_npy(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let [n, dim] = shape[..] else {
        anyhow::bail!(
            "{}: expected a 2-d array, found shape {shape:?}",
            path.display()
        );
    };
    Ok(Embeddings::new(data, n, dim))
}

fn labels(path: &Path, rows: usize) -> anyhow::Result<Vec<u32>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let labels = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            l.trim().parse::<u32>().map_err(|_| {
                anyhow::anyhow!(
                    "{}:{}: `{}` is not a class index",
                    path.display(),
                    i + 1,
                    l.trim()
                )
            })
        })
        .collect::<anyhow::Result<Vec<u32>>>()?;
    if labels.len() != rows {
        anyhow::bail!(
            "{}: {} labels for {rows} embedding rows",
            path.display(),
            labels.len()
        );
    }
    Ok(labels)
}

pub(super) fn run_probe(args: ProbeArgs, json: Option<&Path>) -> anyhow::Result<()> {
    let budgets = parse_budgets(&args.labels_per_class)
        .map_err(|e| anyhow::anyhow!("--labels-per-class: {e}"))?;
    let protocols =
        parse_protocols(&args.protocol).map_err(|e| anyhow::anyhow!("--protocol: {e}"))?;
    if let Some(p) = protocols.iter().find(|p| !p.is_frozen()) {
        anyhow::bail!(
            "--protocol {}: bench probe reads fixed embeddings (knn, linear, svm)",
            p.name()
        );
    }
    let dir = &args.embeddings;
    let train = embeddings(&dir.join("train.npy"))?;
    let test = embeddings(&dir.join("test.npy"))?;
    if train.dim != test.dim {
        anyhow::bail!(
            "{}: train rows have {} dimensions, test rows {}",
            dir.display(),
            train.dim,
            test.dim
        );
    }
    let prefix = &args.labels_prefix;
    let evaluand = Precomputed {
        train_labels: labels(&dir.join(format!("{prefix}train_labels.txt")), train.n)?,
        test_labels: labels(&dir.join(format!("{prefix}test_labels.txt")), test.n)?,
        train,
        test,
    };
    let shares = budgets.into_iter().map(LabelShare::PerClass).collect();
    let cfg = SuiteConfig {
        baseline: false,
        ..SuiteConfig::new(protocols, shares, AUDIO_FEATURES, args.seed)
    };
    let results = evaluate(&evaluand, &cfg, &|line| println!("{line}"))?;
    println!("\n{}", format_table(&results));
    let report = EvalReport {
        knn_features: Some(cfg.features.knn),
        results,
        ..EvalReport::default()
    };
    flags::write_report(json, report)
}
