//! `autodidact generate`: continue a prompt with a next-token (clm) run.

use std::path::PathBuf;

use clap::Args;

use super::flags;
use super::run_dir::{LoadedTextRun, load_text_run};
use autodidact_core::train::limits;
use autodidact_text::generate::{SampleConfig, sample};
use autodidact_text::methods::TextMethodKind;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Run folder of a `--method clm` pre-training.
    #[arg(long)]
    run: PathBuf,
    /// Text to continue.
    #[arg(long)]
    prompt: String,
    /// Tokens to generate.
    #[arg(long, default_value_t = 500, value_parser = flags::int(1..=1_000_000))]
    tokens: usize,
    /// Sampling temperature (0: always the most likely token).
    #[arg(long, default_value_t = 0.8, value_parser = flags::real(limits::Real::closed(0.0, 100.0)))]
    temperature: f64,
    /// Sample among the K most likely tokens (0: all).
    #[arg(long, default_value_t = 0, value_parser = flags::int(0..=*limits::VOCAB_SIZE.end()))]
    top_k: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let LoadedTextRun {
        config: cfg,
        tokenizer,
        encoder,
        device,
    } = load_text_run(&args.run)?;
    if cfg.method != TextMethodKind::Clm {
        anyhow::bail!(
            "{}: a {} run cannot generate text; generate needs a --method clm run",
            args.run.display(),
            cfg.method.name()
        );
    }
    let prompt = tokenizer.encode(&args.prompt);
    if prompt.is_empty() {
        anyhow::bail!("--prompt must not be empty");
    }
    let out = sample(
        &encoder,
        &prompt,
        &SampleConfig {
            tokens: args.tokens,
            temperature: args.temperature,
            top_k: args.top_k,
            seed: args.seed,
        },
        &device,
    );
    println!("{}{}", args.prompt, tokenizer.decode(&out));
    Ok(())
}
