//! `autodidact eval` on a series run: SVM / linear probe / k-NN at shares of the train labels,
//! beside the supervised baseline and 1-NN Euclidean on the raw series.

use super::eval_args::EvalArgs;
use super::flags;
use super::pictures::write_series_map;
use anyhow::Context;

use super::methods::Modality;
use super::run_dir::{LoadedSeriesRun, load_series_run, run_kind};
use autodidact_core::eval::protocol::parse_protocols;
use autodidact_core::eval::report::{EvalReport, format_table};
use autodidact_core::eval::suite::{LabelShare, evaluate};
use autodidact_core::split::parse_fractions;
use autodidact_series::data::load_series;
use autodidact_series::eval::{SeriesBaselineConfig, SeriesEvaluand, series_suite};
use autodidact_series::nn::one_nn_euclidean;

pub(super) fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let fractions = parse_fractions(args.labels_fraction.as_deref().unwrap_or("1"))
        .map_err(|e| anyhow::anyhow!("--labels-fraction: {e}"))?;
    let protocols = parse_protocols(args.protocol.as_deref().unwrap_or("svm,linear"))
        .map_err(|e| anyhow::anyhow!("--protocol: {e}"))?;
    let LoadedSeriesRun {
        config: run,
        encoder,
        device,
    } = load_series_run(&args.input.run)?;
    let problem = load_series(&args.input.data)
        .with_context(|| run_kind(&args.input.run, Modality::Series))?;
    let Some(test) = &problem.test else {
        anyhow::bail!(
            "{}: no test split found (expected <Name>_TRAIN.ts and <Name>_TEST.ts)",
            args.input.data.display()
        );
    };
    let baseline = SeriesBaselineConfig {
        seed: args.seed,
        ..SeriesBaselineConfig::default()
    };
    if args.baseline {
        println!("{}", baseline.describe());
    }
    let shares = fractions.into_iter().map(LabelShare::Fraction).collect();
    let cfg = args.suite(series_suite(args.seed), protocols, shares);
    let series = SeriesEvaluand::new(&encoder, &run, &problem.train, test, baseline, &device)?;
    let results = evaluate(&series, &cfg, &|line| println!("{line}"))?;
    println!("\n{}", format_table(&results));
    println!(
        "1-NN Euclidean on the raw series (all train labels): {:.2}%",
        100.0 * one_nn_euclidean(&problem.train, test)?
    );
    let drawn = write_series_map(
        &encoder,
        &run.scaler,
        test,
        &device,
        &args.input.run,
        args.seed,
    );
    super::pictures::report_drawn(drawn.map(|p| vec![p]));
    let report = EvalReport {
        knn_features: Some(cfg.features.knn),
        results,
        ..EvalReport::default()
    };
    flags::write_report(args.json.as_deref(), report)
}
