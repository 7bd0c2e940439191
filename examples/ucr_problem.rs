//! A UCR-style problem end to end: write a two-class `.ts` problem, pre-train TS2Vec's
//! contrastive method on its unlabelled train series, then classify the test series with an RBF
//! SVM and a linear probe trained on 10% and all of the train labels, beside a supervised encoder
//! trained from scratch on the same labels.
//!
//! `cargo run --release --example ucr_problem [-- DIR]` (a real problem folder such as
//! `../shared/data/ucr/GunPoint` instead of the generated one).

use autodidact::core::eval::protocol::Protocol;
use autodidact::core::eval::suite::{LabelShare, SuiteConfig, evaluate};
use autodidact::series::data::load_series;
use autodidact::series::eval::{SeriesBaselineConfig, SeriesEvaluand, series_suite};
use autodidact::series::methods::SeriesMethodKind;
use autodidact::series::synthetic::write_waves;
use autodidact::series::train::{SeriesRunConfig, pretrain};
use autodidact::train::checkpoint::load_encoder;
use autodidact::train::metrics::TrainOptions;

fn main() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let data = match std::env::args().nth(1) {
        Some(dir) => dir.into(),
        None => {
            let dir = work.path().join("Waves");
            write_waves(&dir, "Waves", 30, 64)?;
            dir
        }
    };
    let problem = load_series(&data)?;
    let test = problem
        .test
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("{}: no test split", data.display()))?;

    // TS2Vec's settings (batch 8, AdamW 1e-3, its step rule), fewer steps for a quick look.
    let mut cfg = SeriesRunConfig::defaults(SeriesMethodKind::TsContrast, data, &problem.train);
    cfg.steps = 100;
    let run = work.path().join("run");
    std::fs::create_dir_all(&run)?;
    let quiet = TrainOptions {
        quiet: true,
        ..TrainOptions::default()
    };
    let summary = pretrain(&cfg, &problem.train, &run, &quiet)?;
    println!(
        "pre-trained ts-contrast: {} steps, final loss {:.3}",
        summary.steps, summary.final_loss
    );

    let device = cfg.device.device()?;
    let encoder = load_encoder(cfg.build_encoder(&device), &summary.encoder_path)?;
    let suite = SuiteConfig {
        protocols: vec![Protocol::Svm, Protocol::Linear],
        shares: vec![LabelShare::Fraction(0.1), LabelShare::Fraction(1.0)],
        ..series_suite(0)
    };
    // The supervised encoder from scratch, for fewer steps than the benchmark's 600.
    let baseline = SeriesBaselineConfig {
        steps: 200,
        ..SeriesBaselineConfig::default()
    };
    let series = SeriesEvaluand::new(&encoder, &cfg, &problem.train, test, baseline, &device)?;
    let results = evaluate(&series, &suite, &|_| {})?;
    for r in &results {
        println!(
            "{:<7} {:>5} of the labels: {:6.2}%  (from scratch {})",
            r.protocol,
            r.labels(),
            100.0 * r.ssl_accuracy,
            r.baseline_accuracy
                .map_or("-".to_string(), |b| format!("{:.2}%", 100.0 * b))
        );
    }
    Ok(())
}
