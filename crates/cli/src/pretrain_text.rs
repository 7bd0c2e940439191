//! `autodidact pretrain` with a text method (mlm, clm, simcse).

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::methods::apply_temperature;
use super::pretrain_args::PretrainArgs;
use super::run_dir::{in_new_folder, print_summary};
use autodidact_core::collective::current;
use autodidact_core::train::metrics::TrainOptions;
use autodidact_text::data::{TextUnit, load_text_problem, read_corpus, text_problem_corpus};
use autodidact_text::methods::TextMethodKind;
use autodidact_text::model::TransformerConfig;
use autodidact_text::recipe;
use autodidact_text::tokenizer::{TextTokenizer, TokenizerKind};
use autodidact_text::train::{TextCorpus, TextInput, TextRunConfig, method_config_of, pretrain};
use autodidact_vision::train::recipe::Recipe;

/// The texts to pre-train on. A labelled set (a folder with `train`/`test` files, or one labelled
/// file that evaluation splits 80/20 with seed 0) contributes its train texts only, so the test
/// texts stay unseen; anything else is a corpus.
fn read_texts(path: &Path, method: TextMethodKind) -> anyhow::Result<Vec<String>> {
    if let Ok(problem) = load_text_problem(path, 0) {
        return Ok(text_problem_corpus(&problem));
    }
    // Next-token training keeps the text whole (blank lines included), the others take one
    // text per line.
    let unit = match method.input() {
        TextInput::Stream => TextUnit::Documents,
        TextInput::Texts | TextInput::Packed => TextUnit::Lines,
    };
    read_corpus(path, unit)
}

/// Continues the text run in `out` from its newest checkpoint.
pub(super) fn resume(out: &Path) -> anyhow::Result<()> {
    let cfg = TextRunConfig::load(&out.join("config.toml"))?;
    let tokenizer = TextTokenizer::load(&out.join("tokenizer.json"))?;
    let texts = read_texts(&cfg.data, cfg.method)?;
    let corpus = TextCorpus::new(&texts, &tokenizer, cfg.method.input(), cfg.heldout_fraction);
    let opts = TrainOptions {
        resume: true,
        ..TrainOptions::default()
    };
    let summary = pretrain(&cfg, &corpus, tokenizer.vocab_size(), out, &opts)?;
    print_text_summary(out, &summary);
    Ok(())
}

pub(super) fn run(
    args: &PretrainArgs,
    recipe: &Recipe,
    method: TextMethodKind,
    data_path: Option<PathBuf>,
    out: &Path,
) -> anyhow::Result<()> {
    let Some(data_path) = data_path else {
        bail!("no data: give --data PATH (a text file or folder, or a labelled .tsv/.csv)");
    };
    let texts = read_texts(&data_path, method)?;
    let kind = args
        .tokenizer
        .or(recipe::tokenizer(recipe)?)
        .unwrap_or(TokenizerKind::Char);
    let mut cfg = TextRunConfig::defaults(method, data_path.clone(), kind);
    let init = args.init.clone().or(recipe::init(recipe)?);
    let init_run = match &init {
        Some(dir) => {
            if args.model.is_some()
                || args.context.is_some()
                || args.tokenizer.is_some()
                || args.vocab_size.is_some()
            {
                bail!(
                    "--init {}: the Transformer and tokenizer are that run's; drop --model, --context, --tokenizer and --vocab-size",
                    dir.display()
                );
            }
            let from = TextRunConfig::load(&dir.join("config.toml"))?;
            Some((from, TextTokenizer::load(&dir.join("tokenizer.json"))?))
        }
        None => None,
    };
    let recipe_model = recipe::model(recipe)?;
    if let Some(name) = args.model.as_ref().or(recipe_model.as_ref()) {
        let Some(model) = TransformerConfig::preset(name) else {
            bail!("model {name}: unknown size (expected tiny, mini, small or base)");
        };
        cfg.model = TransformerConfig {
            dropout: cfg.model.dropout,
            ..model
        };
    }
    cfg.model.max_len = args
        .context
        .or(recipe::context(recipe)?)
        .unwrap_or(cfg.model.max_len);
    cfg.vocab_size = args
        .vocab_size
        .or(recipe::vocab_size(recipe)?)
        .unwrap_or(cfg.vocab_size);
    cfg.batch_size = args
        .batch_size
        .or(recipe.batch_size)
        .unwrap_or(cfg.batch_size);
    cfg.steps = args.steps.or(recipe.steps).unwrap_or(cfg.steps);
    cfg.minutes = args.minutes.or(recipe.minutes);
    cfg.seed = args.seed.or(recipe.seed).unwrap_or(cfg.seed);
    cfg.device = args.device;
    args.apply_optimizer(recipe, &mut cfg.optimizer);
    cfg.method_config = method_config_of(method, recipe)?;
    apply_temperature(
        &mut cfg.method_config,
        args.temperature,
        recipe,
        method.name(),
    )?;
    cfg.checkpoint_every = args.checkpoint_every;
    cfg.log_every = args.log_every;
    if let Some((from, _)) = &init_run {
        cfg.model = TransformerConfig {
            dropout: cfg.model.dropout,
            ..from.model.clone()
        };
        cfg.tokenizer = from.tokenizer;
        cfg.vocab_size = from.vocab_size;
        cfg.init = init.clone();
    }
    cfg.validate("the settings")?;
    let tokenizer = match init_run {
        Some((_, tokenizer)) => tokenizer,
        None => TextTokenizer::train(cfg.tokenizer, &texts, cfg.vocab_size)?,
    };
    let corpus = TextCorpus::new(&texts, &tokenizer, method.input(), cfg.heldout_fraction);
    let summary = in_new_folder(out, args.force, &data_path, |dir| {
        if current().is_root() {
            tokenizer.save(&dir.join("tokenizer.json"))?;
        }
        cfg.save(&dir.join("config.toml"))?;
        println!(
            "pre-training {} ({} layers x {}, {} tokens of context, {:?} tokenizer of {} entries) on {} from {}",
            method.name(),
            cfg.model.n_layers,
            cfg.model.d_model,
            cfg.model.max_len,
            cfg.tokenizer,
            tokenizer.vocab_size(),
            match method.input() {
                TextInput::Stream => format!(
                    "{} tokens ({} held out)",
                    corpus.stream.len(),
                    corpus.heldout.len()
                ),
                TextInput::Texts | TextInput::Packed => format!("{} texts", corpus.texts.len()),
            },
            data_path.display()
        );
        if let Some(init) = &cfg.init {
            println!("starting from the encoder of {}", init.display());
        }
        pretrain(
            &cfg,
            &corpus,
            tokenizer.vocab_size(),
            dir,
            &TrainOptions::default(),
        )
    })?;
    print_text_summary(out, &summary);
    Ok(())
}

fn print_text_summary(out: &Path, s: &autodidact_core::train::metrics::TrainSummary) {
    print_summary(out, s);
    if let Some(v) = s.val_loss {
        println!(
            "held-out loss {v:.4} nats per token (perplexity {:.2})",
            v.exp()
        );
    }
}
