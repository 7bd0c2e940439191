//! The `autodidact` command line: one file per verb; [`main`] is the binary's whole body.

pub mod api;
mod bench;
mod bench_audio;
mod bench_probe;
mod demo;
mod embed;
mod eval;
mod eval_args;
mod eval_audio;
mod eval_pairs;
mod eval_series;
mod eval_text;
mod export;
mod flags;
mod generate;
mod methods;
mod pictures;
mod pretrain;
mod pretrain_args;
mod pretrain_audio;
mod pretrain_pairs;
mod pretrain_series;
mod pretrain_text;
mod ranks;
mod run_dir;
mod search;
mod search_args;
mod search_pairs;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

/// Parses the command line and runs it: one line on stderr and a non-zero exit for any error.
pub fn main() {
    autodidact_core::alloc::keep_freed_memory();
    let args = match Cli::try_parse() {
        Ok(args) => args,
        Err(err) => exit_on_bad_flags(err),
    };
    let launch = match ranks::Launch::join() {
        Ok(launch) => launch,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(1);
        }
    };
    match run(args, &launch) {
        Ok(()) => launch.finish(),
        Err(err) => launch.fail(&err),
    }
}

/// A bad flag value gets the one line that names the flag and the accepted range (clap's own
/// rendering adds a blank line and a pointer to --help); help, version and usage errors print as
/// clap writes them.
fn exit_on_bad_flags(err: clap::Error) -> ! {
    match err.kind() {
        ErrorKind::ValueValidation | ErrorKind::InvalidValue | ErrorKind::UnknownArgument => {
            let text = err.to_string();
            eprintln!(
                "{}",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            std::process::exit(2);
        }
        _ => err.exit(),
    }
}

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
    Pretrain(pretrain_args::PretrainArgs),
    /// Evaluate a pre-trained encoder at label budgets (k-NN, linear probe, baseline).
    Eval(eval_args::EvalArgs),
    /// Write the embeddings of a data set to a .npy file.
    Embed(embed::EmbedArgs),
    /// Write a run's encoder as an ONNX graph.
    Export(export::ExportArgs),
    /// Pre-train and evaluate on the bundled MNIST sample, end to end, in a few minutes.
    Demo(demo::DemoArgs),
    /// Measure the speed of the hot paths (training step, inference, augmentation, k-NN).
    Bench(bench::BenchArgs),
    /// Continue a prompt with a next-token (clm) run.
    Generate(generate::GenerateArgs),
    /// Find the lines of a corpus nearest to a query (text runs), or the images nearest to a
    /// caption and the captions nearest to an image (image-caption runs).
    Search(search_args::SearchArgs),
}

/// Runs the parsed command.
impl Command {
    fn verb(&self) -> &'static str {
        match self {
            Command::Pretrain(_) => "pretrain",
            Command::Eval(_) => "eval",
            Command::Embed(_) => "embed",
            Command::Export(_) => "export",
            Command::Demo(_) => "demo",
            Command::Bench(_) => "bench",
            Command::Generate(_) => "generate",
            Command::Search(_) => "search",
        }
    }
}

pub fn run(cli: Cli, launch: &ranks::Launch) -> anyhow::Result<()> {
    let data_parallel = matches!(cli.command, Command::Pretrain(_) | Command::Bench(_));
    launch.check(cli.command.verb(), data_parallel)?;
    match cli.command {
        Command::Pretrain(args) => pretrain::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Export(args) => export::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Search(args) => search::run(args),
    }
}
