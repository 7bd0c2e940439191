//! `autodidact bench mfcc`: the classical audio baseline, each clip's MFCC statistics read by
//! the suite's protocols at labels per class: the figure a pre-trained audio encoder must beat.

use std::path::{Path, PathBuf};

use clap::Args;

use super::flags;
use autodidact_audio::data::load_audio;
use autodidact_audio::eval::{AUDIO_FEATURES, MfccEvaluand};
use autodidact_core::eval::protocol::parse_protocols;
use autodidact_core::eval::report::{EvalReport, format_table};
use autodidact_core::eval::suite::{LabelShare, SuiteConfig, evaluate};
use autodidact_core::split::parse_budgets;

#[derive(Args, Debug)]
pub(super) struct MfccArgs {
    /// A labelled audio folder (`train/` and `test/` of class folders) or a manifest with a
    /// `split` column (`bench/fsdd_manifests.py` writes FSDD's).
    #[arg(long)]
    data: PathBuf,
    /// Sample rate the clips are read at.
    #[arg(long, default_value_t = 8000, value_parser = flags::int(1_000..=192_000))]
    rate: usize,
    /// Labels per class to sample from the train split.
    #[arg(long, default_value = "1,5,10,all")]
    labels_per_class: String,
    /// Classifiers on the MFCC statistics.
    #[arg(long, default_value = "linear,knn")]
    protocol: String,
    /// Seed of the label sampling and of the classifiers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub(super) fn run_mfcc(args: MfccArgs, json: Option<&Path>) -> anyhow::Result<()> {
    let budgets = parse_budgets(&args.labels_per_class)
        .map_err(|e| anyhow::anyhow!("--labels-per-class: {e}"))?;
    let protocols =
        parse_protocols(&args.protocol).map_err(|e| anyhow::anyhow!("--protocol: {e}"))?;
    let data = load_audio(&args.data, args.rate as u32)?;
    let Some(test) = &data.test else {
        anyhow::bail!(
            "{}: no test split (expected train/ and test/ folders, or a manifest `split` column)",
            args.data.display()
        );
    };
    let shares = budgets.into_iter().map(LabelShare::PerClass).collect();
    let cfg = SuiteConfig {
        baseline: false,
        ..SuiteConfig::new(protocols, shares, AUDIO_FEATURES, args.seed)
    };
    println!(
        "{}: {} train / {} test clips, {} classes, at {} Hz",
        args.data.display(),
        data.train.len(),
        test.len(),
        data.train.num_classes(),
        args.rate
    );
    let mfcc = MfccEvaluand::new(&data.train, test)?;
    let results = evaluate(&mfcc, &cfg, &|line| println!("{line}"))?;
    println!("\n{}", format_table(&results));
    let report = EvalReport {
        knn_features: Some(cfg.features.knn),
        results,
        ..EvalReport::default()
    };
    flags::write_report(json, report)
}
