//! `autodidact eval` on a text run: k-NN / linear probe on sentence embeddings and fine-tuning,
//! at shares of the train labels, beside the same Transformer trained from scratch.

use super::eval_args::DEFAULT_PROMPT;
use super::eval_args::EvalArgs;
use super::flags;
use super::methods::Modality;
use super::run_dir::{LoadedTextRun, load_text_run, run_kind};
use anyhow::Context;
use anyhow::bail;
use autodidact_core::eval::protocol::{Protocol, parse_protocols};
use autodidact_core::eval::report::{EvalReport, format_table};
use autodidact_core::eval::suite::{LabelShare, evaluate};
use autodidact_core::split::parse_fractions;
use autodidact_text::data::load_text_problem;
use autodidact_text::eval::{TextEvaluand, TextTraining, text_suite};
use autodidact_text::prompt::Prompt;

pub(super) fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let fractions = parse_fractions(args.labels_fraction.as_deref().unwrap_or("1"))
        .map_err(|e| anyhow::anyhow!("--labels-fraction: {e}"))?;
    let protocols = parse_protocols(args.protocol.as_deref().unwrap_or("knn,linear,finetune"))
        .map_err(|e| anyhow::anyhow!("--protocol: {e}"))?;
    let LoadedTextRun {
        config: run,
        tokenizer,
        encoder,
        device,
    } = load_text_run(&args.input.run)?;
    let problem = load_text_problem(&args.input.data, args.seed)
        .with_context(|| run_kind(&args.input.run, Modality::Text))?;
    let finetune = args.finetune_config();
    let frozen_embeddings = args.freeze_embeddings.unwrap_or_default();
    if args.baseline
        || protocols.contains(&Protocol::Finetune)
        || protocols.contains(&Protocol::Prompt)
    {
        println!("{}{}", finetune.describe(), frozen_embeddings.describe());
    }
    let prompt = if protocols.contains(&Protocol::Prompt) {
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
        let template = args.prompt.as_deref().unwrap_or(DEFAULT_PROMPT);
        let prompt = Prompt::new(template, &args.label_words, &tokenizer)?;
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
    let shares = fractions.into_iter().map(LabelShare::Fraction).collect();
    let cfg = args.suite(text_suite(args.seed), protocols, shares);
    println!(
        "{}: {} train / {} test texts, {} classes",
        problem.name,
        problem.train.len(),
        problem.test.len(),
        problem.train.num_classes()
    );
    let texts = TextEvaluand {
        encoder: &encoder,
        tokenizer: &tokenizer,
        run: &run,
        train: &problem.train,
        test: &problem.test,
        training: TextTraining {
            finetune,
            frozen_embeddings,
            prompt,
            seed: args.seed,
        },
        device: &device,
    };
    let results = evaluate(&texts, &cfg, &|line| println!("{line}"))?;
    println!("\n{}", format_table(&results));
    let report = EvalReport {
        knn_features: Some(cfg.features.knn),
        results,
        ..EvalReport::default()
    };
    flags::write_report(args.json.as_deref(), report)
}
