//! `autodidact eval` on a text run: k-NN / linear probe on sentence embeddings and fine-tuning,
//! at shares of the train labels, beside the same Transformer trained from scratch.

use super::eval_args::EvalArgs;
use super::methods::Modality;
use super::run_dir::{LoadedTextRun, load_text_run, run_kind};
use anyhow::Context;
use anyhow::bail;
use autodidact_core::eval::report::{EvalReport, format_table};
use autodidact_core::split::parse_fractions;
use autodidact_text::data::load_text_problem;
use autodidact_text::eval::{
    FineTuneConfig, TextProtocol, TextSuiteConfig, evaluate_texts, parse_text_protocols,
};
use autodidact_text::prompt::Prompt;

pub(super) fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let fractions = parse_fractions(&args.labels_fraction)
        .map_err(|e| anyhow::anyhow!("--labels-fraction: {e}"))?;
    let protocols = parse_text_protocols(args.protocol.as_deref().unwrap_or("knn,linear,finetune"))
        .map_err(|e| anyhow::anyhow!("--protocol: {e}"))?;
    let LoadedTextRun {
        config: run,
        tokenizer,
        encoder,
        device,
    } = load_text_run(&args.input.run)?;
    let problem = load_text_problem(&args.input.data, args.seed)
        .with_context(|| run_kind(&args.input.run, Modality::Text))?;
    let finetune = FineTuneConfig {
        seed: args.seed,
        lr: args.finetune_lr,
        epochs: args.finetune_epochs,
        dropout: args.finetune_dropout,
        layer_lr_decay: args.layer_lr_decay,
        ..FineTuneConfig::default()
    };
    if args.baseline
        || protocols.contains(&TextProtocol::Finetune)
        || protocols.contains(&TextProtocol::Prompt)
    {
        println!(
            "{}{}",
            finetune.describe(),
            args.freeze_embeddings.describe()
        );
    }
    let prompt = if protocols.contains(&TextProtocol::Prompt) {
        if args.label_words.is_empty() {
            bail!(
                "--protocol prompt needs --label-words (one word per class, in the order {})",
                problem.train.class_names.join(",")
            );
        }
        if args.label_words.len() != problem.train.num_classes() {
            bail!(
                "--label-words: {} words for {} classes ({})",
                args.label_words.len(),
                problem.train.num_classes(),
                problem.train.class_names.join(",")
            );
        }
        let prompt = Prompt::new(&args.prompt, &args.label_words, &tokenizer)?;
        println!(
            "prompt {:?}; label words {}",
            prompt.template,
            problem
                .train
                .class_names
                .iter()
                .zip(&prompt.label_words)
                .map(|(c, w)| format!("{c} -> {w}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Some(prompt)
    } else {
        None
    };
    let cfg = TextSuiteConfig {
        protocols,
        fractions,
        baseline: args.baseline,
        knn: args.knn_config(),
        linear: args.linear_config(),
        finetune,
        frozen_embeddings: args.freeze_embeddings,
        prompt,
        seed: args.seed,
    };
    println!(
        "{}: {} train / {} test texts, {} classes",
        problem.name,
        problem.train.len(),
        problem.test.len(),
        problem.train.num_classes()
    );
    let results = evaluate_texts(
        &encoder,
        &tokenizer,
        &run,
        &problem.train,
        &problem.test,
        &cfg,
        &device,
        &|line| println!("{line}"),
    )?;
    println!("\n{}", format_table(&results));
    if let Some(path) = &args.json {
        EvalReport {
            results,
            ..EvalReport::default()
        }
        .write_json(path)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
