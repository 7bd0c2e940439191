//! Verbs of the command line, one file each.

mod bench;
mod demo;
mod embed;
mod eval;
mod eval_series;
mod eval_text;
mod flags;
mod generate;
mod methods;
mod pretrain;
mod pretrain_series;
mod pretrain_text;
mod run_dir;
mod search;

use clap::{Parser, Subcommand};

/// Self-supervised pre-training and few-label evaluation.
#[derive(Parser, Debug)]
#[command(name = "autodidact", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Pre-train an encoder on unlabeled data.
    Pretrain(pretrain::PretrainArgs),
    /// Evaluate a pre-trained encoder at label budgets (k-NN, linear probe, baseline).
    Eval(eval::EvalArgs),
    /// Write the embeddings of a data set to a .npy file.
    Embed(embed::EmbedArgs),
    /// Pre-train and evaluate on the bundled MNIST sample, end to end, in a few minutes.
    Demo(demo::DemoArgs),
    /// Measure the speed of the hot paths (training step, inference, augmentation, k-NN).
    Bench(bench::BenchArgs),
    /// Continue a prompt with a next-token (clm) run.
    Generate(generate::GenerateArgs),
    /// Find the lines of a corpus nearest to a query (text runs).
    Search(search::SearchArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Pretrain(args) => pretrain::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Search(args) => search::run(args),
    }
}
