//! Pre-training on text: the run's config and the text side of the one loop.
//!
//! As in the other loops, the batch and every random draw of step `s` (windows, masks, dropout)
//! come from `(seed, s)`, checkpoints are atomic, a NaN loss stops the run with the last
//! checkpoint kept, and `--resume` continues exactly. A `--minutes` budget times the first steps,
//! then fixes the number of steps so that the warm-up + cosine schedule ends with the time.
//! Next-token runs hold out the last part of the corpus and report its loss (nats per token).

use std::path::{Path, PathBuf};

use anyhow::bail;
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::batch::{
    TokenBatch, eval_windows, pack_rows, packed_batch, pad_sequences, stream_windows,
};
use super::model::{TextEncoder, TransformerConfig};
use super::tokenizer::{TextTokenizer, TokenizerKind};
pub use crate::methods::TextInput;
use crate::methods::clm;
use crate::methods::{Method, MethodVisitor, TextMethod, TextMethodKind};
use autodidact_core::method::read_settings;
use autodidact_core::recipe::Recipe;
use autodidact_core::train::checkpoint::load_run_encoder;
use autodidact_core::train::fit::{BatchSource, Budget, Heldout, LoopSettings, Schedule, fit};
use autodidact_core::train::limits::{self, Settings};
use autodidact_core::train::metrics::{TrainOptions, TrainSummary};
use autodidact_core::train::optim::OptimizerConfig;
use autodidact_core::train::progress::Progress;
use autodidact_core::train::seed::{mix, seeded_init};
use autodidact_core::train::settings::{DeviceChoice, load_settings, save_settings};

/// Stream of the per-step seed handed to methods and to the dropout generator.
pub const METHOD_STREAM: u64 = 0x5445_5854;
/// Held-out windows scored at each evaluation (at most).
const HELDOUT_WINDOWS: usize = 256;

/// Everything needed to rerun a text pre-training run (`config.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextRunConfig {
    pub method: TextMethodKind,
    pub data: PathBuf,
    pub tokenizer: TokenizerKind,
    /// Vocabulary size asked of the subword trainers (the char vocabulary is the corpus').
    pub vocab_size: usize,
    pub model: TransformerConfig,
    pub batch_size: usize,
    /// Optimiser steps (fixed after calibration when `minutes` is given).
    pub steps: usize,
    pub minutes: Option<f64>,
    pub seed: u64,
    pub device: DeviceChoice,
    /// Peak learning rate, warm-up share and weight decay; the rate decays to a tenth by cosine.
    pub optimizer: OptimizerConfig,
    /// The method's own settings (its `Config`'s fields).
    pub method_config: toml::Table,
    /// Share of the corpus (its end) held out for the next-token loss.
    pub heldout_fraction: f64,
    /// Measure the held-out loss every this many steps (and at the end).
    pub eval_every: usize,
    pub checkpoint_every: usize,
    pub log_every: usize,
    /// The run whose encoder (and tokenizer) this one starts from, e.g. SimCSE after MLM.
    #[serde(default)]
    pub init: Option<PathBuf>,
}

impl TextRunConfig {
    /// Defaults for `method`: the small Transformer, 128 tokens, batch 32, AdamW 1e-3 with 0.1
    /// weight decay and 2% warm-up, 2,000 steps.
    pub fn defaults(method: TextMethodKind, data: PathBuf, tokenizer: TokenizerKind) -> Self {
        Self {
            method,
            data,
            tokenizer,
            vocab_size: 8000,
            model: TransformerConfig {
                // SimCSE's views differ only by dropout (the paper's 0.1).
                dropout: if method == TextMethodKind::Simcse {
                    0.1
                } else {
                    0.0
                },
                ..TransformerConfig::default()
            },
            batch_size: 32,
            steps: 2000,
            minutes: None,
            seed: 0,
            device: DeviceChoice::Cpu,
            optimizer: OptimizerConfig {
                lr: 1e-3,
                weight_decay: 0.1,
                warmup_fraction: 0.02,
                ..OptimizerConfig::default()
            },
            method_config: method.default_settings(),
            heldout_fraction: 0.1,
            eval_every: 250,
            checkpoint_every: 500,
            log_every: 10,
            init: None,
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        save_settings(self, path)
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        load_settings(path, Self::validate)
    }

    /// Checks every setting against its accepted range; `source` names where they came from.
    pub fn validate(&self, source: &str) -> anyhow::Result<()> {
        let s = Settings::of(source);
        s.int("batch_size", self.batch_size, limits::BATCH_SIZE)?;
        s.int("steps", self.steps, limits::STEPS)?;
        s.some_real("minutes", self.minutes, limits::MINUTES)?;
        s.int("vocab_size", self.vocab_size, limits::VOCAB_SIZE)?;
        let m = &self.model;
        s.int("model.d_model", m.d_model, limits::WIDTH)?;
        s.int("model.n_layers", m.n_layers, limits::DEPTH)?;
        s.int("model.n_heads", m.n_heads, 1..=m.d_model)?;
        if !m.d_model.is_multiple_of(m.n_heads) {
            bail!(
                "{source}: model.d_model = {} is not a multiple of model.n_heads = {}",
                m.d_model,
                m.n_heads
            );
        }
        s.int("model.max_len (--context)", m.max_len, limits::CONTEXT)?;
        s.real("model.dropout", m.dropout, limits::SHARE)?;
        let tokens = self.batch_size.saturating_mul(m.max_len);
        if tokens > limits::TOKENS_PER_STEP {
            bail!(
                "{source}: batch_size x context = {} x {} = {tokens} tokens a step; at most {} are accepted",
                self.batch_size,
                m.max_len,
                limits::TOKENS_PER_STEP
            );
        }
        s.real("heldout_fraction", self.heldout_fraction, limits::SHARE)?;
        s.int("eval_every", self.eval_every, limits::EVERY)?;
        s.int("checkpoint_every", self.checkpoint_every, limits::EVERY)?;
        s.int("log_every", self.log_every, limits::EVERY)?;
        self.optimizer.validate(&s)?;
        self.method.check_settings(&self.method_config, &s)
    }

    /// A fresh encoder of this run's architecture for `vocab` tokens.
    pub fn build_encoder(&self, vocab: usize, device: &Device) -> TextEncoder {
        TextEncoder::new(vocab, &self.model, self.method.causal(), device)
    }
}

/// The tokenised corpus, split for training and (next-token runs) held out.
pub struct TextCorpus {
    /// Next-token runs: the training stream; other runs: empty.
    pub stream: Vec<u32>,
    pub heldout: Vec<u32>,
    /// Other runs: one token sequence per text (`[CLS]` first).
    pub texts: Vec<Vec<u32>>,
}

impl TextCorpus {
    /// Tokenises `texts` for `input`: one stream (texts joined by blank lines, the last
    /// `heldout_fraction` held out) or one sequence per text.
    pub fn new(
        texts: &[String],
        tokenizer: &TextTokenizer,
        input: TextInput,
        heldout_fraction: f64,
    ) -> Self {
        match input {
            TextInput::Stream => {
                let all = tokenizer.encode(&texts.join("\n\n"));
                let cut = ((1.0 - heldout_fraction) * all.len() as f64) as usize;
                Self {
                    stream: all[..cut].to_vec(),
                    heldout: all[cut..].to_vec(),
                    texts: Vec::new(),
                }
            }
            TextInput::Texts | TextInput::Packed => Self {
                stream: Vec::new(),
                heldout: Vec::new(),
                texts: texts
                    .iter()
                    .map(|t| tokenizer.sequence(t, usize::MAX))
                    .filter(|ids| ids.len() > 1)
                    .collect(),
            },
        }
    }
}

impl TextCorpus {
    /// Rows of `len` tokens in one pass over the training data as `input` reads it (packed texts
    /// counted in their stored order; an epoch's packing in another order differs by a few rows).
    /// Computed once per run: packing walks every text.
    fn rows_per_epoch(&self, input: TextInput, len: usize) -> f64 {
        match input {
            TextInput::Stream => self.stream.len() as f64 / len as f64,
            TextInput::Texts => self.texts.len() as f64,
            TextInput::Packed => {
                let order: Vec<usize> = (0..self.texts.len()).collect();
                pack_rows(&self.texts, &order, len).len() as f64
            }
        }
    }
}

/// Pre-trains the text method named in `cfg` on `corpus` (tokenised with a vocabulary of
/// `vocab`) into `run_dir`.
///
/// ```
/// use autodidact_core::train::metrics::TrainOptions;
/// use autodidact_text::methods::TextMethodKind;
/// use autodidact_text::model::TransformerConfig;
/// use autodidact_text::synthetic::topic_sentences;
/// use autodidact_text::tokenizer::{TextTokenizer, TokenizerKind};
/// use autodidact_text::train::{TextCorpus, TextRunConfig, pretrain};
///
/// let texts = topic_sentences(64).texts;
/// let tokenizer = TextTokenizer::train(TokenizerKind::Char, &texts, 0)?;
/// let method = TextMethodKind::Mlm;
/// let mut cfg = TextRunConfig::defaults(method, "generated".into(), TokenizerKind::Char);
/// cfg.model = TransformerConfig { d_model: 32, n_layers: 1, n_heads: 2, max_len: 32, dropout: 0.0 };
/// cfg.batch_size = 8;
/// cfg.steps = 3;
/// let corpus = TextCorpus::new(&texts, &tokenizer, method.input(), cfg.heldout_fraction);
/// let dir = tempfile::tempdir()?;
/// let quiet = TrainOptions { quiet: true, ..TrainOptions::default() };
/// let summary = pretrain(&cfg, &corpus, tokenizer.vocab_size(), dir.path(), &quiet)?;
/// assert_eq!(summary.steps, 3);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn pretrain(
    cfg: &TextRunConfig,
    corpus: &TextCorpus,
    vocab: usize,
    run_dir: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainSummary> {
    cfg.method.visit(Pretrain {
        cfg,
        corpus,
        vocab,
        run_dir,
        opts,
    })
}

struct Pretrain<'a> {
    cfg: &'a TextRunConfig,
    corpus: &'a TextCorpus,
    vocab: usize,
    run_dir: &'a Path,
    opts: &'a TrainOptions,
}

impl MethodVisitor for Pretrain<'_> {
    type Output = anyhow::Result<TrainSummary>;
    fn visit<M: TextMethod>(self) -> Self::Output {
        pretrain_with::<M>(self.cfg, self.corpus, self.vocab, self.run_dir, self.opts)
    }
}

/// Lays a recipe's `[method_config]` over `kind`'s defaults and checks the result.
pub fn method_config_of(kind: TextMethodKind, recipe: &Recipe) -> anyhow::Result<toml::Table> {
    let table = kind.recipe_settings(recipe)?;
    let source = recipe.name();
    kind.check_settings(&table, &Settings::of(&source))?;
    Ok(table)
}

/// The batch of step `step`; `rows_per_epoch` from [`TextCorpus::rows_per_epoch`].
fn batch_for(
    input: TextInput,
    corpus: &TextCorpus,
    rows_per_epoch: f64,
    cfg: &TextRunConfig,
    step: usize,
) -> TokenBatch {
    let len = cfg.model.max_len;
    match input {
        TextInput::Stream => stream_windows(&corpus.stream, cfg.batch_size, len, cfg.seed, step),
        TextInput::Texts => {
            let n = corpus.texts.len();
            let per_epoch = (n / cfg.batch_size).max(1);
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut StdRng::seed_from_u64(mix(
                cfg.seed,
                (step / per_epoch) as u64,
            )));
            let start = (step % per_epoch) * cfg.batch_size;
            let seqs: Vec<Vec<u32>> = order[start..(start + cfg.batch_size).min(n)]
                .iter()
                .map(|&i| corpus.texts[i].clone())
                .collect();
            pad_sequences(&seqs, len, TextTokenizer::PAD)
        }
        TextInput::Packed => {
            let n = corpus.texts.len();
            let per_epoch = (rows_per_epoch as usize).div_ceil(cfg.batch_size).max(1);
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut StdRng::seed_from_u64(mix(
                cfg.seed,
                (step / per_epoch) as u64,
            )));
            let rows = pack_rows(&corpus.texts, &order, len);
            let start = (step % per_epoch) * cfg.batch_size % rows.len();
            let take: Vec<Vec<usize>> = rows
                .iter()
                .cycle()
                .skip(start)
                .take(cfg.batch_size)
                .cloned()
                .collect();
            packed_batch(&corpus.texts, &take, len, TextTokenizer::PAD)
        }
    }
}

/// Mean next-token loss over the held-out windows (nats per token).
pub fn heldout_loss(
    encoder: &TextEncoder,
    heldout: &[u32],
    batch: usize,
    device: &Device,
) -> Option<f64> {
    let windows = eval_windows(heldout, encoder.max_len(), HELDOUT_WINDOWS);
    if windows.is_empty() {
        return None;
    }
    let encoder = encoder.valid();
    let mut total = 0.0;
    for chunk in windows.chunks(batch.max(1)) {
        let b = TokenBatch {
            ids: chunk.iter().flat_map(|w| w.0.clone()).collect(),
            valid: vec![1.0; chunk.len() * encoder.max_len()],
            next: chunk.iter().flat_map(|w| w.1.clone()).collect(),
            segments: Vec::new(),
            batch: chunk.len(),
            len: encoder.max_len(),
        };
        let (loss, _) = clm::next_token_loss(&encoder, &b, false, device);
        total += loss.into_scalar::<f32>() as f64 * chunk.len() as f64;
    }
    Some(total / windows.len() as f64)
}

/// Pre-trains method `M` into `run_dir`.
pub fn pretrain_with<M: TextMethod>(
    cfg: &TextRunConfig,
    corpus: &TextCorpus,
    vocab: usize,
    run_dir: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainSummary> {
    match M::input() {
        TextInput::Stream if corpus.stream.len() <= cfg.model.max_len + 1 => bail!(
            "{}: {} training tokens is too few for windows of {}",
            cfg.data.display(),
            corpus.stream.len(),
            cfg.model.max_len
        ),
        TextInput::Texts | TextInput::Packed if corpus.texts.len() < 2 => {
            bail!("{}: fewer than two non-empty texts", cfg.data.display())
        }
        _ => {}
    }
    let method_config =
        read_settings::<M::Config>(&cfg.method_config, &Settings::of("config.toml"))?;
    let device = cfg.device.device()?.autodiff();
    let mut model = seeded_init(&device, cfg.seed, || {
        M::new(&method_config, cfg.build_encoder(vocab, &device), &device)
    });
    if let Some(init) = cfg.init.as_ref().filter(|_| !opts.resume) {
        let encoder = load_run_encoder(init, cfg.build_encoder(vocab, &device))?;
        model = seeded_init(&device, cfg.seed, || {
            M::new(&method_config, encoder, &device)
        });
    }
    let rows_per_epoch = corpus.rows_per_epoch(M::input(), cfg.model.max_len);
    let settings = LoopSettings {
        seed: cfg.seed,
        stream: METHOD_STREAM,
        budget: match cfg.minutes {
            None => Budget::Steps(cfg.steps),
            Some(minutes) => Budget::Minutes {
                minutes,
                max_steps: None,
            },
        },
        optimizer: cfg.optimizer.clone(),
        // Text runs decay to a tenth of the peak, not to zero.
        schedule: Schedule::WarmupCosine { floor: 0.1 },
        checkpoint_every: cfg.checkpoint_every,
        log_every: cfg.log_every,
        unit: "tokens",
        units_per_step: cfg.batch_size * cfg.model.max_len,
        steps_per_epoch: rows_per_epoch.max(1.0) / cfg.batch_size as f64,
    };
    let mut source = TokenBatches {
        input: M::input(),
        corpus,
        rows_per_epoch,
        cfg,
    };
    let mut heldout = HeldoutWindows {
        tokens: &corpus.heldout,
        batch: cfg.batch_size,
        every: cfg.eval_every,
        device: cfg.device.device()?,
    };
    let heldout: Option<&mut dyn Heldout<M>> =
        (M::input() == TextInput::Stream).then_some(&mut heldout as &mut dyn Heldout<M>);
    let mut progress = Progress::new(opts.quiet);
    let fitted = fit(
        model,
        &mut source,
        &settings,
        run_dir,
        opts,
        heldout,
        &mut progress,
    )?;
    Ok(fitted.summary)
}

/// The token batch of each step ([`batch_for`]).
struct TokenBatches<'a> {
    input: TextInput,
    corpus: &'a TextCorpus,
    rows_per_epoch: f64,
    cfg: &'a TextRunConfig,
}

impl BatchSource for TokenBatches<'_> {
    type Batch = TokenBatch;

    fn batch(&mut self, step: usize) -> Option<TokenBatch> {
        Some(batch_for(
            self.input,
            self.corpus,
            self.rows_per_epoch,
            self.cfg,
            step,
        ))
    }
}

/// The next-token loss on the held-out end of the corpus ([`heldout_loss`]).
struct HeldoutWindows<'a> {
    tokens: &'a [u32],
    batch: usize,
    every: usize,
    device: Device,
}

impl<M: Method<Encoder = TextEncoder>> Heldout<M> for HeldoutWindows<'_> {
    fn every(&self) -> usize {
        self.every
    }

    fn loss(&mut self, model: &M) -> Option<f64> {
        heldout_loss(model.encoder(), self.tokens, self.batch, &self.device)
    }
}
