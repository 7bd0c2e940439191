//! `autodidact pretrain` with an audio method (wav2vec2, audio-byol), and the health plots of
//! its run.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::pretrain_args::{PretrainArgs, StepRunFields};
use super::run_dir::{in_new_folder, print_summary};
use autodidact_audio::AudioSet;
use autodidact_audio::data::load_audio;
use autodidact_audio::methods::AudioMethodKind;
use autodidact_audio::train::{AudioRunConfig, pretrain};
use autodidact_core::eval::plot::plot_curves;
use autodidact_core::train::metrics::{TrainOptions, TrainSummary, read_metrics};
use autodidact_vision::train::recipe::Recipe;

/// Clips are resampled to this rate unless `--rate` says otherwise (FSDD's own).
pub const DEFAULT_RATE: u32 = 8000;

/// Continues the audio run in `out` from its newest checkpoint.
pub(super) fn resume(out: &Path) -> anyhow::Result<()> {
    let cfg = AudioRunConfig::load(&out.join("config.toml"))?;
    let data = load_audio(&cfg.data, cfg.rate)?;
    let opts = TrainOptions {
        resume: true,
        ..TrainOptions::default()
    };
    let summary = pretrain(&cfg, &data.train, out, &opts)?;
    finish(out, &summary)
}

pub(super) fn run(
    args: &PretrainArgs,
    recipe: &Recipe,
    method: AudioMethodKind,
    data_path: Option<PathBuf>,
    out: &Path,
) -> anyhow::Result<()> {
    let Some(data_path) = data_path else {
        bail!("no data: give --data PATH (or `data = \"PATH\"` in the recipe)");
    };
    let rate = args.rate.map_or(DEFAULT_RATE, |r| r as u32);
    let data = load_audio(&data_path, rate)?;
    let train = &data.train;
    let cfg = config_from_args(args, recipe, method, data_path.clone(), train)?;
    cfg.validate("the settings")?;
    let summary = in_new_folder(out, args.force, &data_path, |dir| {
        cfg.save(&dir.join("config.toml"))?;
        let seconds: f64 = train.clips.iter().map(|c| c.len() as f64).sum::<f64>() / rate as f64;
        println!(
            "pre-training {} on {} clips ({:.1} minutes at {} Hz) from {} ({}{} steps of {} clips)",
            method.name(),
            train.len(),
            seconds / 60.0,
            rate,
            data_path.display(),
            cfg.minutes
                .map_or(String::new(), |m| format!("{m} minutes or ")),
            cfg.steps,
            cfg.batch_size
        );
        pretrain(&cfg, train, dir, &TrainOptions::default())
    })?;
    finish(out, &summary)
}

/// Prints the summary and plots the run's health: wav2vec 2.0's codebook perplexity per group
/// and its contrastive accuracy beside chance.
fn finish(out: &Path, summary: &TrainSummary) -> anyhow::Result<()> {
    print_summary(out, summary);
    let metrics = read_metrics(out)?;
    let curve = |key: &str| -> Vec<(f64, f64)> {
        metrics
            .iter()
            .filter_map(|m| m.method.get(key).map(|&v| (m.step as f64, v)))
            .collect()
    };
    let groups: Vec<(String, Vec<(f64, f64)>)> = (0..8)
        .map(|g| format!("perplexity_{g}"))
        .map(|key| {
            let points = curve(&key);
            (key.replace("perplexity_", "group "), points)
        })
        .filter(|(_, points)| !points.is_empty())
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    let perplexity = out.join("perplexity.png");
    plot_curves(
        &perplexity,
        &groups,
        "codebook perplexity per group",
        "perplexity",
    )?;
    let accuracy = out.join("contrastive_accuracy.png");
    plot_curves(
        &accuracy,
        &[
            ("contrastive accuracy".into(), curve("contrastive_accuracy")),
            ("chance".into(), curve("chance_accuracy")),
        ],
        "share of hidden frames whose positive ranks first",
        "accuracy",
    )?;
    println!(
        "health plots: {} and {}",
        perplexity.display(),
        accuracy.display()
    );
    Ok(())
}

/// The method's defaults, then the recipe, then the command line.
fn config_from_args(
    args: &PretrainArgs,
    recipe: &Recipe,
    method: AudioMethodKind,
    data: PathBuf,
    train: &AudioSet,
) -> anyhow::Result<AudioRunConfig> {
    let mut cfg = AudioRunConfig::defaults(method, data, train.rate);
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
    cfg.max_seconds = args.max_seconds.unwrap_or(cfg.max_seconds);
    Ok(cfg)
}
