//! `autodidact demo`: the main job. SimCLR on 8,000 bundled MNIST digits without labels, then
//! k-NN and linear probe at 1, 10 and 100 labels per class on the other 2,000, beside the
//! supervised baseline; writes a report with plots.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use super::flags;
use autodidact_core::eval::plot::{plot_accuracy_vs_labels, plot_loss_curve};
use autodidact_core::eval::report::{EvalReport, EvalResult, format_table, markdown_table};
use autodidact_core::split::{LabelBudget, split_indices};
use autodidact_core::train::checkpoint::write_atomic;
use autodidact_core::train::metrics::{TrainOptions, read_metrics};
use autodidact_core::train::optim::OptimizerConfig;
use autodidact_core::train::run_folder::RunFolder;
use autodidact_vision::data::idx::read_idx_pair;
use autodidact_vision::data::{ImageFormat, ImageSet};
use autodidact_vision::encoders::EncoderKind;
use autodidact_vision::encoders::vit::VIT_PATCH;
use autodidact_vision::eval::baseline::BaselineConfig;
use autodidact_vision::eval::suite::{
    ImageEvaluand, LabelShare, Protocol, SuiteConfig, evaluate, image_features,
};
use autodidact_vision::methods::MethodKind;
use autodidact_vision::train::config::{Budget, DeviceChoice, RunConfig};
use autodidact_vision::train::trainer::pretrain;

/// Images pre-trained on without labels; the rest of the 10,000 are the test split.
const PRETRAIN_IMAGES: usize = 8000;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Output folder (an earlier demo's is replaced; a folder holding anything else is refused).
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (default: the bundled copy).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Pre-training epochs over the 8,000 images.
    #[arg(long, default_value_t = 10, value_parser = flags::int(0..=1_000))]
    epochs: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The MNIST sample bundled in the workspace's `data/mnist`.
fn bundled_mnist() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    path.canonicalize().unwrap_or(path)
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        flags::output_file("--json", path)?;
    }
    let start = Instant::now();
    let dir = args.data.clone().unwrap_or_else(bundled_mnist);
    let images = read_idx_pair(
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &dir.join("t10k-labels-idx1-ubyte.gz"),
    )?;
    if images.len() <= PRETRAIN_IMAGES {
        anyhow::bail!(
            "{}: the demo needs more than {PRETRAIN_IMAGES} images, found {}",
            dir.display(),
            images.len()
        );
    }
    let (train_idx, test_idx) = split_indices(images.len(), PRETRAIN_IMAGES, args.seed);
    let train = images.subset(&train_idx);
    let test = images.subset(&test_idx);
    // Replaces the previous demo's folder, never a folder holding anything else.
    let _folder = RunFolder::create(&args.out, true, &[&dir])?;

    let cfg = RunConfig {
        method: MethodKind::Simclr,
        encoder: EncoderKind::Cnn,
        vit_patch: VIT_PATCH,
        data: dir.clone(),
        format: ImageFormat::Idx,
        channels: train.channels,
        image_size: train.height,
        budget: Budget::Epochs(args.epochs),
        batch_size: 256,
        seed: args.seed,
        device: DeviceChoice::Cpu,
        optimizer: OptimizerConfig::default(),
        method_config: MethodKind::Simclr.default_settings(),
        checkpoint_every: 1000,
        log_every: 5,
        sync_bn: false,
    };
    cfg.save(&args.out.join("config.toml"))?;
    println!(
        "autodidact demo: SimCLR on {} MNIST digits without labels ({} epochs, small CNN), \
         then evaluation on the other {} at 1, 10 and 100 labels per class",
        train.len(),
        args.epochs,
        test.len()
    );
    let summary = pretrain(
        &cfg,
        Arc::new(unlabeled(&train)),
        &args.out,
        &TrainOptions::default(),
    )?;
    println!(
        "pre-training: {} steps in {:.0} s, final loss {:.3}",
        summary.steps, summary.elapsed_s, summary.final_loss
    );

    let run = super::run_dir::load_run(&args.out)?;
    let baseline = BaselineConfig {
        seed: args.seed,
        ..BaselineConfig::default()
    };
    println!("{}", baseline.describe());
    let suite = SuiteConfig::new(
        vec![Protocol::Knn, Protocol::Linear],
        [1, 10, 100]
            .map(|k| LabelShare::PerClass(LabelBudget::PerClass(k)))
            .to_vec(),
        image_features(run.config.method.knn_features()),
        args.seed,
    );
    let pooling = run.config.method.pooling();
    let images = ImageEvaluand::new(
        &run.encoder,
        cfg.image_size,
        &train,
        &test,
        pooling,
        baseline.clone(),
        &run.device,
    )?;
    let results = evaluate(&images, &suite, &|line| println!("  {line}"))?;
    let table = format_table(&results);
    println!("\n{table}");

    let plots = args.out.join("plots");
    std::fs::create_dir_all(&plots)
        .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", plots.display()))?;
    let metrics = read_metrics(&args.out)?;
    let loss: Vec<(f64, f64)> = metrics.iter().map(|m| (m.step as f64, m.loss)).collect();
    plot_loss_curve(
        &plots.join("loss.png"),
        &loss,
        "SimCLR pre-training loss (NT-Xent)",
    )?;
    plot_accuracy_vs_labels(
        &plots.join("accuracy.png"),
        &accuracy_series(&results),
        "MNIST demo: accuracy vs labels per class",
    )?;
    let report = EvalReport {
        pooling: Some(pooling.name().to_string()),
        knn_features: Some(suite.features.knn),
        vit_blocks: run.encoder.vit_depth(),
        results,
        ..EvalReport::default()
    };
    report.write_json(&args.out.join("results.json"))?;
    if let Some(path) = &args.json {
        report.write_json(path)?;
    }
    let total_s = start.elapsed().as_secs_f64();
    let text = report_markdown(
        &cfg,
        &report.results,
        &baseline,
        summary.steps,
        summary.elapsed_s,
        total_s,
        &train,
        &test,
    );
    write_atomic(&args.out.join("report.md"), text.as_bytes())?;
    println!(
        "report: {} (plots in {}); total {:.0} s",
        args.out.join("report.md").display(),
        plots.display(),
        total_s
    );
    Ok(())
}

/// The same images with their labels hidden: pre-training never sees them.
fn unlabeled(set: &ImageSet) -> ImageSet {
    ImageSet {
        labels: None,
        ..set.clone()
    }
}

fn budget_x(b: LabelBudget) -> Option<f64> {
    match b {
        LabelBudget::PerClass(k) => Some(k as f64),
        LabelBudget::All => None,
    }
}

/// Accuracy-vs-labels lines: each SSL protocol and the baseline.
fn accuracy_series(results: &[EvalResult]) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for protocol in ["knn", "linear"] {
        let points: Vec<(f64, f64)> = results
            .iter()
            .filter(|r| r.protocol == protocol)
            .filter_map(|r| Some((budget_x(r.labels_per_class?)?, r.ssl_accuracy)))
            .collect();
        if !points.is_empty() {
            series.push((format!("SimCLR + {protocol}"), points));
        }
    }
    let baseline: Vec<(f64, f64)> = results
        .iter()
        .filter(|r| r.protocol == "linear")
        .filter_map(|r| Some((budget_x(r.labels_per_class?)?, r.baseline_accuracy?)))
        .collect();
    if !baseline.is_empty() {
        series.push(("supervised from scratch".to_string(), baseline));
    }
    series
}

#[allow(clippy::too_many_arguments)]
fn report_markdown(
    cfg: &RunConfig,
    results: &[EvalResult],
    baseline: &BaselineConfig,
    steps: usize,
    pretrain_s: f64,
    total_s: f64,
    train: &ImageSet,
    test: &ImageSet,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# autodidact demo: SimCLR on MNIST with few labels\n");
    let _ = writeln!(
        s,
        "- Data: {} (bundled MNIST test set), split {} / {} with seed {}.",
        cfg.data.display(),
        train.len(),
        test.len(),
        cfg.seed
    );
    let _ = writeln!(
        s,
        "- Pre-training: SimCLR, small CNN, batch {}, {}, {} steps in {:.0} s, no labels.",
        cfg.batch_size, cfg.budget, steps, pretrain_s
    );
    let _ = writeln!(
        s,
        "- Evaluation: labelled samples drawn per class (seeded) from the {} pre-training images; accuracy on the {} held-out images.",
        train.len(),
        test.len()
    );
    let _ = writeln!(s, "- Baseline: {}.", baseline.describe());
    let _ = writeln!(s, "- Total time: {total_s:.0} s.\n");
    let _ = writeln!(s, "{}", markdown_table(results));
    let _ = writeln!(
        s,
        "\n![loss](plots/loss.png)\n\n![accuracy](plots/accuracy.png)"
    );
    s
}
