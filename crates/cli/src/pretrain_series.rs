//! `autodidact pretrain` with a series method (ts-order, ts-mask, ts-contrast).

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::pretrain_args::{PretrainArgs, StepRunFields};
use super::run_dir::{in_new_folder, print_summary};
use autodidact_core::train::metrics::TrainOptions;
use autodidact_series::data::load_series;
use autodidact_series::methods::SeriesMethodKind;
use autodidact_series::train::{SeriesRunConfig, pretrain};
use autodidact_vision::train::recipe::Recipe;

/// Continues the series run in `out` from its newest checkpoint.
pub(super) fn resume(out: &Path) -> anyhow::Result<()> {
    let cfg = SeriesRunConfig::load(&out.join("config.toml"))?;
    let problem = load_series(&cfg.data)?;
    let opts = TrainOptions {
        resume: true,
        ..TrainOptions::default()
    };
    let summary = pretrain(&cfg, &problem.train, out, &opts)?;
    print_summary(out, &summary);
    Ok(())
}

pub(super) fn run(
    args: &PretrainArgs,
    recipe: &Recipe,
    method: SeriesMethodKind,
    data_path: Option<PathBuf>,
    out: &Path,
) -> anyhow::Result<()> {
    let Some(data_path) = data_path else {
        bail!("no data: give --data PATH (or `data = \"PATH\"` in the recipe)");
    };
    let problem = load_series(&data_path)?;
    let cfg = config_from_args(args, recipe, method, data_path.clone(), &problem.train)?;
    cfg.validate("the settings")?;
    let train = &problem.train;
    let summary = in_new_folder(out, args.force, &data_path, |dir| {
        cfg.save(&dir.join("config.toml"))?;
        println!(
            "pre-training {} on {} series of {} channel(s), length {}..{}, from {} ({} steps of {})",
            method.name(),
            train.len(),
            train.channels,
            train.lengths.iter().min().unwrap_or(&0),
            train.max_len(),
            data_path.display(),
            cfg.steps,
            cfg.batch_size
        );
        pretrain(&cfg, train, dir, &TrainOptions::default())
    })?;
    print_summary(out, &summary);
    Ok(())
}

/// TS2Vec's defaults, then the recipe, then the command line.
fn config_from_args(
    args: &PretrainArgs,
    recipe: &Recipe,
    method: SeriesMethodKind,
    data: PathBuf,
    train: &autodidact_series::SeriesSet,
) -> anyhow::Result<SeriesRunConfig> {
    let mut cfg = SeriesRunConfig::defaults(method, data, train);
    cfg.apply_recipe(recipe, train)?;
    args.apply_step_run(
        recipe,
        method.name(),
        train.len(),
        StepRunFields {
            batch_size: &mut cfg.batch_size,
            steps: &mut cfg.steps,
            minutes: &mut cfg.minutes,
            seed: &mut cfg.seed,
            device: &mut cfg.device,
            optimizer: &mut cfg.optimizer,
            method_config: &mut cfg.method_config,
            checkpoint_every: &mut cfg.checkpoint_every,
            log_every: &mut cfg.log_every,
        },
    )?;
    Ok(cfg)
}
