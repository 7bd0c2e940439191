//! Text pre-training end to end on generated sentences: every method learns, a resumed run ends
//! where an uninterrupted one does, and the shared loop's NaN stop and collapse watch hold on a
//! text method.

use std::path::Path;

use autodidact_core::method::{Method, MethodSettings, StepOutput, device_of};
use autodidact_core::train::limits::Settings;
use autodidact_core::train::metrics::{TrainOptions, TrainSummary, read_metrics};
use autodidact_core::train::seed::mix;
use autodidact_text::batch::TokenBatch;
use autodidact_text::methods::{TextInput, TextMethod, TextMethodKind};
use autodidact_text::model::{TextEncoder, TransformerConfig};
use autodidact_text::synthetic::topic_sentences;
use autodidact_text::tokenizer::{TextTokenizer, TokenizerKind};
use autodidact_text::train::{METHOD_STREAM, TextCorpus, TextRunConfig, pretrain, pretrain_with};
use burn::prelude::*;

fn quiet() -> TrainOptions {
    TrainOptions {
        quiet: true,
        ..TrainOptions::default()
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// `(step, loss)` of every line of a run's `metrics.jsonl`.
fn loss_curve(run_dir: &Path) -> Vec<(usize, f64)> {
    read_metrics(run_dir)
        .expect("metrics readable")
        .iter()
        .map(|m| (m.step, m.loss))
        .collect()
}

fn small_config(method: TextMethodKind, data: &Path, steps: usize) -> TextRunConfig {
    let mut cfg = TextRunConfig::defaults(method, data.to_path_buf(), TokenizerKind::Char);
    cfg.model = TransformerConfig {
        d_model: 32,
        n_layers: 2,
        n_heads: 2,
        max_len: 32,
        dropout: cfg.model.dropout,
    };
    cfg.batch_size = 16;
    cfg.steps = steps;
    cfg.log_every = 1;
    cfg.eval_every = 10;
    cfg.checkpoint_every = 10;
    cfg.seed = 5;
    cfg.optimizer.lr = 3e-3;
    cfg
}

#[test]
fn every_text_method_lowers_its_loss_and_clm_reports_a_held_out_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let texts: Vec<String> = topic_sentences(200).texts;
    for (method, input) in [
        (TextMethodKind::Clm, TextInput::Stream),
        (TextMethodKind::Mlm, TextInput::Packed),
        (TextMethodKind::Simcse, TextInput::Texts),
    ] {
        let run = tmp.path().join(method.name());
        std::fs::create_dir_all(&run).unwrap();
        let cfg = small_config(method, &run, 60);
        let tokenizer = TextTokenizer::train(TokenizerKind::Char, &texts, 0).unwrap();
        let corpus = TextCorpus::new(&texts, &tokenizer, input, 0.1);
        let summary = pretrain(&cfg, &corpus, tokenizer.vocab_size(), &run, &quiet()).unwrap();
        let losses: Vec<f64> = read_metrics(&run).unwrap().iter().map(|m| m.loss).collect();
        let (first, last) = (mean(&losses[..5]), mean(&losses[losses.len() - 5..]));
        assert!(
            last < 0.8 * first,
            "{}: loss {first:.3} -> {last:.3}",
            method.name()
        );
        match method {
            TextMethodKind::Clm => {
                let held = summary.val_loss.expect("clm reports a held-out loss");
                // Held-out text the model never trained on: it must have generalised too.
                assert!(
                    held < 0.7 * losses[0],
                    "held-out loss {held} vs first {}",
                    losses[0]
                );
                assert!(
                    read_metrics(&run)
                        .unwrap()
                        .iter()
                        .any(|m| m.val_loss.is_some())
                );
            }
            _ => assert!(summary.val_loss.is_none()),
        }
    }
}

#[test]
fn a_resumed_text_run_ends_where_an_uninterrupted_one_does() {
    let tmp = tempfile::tempdir().unwrap();
    let texts: Vec<String> = topic_sentences(60).texts;
    let tokenizer = TextTokenizer::train(TokenizerKind::Char, &texts, 0).unwrap();
    let corpus = TextCorpus::new(&texts, &tokenizer, TextInput::Texts, 0.1);
    let cfg = small_config(TextMethodKind::Simcse, tmp.path(), 20);
    let (straight, resumed) = (tmp.path().join("a"), tmp.path().join("b"));
    for d in [&straight, &resumed] {
        std::fs::create_dir_all(d).unwrap();
    }
    let vocab = tokenizer.vocab_size();
    pretrain(&cfg, &corpus, vocab, &straight, &quiet()).unwrap();
    let stop = TrainOptions {
        stop_after: Some(10),
        ..quiet()
    };
    pretrain(&cfg, &corpus, vocab, &resumed, &stop).unwrap();
    let again = TrainOptions {
        resume: true,
        ..quiet()
    };
    pretrain(&cfg, &corpus, vocab, &resumed, &again).unwrap();
    assert_eq!(loss_curve(&straight), loss_curve(&resumed));
}

/// A text method whose loss turns NaN at one step's seed (as `i64`: TOML has no larger
/// integers), or whose embeddings are one point.
#[derive(Module, Debug)]
struct Broken {
    encoder: TextEncoder,
    nan_at_seed: i64,
    collapse: bool,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct BrokenConfig {
    nan_at_seed: i64,
    collapse: bool,
}

impl MethodSettings for BrokenConfig {
    fn validate(&self, _: &Settings) -> anyhow::Result<()> {
        Ok(())
    }
}

impl TextMethod for Broken {
    type Config = BrokenConfig;
    fn new(cfg: &BrokenConfig, encoder: TextEncoder, _: &Device) -> Self {
        Self {
            encoder,
            nan_at_seed: cfg.nan_at_seed,
            collapse: cfg.collapse,
        }
    }
    fn causal() -> bool {
        false
    }
    fn input() -> TextInput {
        TextInput::Texts
    }
}

impl Method for Broken {
    type Batch = TokenBatch;
    type Encoder = TextEncoder;

    fn step(&self, batch: TokenBatch, seed: u64) -> StepOutput {
        let (ids, valid) = batch.tensors(&device_of(self));
        let hidden = self.encoder.forward(ids, Some(valid.clone()), true);
        let z = TextEncoder::mean_pool(hidden, valid);
        let mut loss = z.clone().square().mean();
        if seed as i64 == self.nan_at_seed {
            loss = loss.mul_scalar(f32::NAN);
        }
        let z = if self.collapse {
            z.mul_scalar(0.0).add_scalar(1.0)
        } else {
            z
        };
        StepOutput::new(loss, z)
    }

    fn encoder(&self) -> &TextEncoder {
        &self.encoder
    }
}

fn broken_run(dir: &Path, cfg: &BrokenConfig) -> anyhow::Result<TrainSummary> {
    let texts = topic_sentences(40).texts;
    let tokenizer = TextTokenizer::train(TokenizerKind::Char, &texts, 0).unwrap();
    let corpus = TextCorpus::new(&texts, &tokenizer, TextInput::Texts, 0.1);
    let mut run = small_config(TextMethodKind::Simcse, dir, 6);
    run.method_config = toml::Table::try_from(cfg).unwrap();
    run.checkpoint_every = 2;
    pretrain_with::<Broken>(&run, &corpus, tokenizer.vocab_size(), dir, &quiet())
}

#[test]
fn a_nan_loss_stops_a_text_run_and_keeps_its_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    // `small_config`'s seed is 5; the method sees the step's seed, not the step.
    let cfg = BrokenConfig {
        nan_at_seed: mix(5 ^ METHOD_STREAM, 3) as i64,
        collapse: false,
    };
    let msg = broken_run(tmp.path(), &cfg).unwrap_err().to_string();
    assert!(msg.contains("NaN") && msg.contains("step 3"), "{msg}");
    assert!(msg.contains("step-00000002"), "{msg}");
}

#[test]
fn a_collapsing_text_method_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = BrokenConfig {
        nan_at_seed: 0,
        collapse: true,
    };
    let summary = broken_run(tmp.path(), &cfg).unwrap();
    assert_eq!(summary.collapse_warnings, 6, "every logged step");
}
