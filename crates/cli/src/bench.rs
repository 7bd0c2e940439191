//! `autodidact bench`: speed of the hot paths, one workload per sub-command.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::bench_audio::{MfccArgs, run_mfcc};
use super::bench_probe::{ProbeArgs, run_probe};
use super::flags;
use autodidact_core::collective::current;
use autodidact_core::eval::protocol::parse_protocols;
use autodidact_core::split::parse_fractions;
use autodidact_core::train::checkpoint::write_atomic;
use autodidact_series::methods::SeriesMethodKind;
use autodidact_series::ucr::{UcrBenchConfig, UcrReport, UcrRow, bench_problem, find_problems};
use autodidact_text::bench::{TextObjective, TextStepBench};
use autodidact_vision::bench::{
    BenchResult, augment::AugmentBench, forward::ForwardBench, knn::KnnBench,
    simclr_step::SimclrStepBench, vit_step::VitStepBench,
};
use autodidact_vision::encoders::EncoderKind;
use autodidact_vision::train::config::DeviceChoice;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    workload: Workload,
    /// Also write the figures as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Workload {
    /// One SimCLR training step (the issue-3 reference: RGB 32x32, batch 128, two views).
    SimclrStep {
        #[arg(long, value_enum, default_value_t = EncoderKind::Cnn)]
        encoder: EncoderKind,
        #[arg(long, default_value_t = 128, value_parser = flags::int(1..=4_096))]
        batch_size: usize,
        #[command(flatten)]
        step: StepFlags,
    },
    /// Encoder inference (eval mode) on RGB 32x32 images.
    Forward {
        #[arg(long, value_enum, default_value_t = EncoderKind::Cnn)]
        encoder: EncoderKind,
        #[arg(long, default_value_t = 256, value_parser = flags::int(1..=4_096))]
        batch_size: usize,
        #[arg(long, default_value_t = 20, value_parser = flags::int(1..=100_000))]
        repeats: usize,
        /// Untimed passes first.
        #[arg(long, default_value_t = 3, value_parser = flags::int(0..=100_000))]
        warmup: usize,
        #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
        device: DeviceChoice,
        /// Use Burn's own convolution and BatchNorm instead of autodidact's kernels.
        #[arg(long)]
        plain_kernels: bool,
    },
    /// SimCLR augmentation of RGB 32x32 images.
    Augment {
        /// Worker threads (the acceptance figure is per core).
        #[arg(long, default_value_t = 1, value_parser = flags::int(1..=1_024))]
        threads: usize,
        #[arg(long, default_value_t = 2048, value_parser = flags::int(1..=100_000))]
        images: usize,
    },
    /// Weighted k-NN (k = 200) of queries against a bank of 256-d embeddings.
    Knn {
        #[arg(long, default_value_t = 10_000, value_parser = flags::int(1..=1_000_000))]
        queries: usize,
        #[arg(long, default_value_t = 50_000, value_parser = flags::int(1..=1_000_000))]
        bank: usize,
    },
    /// Every series method on every UCR/UEA problem under --data: accuracy table, not speed.
    Ucr(UcrArgs),
    /// The classical audio baseline: MFCC statistics read by the suite's protocols at labels
    /// per class (accuracy, not speed).
    Mfcc(MfccArgs),
    /// Embeddings made elsewhere (`train.npy`, `test.npy` and label files) read by the audio
    /// suite's protocols at labels per class: a reference implementation's encoder measured by
    /// our yardstick.
    Probe(ProbeArgs),
    /// One wav2vec 2.0 pre-training step of the default small model on 1 s clips at 8 kHz
    /// (clips/s in the images_per_s field); bench/compare.sh runs the Hugging Face reference.
    Wav2vec2Step {
        #[arg(long, default_value_t = 8, value_parser = flags::int(1..=4_096))]
        batch_size: usize,
        #[command(flatten)]
        step: StepFlags,
    },
    /// One MAE step of recipes/mnist-mae.toml: the tiny ViT on 1x28x28 digits in 7x7 patches,
    /// 75% hidden, batch 128 (images/s).
    VitStep {
        #[arg(long, default_value_t = 128, value_parser = flags::int(1..=4_096))]
        batch_size: usize,
        #[command(flatten)]
        step: StepFlags,
    },
    /// One causal-LM step of recipes/tinyshakespeare-clm.toml: `mini` (4 x 192), context 128,
    /// batch 32, 65 characters (tokens/s in the images_per_s field).
    TextStep {
        #[arg(long, default_value_t = 32, value_parser = flags::int(1..=4_096))]
        batch_size: usize,
        #[command(flatten)]
        step: StepFlags,
    },
    /// One masked-LM step of recipes/sst2-mlm.toml: `mini`, 64 packed rows of 64 tokens,
    /// 8,000 pieces, 15% selected (tokens/s in the images_per_s field).
    MlmStep {
        #[arg(long, default_value_t = 64, value_parser = flags::int(1..=4_096))]
        batch_size: usize,
        #[command(flatten)]
        step: StepFlags,
    },
}

/// The flags every training-step benchmark shares.
#[derive(Args, Debug)]
struct StepFlags {
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 20, value_parser = flags::int(1..=100_000))]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3, value_parser = flags::int(0..=100_000))]
    warmup: usize,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Use Burn's own operations instead of autodidact's kernels.
    #[arg(long)]
    plain_kernels: bool,
}

impl StepFlags {
    /// Sets the kernels for the whole process (the workloads whose crates do not set them).
    fn apply_kernels(&self) {
        autodidact_kernels::set_fused(!self.plain_kernels);
    }
}

#[derive(Args, Debug)]
struct UcrArgs {
    /// A folder of problem folders (each holding <Name>_TRAIN.ts and <Name>_TEST.ts), or one
    /// problem folder [env: AUTODIDACT_DATA/ucr].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Methods to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ts-contrast,ts-order,ts-mask",
        value_parser = super::flags::series_method
    )]
    methods: Vec<SeriesMethodKind>,
    /// Classifiers on the frozen representation.
    #[arg(long, default_value = "svm,linear")]
    protocol: String,
    /// Shares of the train labels.
    #[arg(long, default_value = "1,0.1")]
    labels_fraction: String,
    /// Skip the supervised-from-scratch baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Folder of the recipes (`ucr-<method>.toml`).
    #[arg(long, default_value = "recipes")]
    recipes: PathBuf,
    /// Folder for the run folders.
    #[arg(long, default_value = "runs/ucr")]
    runs: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let world = current();
    if world.size() > 1 && !matches!(args.workload, Workload::SimclrStep { .. }) {
        anyhow::bail!(
            "of the benchmarks, only simclr-step runs data-parallel on {} ranks; launch the others without mpirun",
            world.size()
        );
    }
    if let Some(path) = &args.json
        && world.is_root()
    {
        flags::output_file("--json", path)?;
    }
    let result: BenchResult = match args.workload {
        Workload::Ucr(ucr) => return run_ucr(ucr, args.json.as_deref()),
        Workload::Mfcc(mfcc) => return run_mfcc(mfcc, args.json.as_deref()),
        Workload::Probe(probe) => return run_probe(probe, args.json.as_deref()),
        Workload::Wav2vec2Step { batch_size, step } => {
            step.apply_kernels();
            autodidact_audio::bench::run(&autodidact_audio::bench::Wav2Vec2StepBench {
                batch_size,
                steps: step.steps,
                warmup: step.warmup,
                device: step.device,
                ..Default::default()
            })?
        }
        Workload::VitStep { batch_size, step } => {
            autodidact_vision::bench::vit_step::run(&VitStepBench {
                batch_size,
                steps: step.steps,
                warmup: step.warmup,
                device: step.device,
                plain_kernels: step.plain_kernels,
                ..Default::default()
            })?
        }
        Workload::TextStep { batch_size, step } => text_step(TextObjective::Clm, batch_size, step)?,
        Workload::MlmStep { batch_size, step } => text_step(TextObjective::Mlm, batch_size, step)?,
        Workload::SimclrStep {
            encoder,
            batch_size,
            step,
        } => autodidact_vision::bench::simclr_step::run(&SimclrStepBench {
            encoder,
            batch_size,
            steps: step.steps,
            warmup: step.warmup,
            device: step.device,
            plain_kernels: step.plain_kernels,
            ..Default::default()
        })?,
        Workload::Forward {
            encoder,
            batch_size,
            repeats,
            warmup,
            device,
            plain_kernels,
        } => autodidact_vision::bench::forward::run(&ForwardBench {
            encoder,
            batch_size,
            repeats,
            warmup,
            device,
            plain_kernels,
            ..Default::default()
        })?,
        Workload::Augment { threads, images } => {
            autodidact_vision::bench::augment::run(&AugmentBench {
                threads,
                images,
                ..Default::default()
            })?
        }
        Workload::Knn { queries, bank } => autodidact_vision::bench::knn::run(&KnnBench {
            queries,
            bank,
            ..Default::default()
        })?,
    };
    println!("{}", result.summary());
    if let Some(path) = args.json
        && world.is_root()
    {
        result.write_json(&path)?;
    }
    Ok(())
}

fn text_step(
    objective: TextObjective,
    batch_size: usize,
    step: StepFlags,
) -> anyhow::Result<BenchResult> {
    autodidact_text::bench::run(&TextStepBench {
        batch_size,
        steps: step.steps,
        warmup: step.warmup,
        device: step.device,
        plain_kernels: step.plain_kernels,
        ..TextStepBench::recipe(objective)
    })
}

fn run_ucr(args: UcrArgs, json: Option<&Path>) -> anyhow::Result<()> {
    let data = match args.data {
        Some(d) => d,
        None => match std::env::var_os("AUTODIDACT_DATA") {
            Some(root) => PathBuf::from(root).join("ucr"),
            None => anyhow::bail!(
                "give --data DIR (a folder of UCR problem folders) or set AUTODIDACT_DATA"
            ),
        },
    };
    let cfg = UcrBenchConfig {
        methods: args.methods,
        protocols: parse_protocols(&args.protocol)
            .map_err(|e| anyhow::anyhow!("--protocol: {e}"))?,
        fractions: parse_fractions(&args.labels_fraction)
            .map_err(|e| anyhow::anyhow!("--labels-fraction: {e}"))?,
        baseline: !args.no_baseline,
        recipes: args.recipes,
        runs: args.runs,
        seed: args.seed,
    };
    let mut report = UcrReport::default();
    for problem in find_problems(&data)? {
        report
            .results
            .extend(bench_problem(&problem, &cfg, &|line| println!("{line}"))?);
        if let Some(path) = json {
            // Written after every problem, so a long run leaves its finished part behind.
            write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
        }
    }
    println!("\n{}", ucr_table(&report.results));
    if let Some(path) = json {
        println!("results written to {}", path.display());
    }
    Ok(())
}

/// Markdown table: one row per problem, method, protocol and share.
fn ucr_table(rows: &[UcrRow]) -> String {
    let mut out = String::from(
        "| dataset | method | protocol | labels | accuracy % | 1-NN ED % | supervised % | seconds |\n|---|---|---|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {}% | {:.2} | {:.2} | {} | {:.0} |\n",
            r.dataset,
            r.method,
            r.protocol,
            r.labels_fraction * 100.0,
            100.0 * r.accuracy,
            100.0 * r.baseline_1nn_euclidean,
            r.supervised_baseline
                .map_or_else(|| "-".to_string(), |b| format!("{:.2}", 100.0 * b)),
            r.seconds
        ));
    }
    out
}
