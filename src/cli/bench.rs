//! `autodidact bench`: speed of the hot paths, one workload per sub-command.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use autodidact::bench::{
    BenchResult, augment::AugmentBench, forward::ForwardBench, knn::KnnBench,
    simclr_step::SimclrStepBench,
};
use autodidact::encoders::EncoderKind;
use autodidact::train::config::DeviceChoice;

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
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        /// Timed steps (the median is reported).
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// Untimed steps first.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
        device: DeviceChoice,
        /// Use Burn's own convolution and BatchNorm instead of autodidact's kernels.
        #[arg(long)]
        plain_kernels: bool,
    },
    /// Encoder inference (eval mode) on RGB 32x32 images.
    Forward {
        #[arg(long, value_enum, default_value_t = EncoderKind::Cnn)]
        encoder: EncoderKind,
        #[arg(long, default_value_t = 256)]
        batch_size: usize,
        #[arg(long, default_value_t = 20)]
        repeats: usize,
        /// Untimed passes first.
        #[arg(long, default_value_t = 3)]
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
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 2048)]
        images: usize,
    },
    /// Weighted k-NN (k = 200) of queries against a bank of 256-d embeddings.
    Knn {
        #[arg(long, default_value_t = 10_000)]
        queries: usize,
        #[arg(long, default_value_t = 50_000)]
        bank: usize,
    },
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let result: BenchResult = match args.workload {
        Workload::SimclrStep {
            encoder,
            batch_size,
            steps,
            warmup,
            device,
            plain_kernels,
        } => autodidact::bench::simclr_step::run(&SimclrStepBench {
            encoder,
            batch_size,
            steps,
            warmup,
            device,
            plain_kernels,
            ..Default::default()
        })?,
        Workload::Forward {
            encoder,
            batch_size,
            repeats,
            warmup,
            device,
            plain_kernels,
        } => autodidact::bench::forward::run(&ForwardBench {
            encoder,
            batch_size,
            repeats,
            warmup,
            device,
            plain_kernels,
            ..Default::default()
        })?,
        Workload::Augment { threads, images } => autodidact::bench::augment::run(&AugmentBench {
            threads,
            images,
            ..Default::default()
        })?,
        Workload::Knn { queries, bank } => autodidact::bench::knn::run(&KnnBench {
            queries,
            bank,
            ..Default::default()
        })?,
    };
    println!("{}", result.summary());
    if let Some(path) = args.json {
        result.write_json(&path)?;
    }
    Ok(())
}
