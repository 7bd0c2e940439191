//! `autodidact pretrain`: self-supervised pre-training into a run folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;

use super::methods::{
    AnyMethod, Modality, apply_temperature, load_recipe, recipe_method, run_method,
};
use super::pretrain_args::PretrainArgs;
use super::run_dir::{in_new_folder, load_data, print_summary};
use autodidact_core::collective::current;
use autodidact_core::train::metrics::{TrainOptions, TrainSummary};
use autodidact_core::train::optim::{OptimizerConfig, OptimizerKind};
use autodidact_core::train::run_folder::RunFolder;
use autodidact_vision::data::ImageFormat;
use autodidact_vision::data::ImageSet;
use autodidact_vision::encoders::EncoderKind;
use autodidact_vision::encoders::vit::VIT_PATCH;
use autodidact_vision::methods::{MethodKind, check_encoder};
use autodidact_vision::train::config::{
    Budget, DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, RunConfig, optimizer_defaults,
};
use autodidact_vision::train::recipe::{self, Recipe};
use autodidact_vision::train::trainer::pretrain;

pub fn run(args: PretrainArgs) -> anyhow::Result<()> {
    let recipe = match &args.recipe {
        Some(path) => load_recipe(path)?,
        None => Recipe::default(),
    };
    let method = match args.method {
        Some(method) => method,
        None => recipe_method(&recipe)?.unwrap_or(AnyMethod::Image(MethodKind::Simclr)),
    };
    let data_path = args.data.clone().or_else(|| recipe.data.clone());
    let out = args.out.clone().unwrap_or_else(|| {
        let name = data_path
            .as_ref()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        let name = name.split('.').next().unwrap_or("data").to_string();
        PathBuf::from("runs").join(format!("{}-{name}", method.folder_name()))
    });
    if args.resume {
        refuse_settings_on_resume(&args)?;
        // The lock first: nothing is read or written while another process trains here. Rank 0
        // of a data-parallel run holds it for all its ranks.
        let _folder = current()
            .is_root()
            .then(|| RunFolder::resume(&out))
            .transpose()?;
        return match run_method(&out.join("config.toml"))?.modality() {
            Modality::Series => super::pretrain_series::resume(&out),
            Modality::Text => super::pretrain_text::resume(&out),
            Modality::Audio => super::pretrain_audio::resume(&out),
            Modality::Pairs => super::pretrain_pairs::resume(&out),
            Modality::Image => resume_images(&out, args.no_cache),
        };
    }
    args.check_modality(method.modality())?;
    let method = match method {
        AnyMethod::Series(m) => {
            return super::pretrain_series::run(&args, &recipe, m, data_path, &out);
        }
        AnyMethod::Text(m) => {
            return super::pretrain_text::run(&args, &recipe, m, data_path, &out);
        }
        AnyMethod::Audio(m) => {
            return super::pretrain_audio::run(&args, &recipe, m, data_path, &out);
        }
        AnyMethod::Pairs(m) => {
            return super::pretrain_pairs::run(&args, &recipe, m, data_path, &out);
        }
        AnyMethod::Image(m) => m,
    };
    if recipe.steps.is_some() {
        bail!(
            "{}: steps apply to series and text methods; give image runs epochs or minutes",
            recipe.name()
        );
    }
    let Some(data_path) = data_path else {
        bail!("no data: give --data PATH (or `data = \"PATH\"` in the recipe)");
    };
    // Refuse an encoder the method cannot use before reading the data (the image size is
    // checked once the data is read).
    let encoder = encoder_for(&args, &recipe, method)?;
    if encoder != EncoderKind::Vit
        && (args.vit_patch.is_some() || recipe::vit_patch(&recipe)?.is_some())
    {
        bail!("--vit-patch (`vit_patch` in a recipe) applies to --encoder vit only");
    }
    if let Some(problem) = check_encoder(method, encoder, vit_patch_for(&args, &recipe)?, 0) {
        bail!("{problem}");
    }
    let format = args.format.unwrap_or(ImageFormat::Auto);
    let data = load_data(&data_path, format, args.no_cache)?;
    let cfg = config_from_args(&args, &recipe, method, data_path.clone(), &data.train)?;
    cfg.validate("the settings")?;
    if data.train.len() < cfg.batch_size {
        bail!(
            "{}: {} training images is fewer than one batch of {}; lower --batch-size",
            data_path.display(),
            data.train.len(),
            cfg.batch_size
        );
    }
    let summary = in_new_folder(&out, args.force, &data_path, |dir| {
        cfg.save(&dir.join("config.toml"))?;
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
        train(&cfg, Arc::new(data.train), dir, false, false)
    })?;
    print_summary(&out, &summary);
    Ok(())
}

/// Continues the image run in `out` from its newest checkpoint.
fn resume_images(out: &Path, no_cache: bool) -> anyhow::Result<()> {
    let cfg = RunConfig::load(&out.join("config.toml"))?;
    let data = load_data(&cfg.data, cfg.format, no_cache)?;
    check_image_data(&cfg, &data.train)?;
    let summary = train(&cfg, Arc::new(data.train), out, true, false)?;
    print_summary(out, &summary);
    Ok(())
}

/// A resumed run keeps the settings in its `config.toml`: a flag that would change one is an
/// error rather than silently ignored.
fn refuse_settings_on_resume(args: &PretrainArgs) -> anyhow::Result<()> {
    let given = [
        ("--recipe", args.recipe.is_some()),
        ("--method", args.method.is_some()),
        ("--data", args.data.is_some()),
        ("--format", args.format.is_some()),
        ("--encoder", args.encoder.is_some()),
        ("--vit-patch", args.vit_patch.is_some()),
        ("--epochs", args.epochs.is_some()),
        ("--minutes", args.minutes.is_some()),
        ("--steps", args.steps.is_some()),
        ("--tokenizer", args.tokenizer.is_some()),
        ("--vocab-size", args.vocab_size.is_some()),
        ("--model", args.model.is_some()),
        ("--context", args.context.is_some()),
        ("--init", args.init.is_some()),
        ("--batch-size", args.batch_size.is_some()),
        ("--seed", args.seed.is_some()),
        ("--optimizer", args.optimizer.is_some()),
        ("--lr", args.lr.is_some()),
        ("--weight-decay", args.weight_decay.is_some()),
        ("--temperature", args.temperature.is_some()),
        ("--sync-bn", args.sync_bn),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        bail!(
            "{flag} does not apply with --resume: a resumed run keeps the settings of its config.toml"
        );
    }
    Ok(())
}

/// Refuses to continue an image run on images of another shape than it was configured for.
fn check_image_data(cfg: &RunConfig, train: &ImageSet) -> anyhow::Result<()> {
    let size = train.height.min(train.width);
    if train.channels != cfg.channels || size != cfg.image_size {
        bail!(
            "{}: images have {} channel(s) and side {size}; the run was configured for {} channel(s) and side {}",
            cfg.data.display(),
            train.channels,
            cfg.channels,
            cfg.image_size
        );
    }
    Ok(())
}

/// The encoder: the flag, then the recipe, then the method's default (the ViT for MAE, else the
/// small CNN).
fn encoder_for(
    args: &PretrainArgs,
    recipe: &Recipe,
    method: MethodKind,
) -> anyhow::Result<EncoderKind> {
    Ok(args
        .encoder
        .or(recipe::encoder(recipe)?)
        .unwrap_or(method.default_encoder()))
}

/// The ViT's patch side: the flag, then the recipe, then [`VIT_PATCH`].
fn vit_patch_for(args: &PretrainArgs, recipe: &Recipe) -> anyhow::Result<usize> {
    Ok(args
        .vit_patch
        .or(recipe::vit_patch(recipe)?)
        .unwrap_or(VIT_PATCH))
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
    let batch_size = args
        .batch_size
        .or(recipe.batch_size)
        .unwrap_or(DEFAULT_BATCH_SIZE);
    let (lr, wd) = optimizer_defaults(optimizer, batch_size);
    let budget = match (args.epochs, args.minutes, recipe.epochs, recipe.minutes) {
        (Some(e), _, _, _) => Budget::Epochs(e),
        (None, Some(m), _, _) => Budget::Minutes(m),
        (None, None, Some(e), _) => Budget::Epochs(e),
        (None, None, None, Some(m)) => Budget::Minutes(m),
        (None, None, None, None) => Budget::Epochs(DEFAULT_EPOCHS),
    };
    let mut method_config = method.recipe_settings(recipe)?;
    apply_temperature(&mut method_config, args.temperature, recipe, method.name())?;
    Ok(RunConfig {
        method,
        encoder: encoder_for(args, recipe, method)?,
        vit_patch: vit_patch_for(args, recipe)?,
        data,
        format: args.format.unwrap_or(ImageFormat::Auto),
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
        method_config,
        checkpoint_every: args.checkpoint_every,
        log_every: args.log_every,
        sync_bn: args.sync_bn,
    })
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
