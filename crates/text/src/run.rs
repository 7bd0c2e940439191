//! A finished text run read back: its settings, its tokenizer and its trained Transformer.

use std::path::Path;

use anyhow::Context;
use burn::prelude::*;

use crate::model::TextEncoder;
use crate::tokenizer::TextTokenizer;
use crate::train::TextRunConfig;
use autodidact_core::train::checkpoint::load_run_encoder;

/// A text run's config, tokenizer and trained Transformer.
pub struct LoadedTextRun {
    pub config: TextRunConfig,
    pub tokenizer: TextTokenizer,
    pub encoder: TextEncoder,
    pub device: Device,
}

/// Loads a text run's `config.toml`, `tokenizer.json` and `encoder.safetensors`.
pub fn load_text_run(run: &Path) -> anyhow::Result<LoadedTextRun> {
    let config = TextRunConfig::load(&run.join("config.toml"))?;
    let tokenizer_path = run.join("tokenizer.json");
    let tokenizer = TextTokenizer::load(&tokenizer_path)?;
    let device = config.device.device()?;
    let vocab = tokenizer.vocab_size();
    let encoder = load_run_encoder(run, config.build_encoder(vocab, &device))
        .with_context(|| format!("{} holds {vocab} tokens", tokenizer_path.display()))?;
    Ok(LoadedTextRun {
        config,
        tokenizer,
        encoder,
        device,
    })
}
