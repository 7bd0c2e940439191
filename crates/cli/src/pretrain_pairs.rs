//! `autodidact pretrain` with a pair method (clip, siglip) on image-caption or image-speech
//! pairs.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::pretrain_args::{PretrainArgs, StepRunFields};
use super::run_dir::{in_new_folder, print_summary};
use autodidact_core::collective::current;
use autodidact_core::train::metrics::TrainOptions;
use autodidact_multimodal::data::PairData;
use autodidact_multimodal::methods::PairMethodKind;
use autodidact_multimodal::pairs::Split;
use autodidact_multimodal::train::{PairRunConfig, TOKENIZER_FILE, caption_tokenizer, pretrain};
use autodidact_text::model::TransformerConfig;
use autodidact_text::tokenizer::TextTokenizer;
use autodidact_vision::train::recipe::Recipe;

/// Recordings are resampled to this rate unless `--rate` says otherwise (FSDD's own).
const DEFAULT_RATE: u32 = 8000;

/// Continues the pairs run in `out` from its newest checkpoint.
pub(super) fn resume(out: &Path) -> anyhow::Result<()> {
    let cfg = PairRunConfig::load(&out.join("config.toml"))?;
    let data = PairData::load(&cfg.data, cfg.rate)?;
    let tokenizer = match out.join(TOKENIZER_FILE) {
        path if path.exists() => Some(TextTokenizer::load(&path)?),
        _ => None,
    };
    let opts = TrainOptions {
        resume: true,
        ..TrainOptions::default()
    };
    let summary = pretrain(&cfg, &data, tokenizer.as_ref(), out, &opts)?;
    print_summary(out, &summary);
    Ok(())
}

pub(super) fn run(
    args: &PretrainArgs,
    recipe: &Recipe,
    method: PairMethodKind,
    data_path: Option<PathBuf>,
    out: &Path,
) -> anyhow::Result<()> {
    let Some(data_path) = data_path else {
        bail!(
            "no data: give --data PATH (a folder holding a pairs file, its images and a split file)"
        );
    };
    let rate = args.rate.map_or(DEFAULT_RATE, |r| r as u32);
    let data = PairData::load(&data_path, rate)?;
    let cfg = config_from_args(args, recipe, method, data_path.clone(), &data)?;
    cfg.validate("the settings")?;
    let tokenizer = caption_tokenizer(&cfg, &data)?;
    let summary = in_new_folder(out, args.force, &data_path, |dir| {
        cfg.save(&dir.join("config.toml"))?;
        if let Some(tokenizer) = &tokenizer
            && current().is_root()
        {
            tokenizer.save(&dir.join(TOKENIZER_FILE))?;
        }
        println!(
            "pre-training {} on {} train images of {}x{}x{} and their {} {}s from {} ({}{} steps of {} pairs; towers: {} encoder, {}{}{})",
            method.name(),
            data.images_in(Split::Train).len(),
            data.images.channels,
            data.images.height,
            data.images.width,
            data.partners_in(Split::Train).len(),
            data.partners.kind().name(),
            data_path.display(),
            cfg.minutes
                .map_or(String::new(), |m| format!("{m} minutes or ")),
            cfg.steps,
            cfg.batch_size,
            cfg.towers.image_encoder.name(),
            if cfg.towers.audio {
                "the audio CNN".to_string()
            } else {
                format!(
                    "a {}x{} Transformer",
                    cfg.towers.text_model.n_layers, cfg.towers.text_model.d_model
                )
            },
            if cfg.lock_image {
                ", image tower locked"
            } else {
                ""
            },
            [
                cfg.init_image
                    .as_ref()
                    .map(|r| format!(", image tower from {}", r.display())),
                cfg.init_text
                    .as_ref()
                    .map(|r| format!(", text tower from {}", r.display())),
                cfg.init_audio
                    .as_ref()
                    .map(|r| format!(", audio tower from {}", r.display())),
            ]
            .into_iter()
            .flatten()
            .collect::<String>()
        );
        pretrain(
            &cfg,
            &data,
            tokenizer.as_ref(),
            dir,
            &TrainOptions::default(),
        )
    })?;
    print_summary(out, &summary);
    Ok(())
}

/// The method's defaults, then the recipe, then the command line.
fn config_from_args(
    args: &PretrainArgs,
    recipe: &Recipe,
    method: PairMethodKind,
    data_path: PathBuf,
    data: &PairData,
) -> anyhow::Result<PairRunConfig> {
    let mut cfg = PairRunConfig::defaults(method, data, data_path);
    let train_images = data.images_in(Split::Train).len();
    cfg.apply_recipe(recipe, train_images)?;
    if let Some(encoder) = args.encoder {
        cfg.towers.image_encoder = encoder;
    }
    cfg.towers.vit_patch = args.vit_patch.unwrap_or(cfg.towers.vit_patch);
    if let Some(name) = &args.model {
        let preset = TransformerConfig::preset(name)
            .ok_or_else(|| anyhow::anyhow!("--model {name}: expected tiny, mini, small or base"))?;
        cfg.towers.text_model = TransformerConfig {
            max_len: cfg.towers.text_model.max_len,
            ..preset
        };
    }
    cfg.towers.text_model.max_len = args.context.unwrap_or(cfg.towers.text_model.max_len);
    cfg.tokenizer = args.tokenizer.unwrap_or(cfg.tokenizer);
    cfg.towers.vocab_size = args.vocab_size.unwrap_or(cfg.towers.vocab_size);
    cfg.init_image = args.init_image.clone();
    cfg.init_text = args.init_text.clone();
    cfg.init_audio = args.init_audio.clone();
    cfg.lock_image = args.lock_image;
    if cfg.lock_image && cfg.init_image.is_none() {
        bail!("--lock-image freezes a trained image tower: give --init-image RUN too");
    }
    cfg.adopt_init_architectures()?;
    args.apply_step_run(
        recipe,
        method.name(),
        train_images,
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
