//! `autodidact eval`: accuracy of a pre-trained encoder at label budgets, beside the baseline.

use super::eval_args::EvalArgs;
use super::flags;
use super::methods::Modality;
use super::run_dir::run_modality;
use autodidact_core::eval::report::{EvalReport, format_table};
use autodidact_core::split::parse_budgets;
use autodidact_vision::eval::baseline::BaselineConfig;
use autodidact_vision::eval::suite::{SuiteConfig, evaluate, parse_protocols};

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        flags::output_file("--json", path)?;
    }
    match run_modality(&args.input.run)? {
        Modality::Series => return super::eval_series::run(&args),
        Modality::Text => return super::eval_text::run(&args),
        Modality::Image => {}
    }
    let budgets = parse_budgets(&args.labels_per_class)
        .map_err(|e| anyhow::anyhow!("--labels-per-class: {e}"))?;
    let protocols = parse_protocols(args.protocol.as_deref().unwrap_or("knn,linear"))
        .map_err(|e| anyhow::anyhow!("--protocol: {e}"))?;
    let (run, data) = args.input.load()?;
    let Some(test) = data.test else {
        anyhow::bail!(
            "{}: no test split found (expected train/ and test/ folders, or t10k files)",
            args.input.data.display()
        );
    };
    let baseline = args.baseline.then(|| BaselineConfig {
        seed: args.seed,
        ..BaselineConfig::default()
    });
    if let Some(b) = &baseline {
        println!("{}", b.describe());
    }
    let cfg = SuiteConfig {
        budgets,
        protocols,
        baseline,
        pooling: args.input.pooling(&run),
        knn: args.knn_config(),
        knn_features: args.knn_features(run.config.method),
        linear: args.linear_config(),
        seed: args.seed,
    };
    let results = evaluate(
        &run.encoder,
        run.config.image_size,
        &data.train,
        &test,
        &cfg,
        &run.device,
        &|line| println!("{line}"),
    )?;
    println!("\n{}", format_table(&results));
    if let Some(path) = &args.json {
        EvalReport {
            pooling: Some(cfg.pooling.name().to_string()),
            knn_features: Some(cfg.knn_features),
            vit_blocks: run.encoder.vit_depth(),
            results,
        }
        .write_json(path)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
