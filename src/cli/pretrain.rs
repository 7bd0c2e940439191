//! `autodidact pretrain`: self-supervised pre-training into a run folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use clap::Args;

use super::run_dir::load_data;
use autodidact::data::{ImageFormat, ImageSet};
use autodidact::encoders::EncoderKind;
use autodidact::encoders::vit::VIT_PATCH;
use autodidact::methods::{MethodConfig, MethodKind, Modality, check_encoder, pretrain};
use autodidact::text::tokenizer::TokenizerKind;
use autodidact::train::config::{Budget, DeviceChoice, RunConfig, run_method};
use autodidact::train::optim::{OptimizerConfig, OptimizerKind};
use autodidact::train::recipe::Recipe;
use autodidact::train::trainer::{TrainOptions, TrainSummary};

#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// Settings from a recipe file (recipes/*.toml); flags given here override it.
    #[arg(long)]
    pub(super) recipe: Option<PathBuf>,
    /// Self-supervised method [default: simclr].
    #[arg(long, value_enum)]
    pub(super) method: Option<MethodKind>,
    /// Data set: MNIST IDX folder, image folder, or .tar/.tar.gz of an image folder (required
    /// unless the recipe names one).
    #[arg(long)]
    pub(super) data: Option<PathBuf>,
    /// Data format (detected from the path by default).
    #[arg(long, value_enum, default_value_t = ImageFormat::Auto)]
    pub(super) format: ImageFormat,
    /// Backbone [default: vit for mae, cnn otherwise].
    #[arg(long, value_enum)]
    pub(super) encoder: Option<EncoderKind>,
    /// Patch side of --encoder vit in pixels; it must tile the images for mae and inpaint (4 or
    /// 7 on 28x28, 4 on 32x32) [default: 4].
    #[arg(long)]
    pub(super) vit_patch: Option<usize>,
    /// Train for this many epochs (default 20 unless --minutes is given); 0 saves the encoder as
    /// initialised, a random-init control to evaluate beside trained runs.
    #[arg(long, conflicts_with = "minutes")]
    pub(super) epochs: Option<usize>,
    /// Train for this many minutes of wall-clock time instead of a number of epochs.
    #[arg(long)]
    pub(super) minutes: Option<f64>,
    /// Series and text methods: optimiser steps [series default: TS2Vec's 200, or 600 above
    /// 100,000 values; text: 2,000].
    #[arg(long, conflicts_with = "epochs")]
    pub(super) steps: Option<usize>,
    /// Text methods: tokenizer trained on the corpus [default: char].
    #[arg(long, value_enum)]
    pub(super) tokenizer: Option<TokenizerKind>,
    /// Text methods: vocabulary size of the wordpiece/bpe tokenizer [default: 8000].
    #[arg(long)]
    pub(super) vocab_size: Option<usize>,
    /// Text methods: Transformer size, tiny|mini|small|base [default: small].
    #[arg(long)]
    pub(super) model: Option<String>,
    /// Text methods: tokens per sequence [default: 128].
    #[arg(long)]
    pub(super) context: Option<usize>,
    /// Text methods: start from the encoder and tokenizer of this run folder (SimCSE after MLM,
    /// say); the Transformer's size and the tokenizer are that run's.
    #[arg(long)]
    pub(super) init: Option<PathBuf>,
    /// Images per batch [default: 256].
    #[arg(long)]
    pub(super) batch_size: Option<usize>,
    /// Seed of initialisation, sample order and augmentations [default: 0].
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Run folder (default runs/<method>-<data name>).
    #[arg(long)]
    pub(super) out: Option<PathBuf>,
    /// Continue the run in --out from its newest checkpoint.
    #[arg(long)]
    pub(super) resume: bool,
    /// Replace an existing run folder.
    #[arg(long, conflicts_with = "resume")]
    pub(super) force: bool,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub(super) device: DeviceChoice,
    /// Optimiser [default: adamw].
    #[arg(long, value_enum)]
    pub(super) optimizer: Option<OptimizerKind>,
    /// Peak learning rate.
    #[arg(long)]
    pub(super) lr: Option<f64>,
    #[arg(long)]
    pub(super) weight_decay: Option<f64>,
    /// Temperature of the contrastive loss (default: the method's, 0.5 for SimCLR, 0.2 for MoCo).
    #[arg(long)]
    pub(super) temperature: Option<f64>,
    /// Save a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 500)]
    pub(super) checkpoint_every: usize,
    /// Log metrics every N steps.
    #[arg(long, default_value_t = 10)]
    pub(super) log_every: usize,
    /// Do not read or write the decoded-image cache.
    #[arg(long)]
    pub(super) no_cache: bool,
}

/// Learning rate and weight decay that work for each optimiser at batch 256.
fn optimizer_defaults(kind: OptimizerKind, batch_size: usize) -> (f64, f64) {
    match kind {
        OptimizerKind::Adamw => (2e-3, 1e-4),
        OptimizerKind::Sgd => (0.06 * batch_size as f64 / 256.0, 5e-4),
        OptimizerKind::Lars => (0.3 * batch_size as f64 / 256.0, 1e-6),
    }
}

pub fn run(args: PretrainArgs) -> anyhow::Result<()> {
    let recipe = match &args.recipe {
        Some(path) => Recipe::load(path)?,
        None => Recipe::default(),
    };
    let method = args.method.or(recipe.method).unwrap_or(MethodKind::Simclr);
    let data_path = args.data.clone().or_else(|| recipe.data.clone());
    let out = args.out.clone().unwrap_or_else(|| {
        let name = data_path
            .as_ref()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        let name = name.split('.').next().unwrap_or("data").to_string();
        PathBuf::from("runs").join(format!("{method:?}-{name}").to_lowercase())
    });
    let modality = if args.resume {
        run_method(&out.join("config.toml"))?.modality()
    } else {
        method.modality()
    };
    match modality {
        Modality::Series => {
            return super::pretrain_series::run(&args, &recipe, method, data_path, &out);
        }
        Modality::Text => {
            return super::pretrain_text::run(&args, &recipe, method, data_path, &out);
        }
        Modality::Image => {}
    }
    if args.tokenizer.is_some() || args.model.is_some() || args.context.is_some() {
        bail!("--tokenizer, --model and --context apply to text methods (mlm, clm, simcse)");
    }
    if args.steps.is_some() || recipe.steps.is_some() {
        bail!("steps apply to series methods; give image runs --epochs or --minutes");
    }
    if args.resume {
        let cfg = RunConfig::load(&out.join("config.toml"))?;
        let data = load_data(&cfg.data, cfg.format, args.no_cache)?;
        let summary = train(&cfg, Arc::new(data.train), &out, true, false)?;
        print_summary(&out, &summary);
        return Ok(());
    }
    let Some(data_path) = data_path else {
        bail!("no data: give --data PATH (or `data = \"PATH\"` in the recipe)");
    };
    // Refuse an encoder the method cannot use before touching the run folder (the image size
    // is checked once the data is read).
    let encoder = encoder_for(&args, &recipe, method);
    if encoder != EncoderKind::Vit && (args.vit_patch.is_some() || recipe.vit_patch.is_some()) {
        bail!("--vit-patch (`vit_patch` in a recipe) applies to --encoder vit only");
    }
    if let Some(problem) = check_encoder(method, encoder, vit_patch_for(&args, &recipe), 0) {
        bail!("{problem}");
    }
    prepare_run_dir(&out, args.force)?;
    let data = load_data(&data_path, args.format, args.no_cache)?;
    let cfg = config_from_args(&args, &recipe, method, data_path.clone(), &data.train)?;
    cfg.save(&out.join("config.toml"))?;
    println!(
        "pre-training {:?} ({:?} encoder, {}) on {} images of {}x{}x{} from {}",
        cfg.method,
        cfg.encoder,
        cfg.budget,
        data.train.len(),
        cfg.channels,
        data.train.height,
        data.train.width,
        data_path.display()
    );
    let summary = train(&cfg, Arc::new(data.train), &out, false, false)?;
    print_summary(&out, &summary);
    Ok(())
}

/// The encoder: the flag, then the recipe, then the method's default (the ViT for MAE, else the
/// small CNN).
fn encoder_for(args: &PretrainArgs, recipe: &Recipe, method: MethodKind) -> EncoderKind {
    args.encoder.or(recipe.encoder).unwrap_or(match method {
        MethodKind::Mae => EncoderKind::Vit,
        _ => EncoderKind::Cnn,
    })
}

/// The ViT's patch side: the flag, then the recipe, then [`VIT_PATCH`].
fn vit_patch_for(args: &PretrainArgs, recipe: &Recipe) -> usize {
    args.vit_patch.or(recipe.vit_patch).unwrap_or(VIT_PATCH)
}

/// The run config: command-line flags, then the recipe, then the defaults.
fn config_from_args(
    args: &PretrainArgs,
    recipe: &Recipe,
    method: MethodKind,
    data: PathBuf,
    train: &ImageSet,
) -> anyhow::Result<RunConfig> {
    let optimizer = args
        .optimizer
        .or(recipe.optimizer)
        .unwrap_or(OptimizerKind::Adamw);
    let batch_size = args.batch_size.or(recipe.batch_size).unwrap_or(256);
    let (lr, wd) = optimizer_defaults(optimizer, batch_size);
    let budget = match (args.epochs, args.minutes, recipe.epochs, recipe.minutes) {
        (Some(e), _, _, _) => Budget::Epochs(e),
        (None, Some(m), _, _) => Budget::Minutes(m),
        (None, None, Some(e), _) => Budget::Epochs(e),
        (None, None, None, Some(m)) => Budget::Minutes(m),
        (None, None, None, None) => Budget::Epochs(20),
    };
    let method_config = recipe.method_config(method)?;
    Ok(RunConfig {
        method,
        encoder: encoder_for(args, recipe, method),
        vit_patch: vit_patch_for(args, recipe),
        data,
        format: args.format,
        channels: train.channels,
        image_size: train.height.min(train.width),
        budget,
        batch_size,
        seed: args.seed.or(recipe.seed).unwrap_or(0),
        device: args.device,
        optimizer: OptimizerConfig {
            kind: optimizer,
            lr: args.lr.or(recipe.lr).unwrap_or(lr),
            weight_decay: args.weight_decay.or(recipe.weight_decay).unwrap_or(wd),
            warmup_fraction: recipe
                .warmup_fraction
                .unwrap_or(OptimizerConfig::default().warmup_fraction),
            ..OptimizerConfig::default()
        },
        method_config: MethodConfig {
            temperature: args
                .temperature
                .or(recipe.temperature)
                .unwrap_or(method_config.temperature),
            ..method_config
        },
        checkpoint_every: args.checkpoint_every.max(1),
        log_every: args.log_every.max(1),
    })
}

/// Refuses to overwrite an existing run unless `force`.
pub fn prepare_run_dir(out: &Path, force: bool) -> anyhow::Result<()> {
    if out.exists() {
        if !force {
            bail!(
                "{}: run folder exists; pass --resume to continue it or --force to replace it",
                out.display()
            );
        }
        std::fs::remove_dir_all(out)
            .map_err(|e| anyhow::anyhow!("{}: cannot remove: {e}", out.display()))?;
    }
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", out.display()))?;
    Ok(())
}

fn train(
    cfg: &RunConfig,
    data: Arc<ImageSet>,
    out: &Path,
    resume: bool,
    quiet: bool,
) -> anyhow::Result<TrainSummary> {
    let opts = TrainOptions {
        resume,
        quiet,
        stop_after: None,
    };
    pretrain(cfg, data, out, &opts)
}

pub(super) fn print_summary(out: &Path, s: &TrainSummary) {
    if s.steps == 0 {
        println!(
            "done: 0 steps, the encoder as initialised (a random-init control); encoder at {}",
            s.encoder_path.display()
        );
    } else {
        println!(
            "done: {} steps in {:.0} s, final loss {:.4}; encoder at {}",
            s.steps,
            s.elapsed_s,
            s.final_loss,
            s.encoder_path.display()
        );
    }
    println!(
        "evaluate with: autodidact eval --run {} --data <labelled data>",
        out.display()
    );
}
