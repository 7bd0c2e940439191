//! A text corpus to a classifier with few labels: a character tokenizer and a small Transformer
//! pre-trained by masked language modelling on unlabelled sentences, then fine-tuned with a
//! linear head on 5% of the labels, beside the same Transformer trained from scratch on them.
//!
//! `cargo run --release --example text_classifier`

use autodidact::core::eval::protocol::Protocol;
use autodidact::core::eval::suite::{LabelShare, SuiteConfig, evaluate};
use autodidact::text::eval::{FineTuneConfig, TextEvaluand, TextTraining, text_suite};
use autodidact::text::methods::TextMethodKind;
use autodidact::text::model::TransformerConfig;
use autodidact::text::synthetic::topic_sentences;
use autodidact::text::tokenizer::{TextTokenizer, TokenizerKind};
use autodidact::text::train::{TextCorpus, TextRunConfig, pretrain};
use autodidact::train::checkpoint::load_encoder;
use autodidact::train::metrics::TrainOptions;

fn main() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let sentences = topic_sentences(400);
    let train = sentences.subset(&(0..320).collect::<Vec<_>>());
    let test = sentences.subset(&(320..400).collect::<Vec<_>>());

    let method = TextMethodKind::Mlm;
    let mut cfg = TextRunConfig::defaults(method, "(generated)".into(), TokenizerKind::Char);
    cfg.model = TransformerConfig {
        d_model: 64,
        n_layers: 2,
        n_heads: 4,
        max_len: 64,
        dropout: 0.0,
    };
    cfg.batch_size = 32;
    cfg.steps = 150;
    cfg.optimizer.lr = 3e-3;
    let tokenizer = TextTokenizer::train(TokenizerKind::Char, &train.texts, 0)?;
    let corpus = TextCorpus::new(
        &train.texts,
        &tokenizer,
        method.input(),
        cfg.heldout_fraction,
    );
    let run = work.path().join("run");
    std::fs::create_dir_all(&run)?;
    let quiet = TrainOptions {
        quiet: true,
        ..TrainOptions::default()
    };
    let summary = pretrain(&cfg, &corpus, tokenizer.vocab_size(), &run, &quiet)?;
    println!(
        "mlm: {} steps, final loss {:.3}",
        summary.steps, summary.final_loss
    );

    let device = cfg.device.device()?;
    let encoder = load_encoder(
        cfg.build_encoder(tokenizer.vocab_size(), &device),
        &summary.encoder_path,
    )?;
    let suite = SuiteConfig {
        protocols: vec![Protocol::Finetune],
        shares: vec![LabelShare::Fraction(0.05)],
        ..text_suite(0)
    };
    let texts = TextEvaluand {
        encoder: &encoder,
        tokenizer: &tokenizer,
        run: &cfg,
        train: &train,
        test: &test,
        training: TextTraining {
            finetune: FineTuneConfig {
                min_steps: 60,
                max_steps: 60,
                ..FineTuneConfig::default()
            },
            ..TextTraining::default()
        },
        device: &device,
    };
    let results = evaluate(&texts, &suite, &|_| {})?;
    for r in &results {
        println!(
            "{} with {} of the labels: {:.2}% (from scratch {})",
            r.protocol,
            r.labels(),
            100.0 * r.ssl_accuracy,
            r.baseline_accuracy
                .map_or("-".to_string(), |b| format!("{:.2}%", 100.0 * b))
        );
    }
    Ok(())
}
