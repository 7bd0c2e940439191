//! `autodidact eval`: accuracy of a pre-trained encoder at label budgets, beside the baseline.

use super::eval_args::EvalArgs;
use super::flags;
use super::methods::Modality;
use super::pictures::write_image_pictures;
use super::run_dir::run_modality;
use autodidact_core::eval::report::{EvalReport, format_table};
use autodidact_core::split::parse_budgets;
use autodidact_vision::eval::baseline::BaselineConfig;
use autodidact_vision::eval::suite::{
    ImageEvaluand, LabelShare, SuiteConfig, evaluate, image_features, parse_protocols,
};

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        flags::output_file("--json", path)?;
    }
    let modality = run_modality(&args.input.run)?;
    args.check_modality(modality)?;
    match modality {
        Modality::Series => return super::eval_series::run(&args),
        Modality::Text => return super::eval_text::run(&args),
        Modality::Audio => return super::eval_audio::run(&args),
        Modality::Pairs => return super::eval_pairs::run(&args),
        Modality::Image => {}
    }
    let budgets = parse_budgets(args.labels_per_class.as_deref().unwrap_or("1,10,100,all"))
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
    let baseline = BaselineConfig {
        seed: args.seed,
        ..BaselineConfig::default()
    };
    if args.baseline {
        println!("{}", baseline.describe());
    }
    let pooling = args.input.pooling(&run);
    let shares: Vec<LabelShare> = budgets.into_iter().map(LabelShare::PerClass).collect();
    let features = image_features(run.config.method.knn_features());
    let defaults = SuiteConfig::new(protocols.clone(), shares.clone(), features, args.seed);
    let cfg = args.suite(defaults, protocols, shares);
    let images = ImageEvaluand::new(
        &run.encoder,
        run.config.image_size,
        &data.train,
        &test,
        pooling,
        baseline,
        &run.device,
    )?;
    let results = evaluate(&images, &cfg, &|line| println!("{line}"))?;
    println!("\n{}", format_table(&results));
    let drawn = write_image_pictures(
        &run.encoder,
        pooling,
        &test,
        run.config.image_size,
        &run.device,
        &args.input.run,
        args.seed,
    );
    super::pictures::report_drawn(drawn);
    let report = EvalReport {
        pooling: Some(pooling.name().to_string()),
        knn_features: Some(cfg.features.knn),
        vit_blocks: run.encoder.vit_depth(),
        results,
        ..EvalReport::default()
    };
    flags::write_report(args.json.as_deref(), report)
}
