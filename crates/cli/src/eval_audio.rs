//! `autodidact eval` on an audio run: k-NN / linear probe / fine-tuning at labels per class,
//! beside the same encoder trained from scratch on the same labels and the MFCC statistics read
//! by the same protocol (`mfcc_accuracy`).

use anyhow::Context;

use super::eval_args::EvalArgs;
use super::flags;
use super::methods::Modality;
use super::pictures::write_audio_map;
use super::run_dir::run_kind;
use autodidact_audio::data::load_audio;
use autodidact_audio::eval::{AUDIO_FEATURES, MfccEvaluand, evaluate_run};
use autodidact_audio::supervised::SupervisedConfig;
use autodidact_audio::train::AudioRunConfig;
use autodidact_core::eval::protocol::{Protocol, parse_protocols};
use autodidact_core::eval::report::{EvalReport, format_table};
use autodidact_core::eval::suite::{LabelShare, SuiteConfig, evaluate};
use autodidact_core::split::parse_budgets;

/// The name of the MFCC baseline's figure in each result.
pub const MFCC_ACCURACY: &str = "mfcc_accuracy";

pub(super) fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let budgets = parse_budgets(args.labels_per_class.as_deref().unwrap_or("1,5,10,all"))
        .map_err(|e| anyhow::anyhow!("--labels-per-class: {e}"))?;
    let protocols = parse_protocols(args.protocol.as_deref().unwrap_or("knn,linear,finetune"))
        .map_err(|e| anyhow::anyhow!("--protocol: {e}"))?;
    let run = AudioRunConfig::load(&args.input.run.join("config.toml"))?;
    let data = load_audio(&args.input.data, run.rate)
        .with_context(|| run_kind(&args.input.run, Modality::Audio))?;
    let Some(test) = &data.test else {
        anyhow::bail!(
            "{}: no test split (expected train/ and test/ folders, or a manifest `split` column)",
            args.input.data.display()
        );
    };
    let supervised = SupervisedConfig {
        seed: args.seed,
        max_seconds: run.max_seconds,
        ..SupervisedConfig::default()
    };
    if args.baseline || protocols.contains(&Protocol::Finetune) {
        println!("{}", supervised.describe());
    }
    println!(
        "the encoder's representation: {}",
        match run.method {
            autodidact_audio::methods::AudioMethodKind::Wav2Vec2 =>
                "the mean over frames of the uniform mean of every Transformer block's output",
            autodidact_audio::methods::AudioMethodKind::AudioByol =>
                "the mean over frames of the spectrogram CNN's last block",
        }
    );
    let shares: Vec<LabelShare> = budgets.into_iter().map(LabelShare::PerClass).collect();
    let defaults = SuiteConfig::new(protocols.clone(), shares.clone(), AUDIO_FEATURES, args.seed);
    let cfg = args.suite(defaults, protocols.clone(), shares.clone());
    let log = |line: &str| println!("{line}");
    let mut results = evaluate_run(
        &run,
        &args.input.run,
        &data.train,
        test,
        &cfg,
        supervised,
        &log,
    )?;

    // The classical baseline through the same frozen protocols, on the same labelled clips.
    let frozen: Vec<Protocol> = protocols.into_iter().filter(|p| p.is_frozen()).collect();
    if !frozen.is_empty() {
        let mfcc_cfg = SuiteConfig {
            protocols: frozen,
            baseline: false,
            ..cfg.clone()
        };
        let mfcc = MfccEvaluand::new(&data.train, test)?;
        let quiet = |_: &str| {};
        for m in evaluate(&mfcc, &mfcc_cfg, &quiet)? {
            if let Some(r) = results
                .iter_mut()
                .find(|r| r.protocol == m.protocol && r.labels_per_class == m.labels_per_class)
            {
                r.references.insert(MFCC_ACCURACY.into(), m.ssl_accuracy);
            }
        }
    }
    println!("\n{}", format_table(&results));
    println!("MFCC statistics, the same protocols and labels:");
    for r in &results {
        if let Some(a) = r.references.get(MFCC_ACCURACY) {
            println!(
                "  {} with {} labels per class: {:.2}%",
                r.protocol,
                r.labels(),
                100.0 * a
            );
        }
    }
    let drawn = write_audio_map(&run, test, &args.input.run, args.seed);
    super::pictures::report_drawn(drawn.map(|p| vec![p]));
    let report = EvalReport {
        knn_features: Some(cfg.features.knn),
        results,
        ..EvalReport::default()
    };
    flags::write_report(args.json.as_deref(), report)
}
