//! Pre-training on pairs: the run's config, the towers it starts from (fresh, or the encoders of
//! finished single-modality runs of ours), and the one core loop (`autodidact_core::train::fit`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::batch::{PairBatches, PreparedPartners, train_augmentation};
use crate::data::PairData;
use crate::methods::{MethodVisitor, PairMethod, PairMethodKind};
use crate::towers::{PartnerEncoder, Towers, TowersConfig};
use autodidact_audio::encoder::AudioEncoder;
use autodidact_audio::methods::AudioMethodKind;
use autodidact_audio::train::AudioRunConfig;
use autodidact_core::method::read_settings;
use autodidact_core::train::checkpoint::load_run_encoder;
use autodidact_core::train::fit::{Budget, LoopSettings, Schedule, fit};
use autodidact_core::train::limits::{self, Settings};
use autodidact_core::train::metrics::{TrainOptions, TrainSummary};
use autodidact_core::train::optim::OptimizerConfig;
use autodidact_core::train::progress::Progress;
use autodidact_core::train::seed::seeded_init;
use autodidact_core::train::settings::{DeviceChoice, load_settings, save_settings};
use autodidact_text::model::TransformerConfig;
use autodidact_text::run::load_text_run;
use autodidact_text::tokenizer::{TextTokenizer, TokenizerKind};
use autodidact_vision::data::ImageSet;
use autodidact_vision::encoders::EncoderKind;
use autodidact_vision::train::config::RunConfig as ImageRunConfig;

/// Stream of the per-step seed handed to the method.
pub const METHOD_STREAM: u64 = 0x5041_4952_5354;

/// The file a caption run keeps its tokenizer in.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Everything needed to rerun a multimodal pre-training run (`config.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairRunConfig {
    pub method: PairMethodKind,
    pub data: PathBuf,
    pub towers: TowersConfig,
    /// Side of the square images the image tower reads (others are resized to it).
    pub image_size: usize,
    /// The caption tokenizer trained on the train captions (ignored with `init_text`, whose
    /// tokenizer the run keeps).
    pub tokenizer: TokenizerKind,
    /// Recordings are resampled to this rate.
    pub rate: u32,
    /// Smallest share of an image a training crop keeps.
    pub crop_min: f32,
    /// Probability of a horizontal flip in training (0 for digits).
    pub flip: f32,
    pub steps: usize,
    pub minutes: Option<f64>,
    pub batch_size: usize,
    pub seed: u64,
    pub device: DeviceChoice,
    pub optimizer: OptimizerConfig,
    pub method_config: toml::Table,
    /// Image run whose encoder the image tower starts from.
    pub init_image: Option<PathBuf>,
    /// Text run whose Transformer (and tokenizer) the caption tower starts from.
    pub init_text: Option<PathBuf>,
    /// audio-byol run whose encoder the audio tower starts from.
    pub init_audio: Option<PathBuf>,
    /// Freeze the image tower (LiT).
    pub lock_image: bool,
    pub checkpoint_every: usize,
    pub log_every: usize,
}

impl PairRunConfig {
    /// Defaults for `method` on `data`: the small CNN on the images, the tiny Transformer over
    /// 32 tokens of a 4,000-piece WordPiece vocabulary (or the audio CNN), a 128-d shared space,
    /// batches of 128 pairs, AdamW 1e-3 with weight decay 0.1 and 5% warm-up, 2,000 steps.
    pub fn defaults(method: PairMethodKind, data: &PairData, path: PathBuf) -> Self {
        let audio = matches!(data.partners, crate::data::Partners::Audio { .. });
        let digits = data.images.channels == 1;
        Self {
            method,
            data: path,
            towers: TowersConfig {
                image_encoder: EncoderKind::Cnn,
                image_channels: data.images.channels,
                vit_patch: 4,
                text_model: TransformerConfig {
                    max_len: 32,
                    ..TransformerConfig::preset("tiny").unwrap_or_default()
                },
                text_causal: false,
                vocab_size: 4000,
                audio,
                embed_dim: 128,
            },
            image_size: data.images.height.max(data.images.width),
            tokenizer: TokenizerKind::Wordpiece,
            rate: match &data.partners {
                crate::data::Partners::Audio { rate, .. } => *rate,
                _ => 8000,
            },
            crop_min: if digits { 0.7 } else { 0.5 },
            flip: if digits { 0.0 } else { 0.5 },
            steps: 2000,
            minutes: None,
            batch_size: 128,
            seed: 0,
            device: DeviceChoice::Cpu,
            optimizer: OptimizerConfig {
                lr: 1e-3,
                weight_decay: 0.1,
                warmup_fraction: 0.05,
                ..OptimizerConfig::default()
            },
            method_config: method.default_settings(),
            init_image: None,
            init_text: None,
            init_audio: None,
            lock_image: false,
            checkpoint_every: 500,
            log_every: 10,
        }
    }

    /// Lays `recipe`'s settings over these (epochs count passes over `train_images`).
    pub fn apply_recipe(
        &mut self,
        recipe: &autodidact_core::recipe::Recipe,
        train_images: usize,
    ) -> anyhow::Result<()> {
        recipe.apply_to_step_run(
            autodidact_core::recipe::StepRun {
                batch_size: &mut self.batch_size,
                steps: &mut self.steps,
                minutes: &mut self.minutes,
                seed: &mut self.seed,
                optimizer: &mut self.optimizer,
            },
            train_images,
        );
        self.method_config = self.method.recipe_settings(recipe)?;
        Ok(())
    }

    /// Fails when `data` is not what this run's towers read: the other partner kind, or images of
    /// another channel count.
    pub fn check_data(&self, data: &PairData) -> anyhow::Result<()> {
        let kind = data.partners.kind();
        if (kind == crate::pairs::Partner::Audio) != self.towers.audio {
            bail!(
                "{}: pairs images with {}, the run's towers read {}",
                data.layout.pairs.display(),
                kind.name(),
                if self.towers.audio {
                    "audio"
                } else {
                    "captions"
                }
            );
        }
        self.check_images(&data.images, &data.layout.images.display().to_string())
    }

    /// Fails when `images` (read from `origin`) have another channel count than the image
    /// tower reads.
    pub fn check_images(&self, images: &ImageSet, origin: &str) -> anyhow::Result<()> {
        if images.channels != self.towers.image_channels {
            bail!(
                "{origin}: images have {} channel(s); the run's image tower reads {}",
                images.channels,
                self.towers.image_channels
            );
        }
        Ok(())
    }

    /// Takes the tower architectures of the runs named in `init_*`, so that their weights fit.
    pub fn adopt_init_architectures(&mut self) -> anyhow::Result<()> {
        if let Some(run) = &self.init_image {
            let cfg = ImageRunConfig::load(&run.join("config.toml"))
                .with_context(|| format!("--init-image {}", run.display()))?;
            if cfg.channels != self.towers.image_channels {
                bail!(
                    "--init-image {}: its encoder reads {}-channel images, these pairs' images have {}",
                    run.display(),
                    cfg.channels,
                    self.towers.image_channels
                );
            }
            self.towers.image_encoder = cfg.encoder;
            self.towers.vit_patch = cfg.vit_patch;
        }
        if let Some(run) = &self.init_text {
            if self.towers.audio {
                bail!("--init-text applies to image-caption pairs; these pairs hold recordings");
            }
            let loaded =
                load_text_run(run).with_context(|| format!("--init-text {}", run.display()))?;
            self.towers.text_model = loaded.config.model.clone();
            self.towers.text_causal = loaded.config.method.causal();
            self.towers.vocab_size = loaded.tokenizer.vocab_size();
            self.tokenizer = loaded.tokenizer.kind();
        }
        if let Some(run) = &self.init_audio {
            if !self.towers.audio {
                bail!("--init-audio applies to image-speech pairs; these pairs hold captions");
            }
            let cfg = AudioRunConfig::load(&run.join("config.toml"))
                .with_context(|| format!("--init-audio {}", run.display()))?;
            if cfg.method != AudioMethodKind::AudioByol {
                bail!(
                    "--init-audio {}: a {} run; the audio tower is audio-byol's spectrogram CNN",
                    run.display(),
                    cfg.method.name()
                );
            }
            self.rate = cfg.rate;
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        save_settings(self, path)
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        load_settings(path, Self::validate)
    }

    /// Checks every setting against its accepted range; `source` names where they came from.
    pub fn validate(&self, source: &str) -> anyhow::Result<()> {
        let s = Settings::of(source);
        s.int("batch_size", self.batch_size, 2..=*limits::BATCH_SIZE.end())?;
        s.int("steps", self.steps, limits::STEPS)?;
        s.some_real("minutes", self.minutes, limits::MINUTES)?;
        s.int("rate", self.rate as usize, 1000..=192_000)?;
        s.int("image_size", self.image_size, 1..=4096)?;
        s.real(
            "crop_min",
            self.crop_min as f64,
            limits::Real::closed(0.01, 1.0),
        )?;
        s.real("flip", self.flip as f64, limits::SHARE)?;
        let t = &self.towers;
        s.int("towers.embed_dim", t.embed_dim, limits::WIDTH)?;
        s.int("towers.vocab_size", t.vocab_size, limits::VOCAB_SIZE)?;
        s.int("towers.image_channels", t.image_channels, 1..=4)?;
        let m = &t.text_model;
        s.int("towers.text_model.d_model", m.d_model, limits::WIDTH)?;
        s.int("towers.text_model.n_layers", m.n_layers, limits::DEPTH)?;
        s.int("towers.text_model.n_heads", m.n_heads, 1..=m.d_model)?;
        if !m.d_model.is_multiple_of(m.n_heads) {
            bail!(
                "{source}: towers.text_model.d_model = {} is not a multiple of n_heads = {}",
                m.d_model,
                m.n_heads
            );
        }
        s.int(
            "towers.text_model.max_len (--context)",
            m.max_len,
            limits::CONTEXT,
        )?;
        s.real("towers.text_model.dropout", m.dropout, limits::SHARE)?;
        s.int("checkpoint_every", self.checkpoint_every, limits::EVERY)?;
        s.int("log_every", self.log_every, limits::EVERY)?;
        self.optimizer.validate(&s)?;
        self.method.check_settings(&self.method_config, &s)
    }
}

/// The towers `cfg` starts from: fresh, then each `init_*` run's encoder loaded in; the image
/// tower frozen with `lock_image`.
pub fn initial_towers(cfg: &PairRunConfig, device: &Device) -> anyhow::Result<Towers> {
    let mut towers = seeded_init(device, cfg.seed, || cfg.towers.build(device));
    if let Some(run) = &cfg.init_image {
        towers.image = load_run_encoder(run, towers.image)
            .with_context(|| format!("--init-image {}", run.display()))?;
    }
    if let Some(run) = &cfg.init_text {
        let PartnerEncoder::Text(text) = towers.partner else {
            bail!("--init-text applies to image-caption pairs");
        };
        towers.partner = PartnerEncoder::Text(
            load_run_encoder(run, text)
                .with_context(|| format!("--init-text {}", run.display()))?,
        );
    }
    if let Some(run) = &cfg.init_audio {
        let PartnerEncoder::Audio(audio) = towers.partner else {
            bail!("--init-audio applies to image-speech pairs");
        };
        towers.partner = PartnerEncoder::Audio(
            load_run_encoder::<AudioEncoder>(run, audio)
                .with_context(|| format!("--init-audio {}", run.display()))?,
        );
    }
    Ok(if cfg.lock_image {
        towers.lock_image()
    } else {
        towers
    })
}

/// The run's caption tokenizer: the `init_text` run's, else trained on the train captions.
pub fn caption_tokenizer(
    cfg: &PairRunConfig,
    data: &PairData,
) -> anyhow::Result<Option<TextTokenizer>> {
    let crate::data::Partners::Captions(captions) = &data.partners else {
        return Ok(None);
    };
    if let Some(run) = &cfg.init_text {
        return Ok(Some(load_text_run(run)?.tokenizer));
    }
    let train: Vec<String> = data
        .partners_in(crate::pairs::Split::Train)
        .into_iter()
        .map(|i| captions[i].clone())
        .collect();
    if train.is_empty() {
        bail!("{}: no train captions", data.layout.pairs.display());
    }
    Ok(Some(TextTokenizer::train(
        cfg.tokenizer,
        &train,
        cfg.towers.vocab_size,
    )?))
}

/// Pre-trains the method named in `cfg` on `data`'s train pairs into `run_dir` (`tokenizer`:
/// the captions', saved beside the run's weights by the caller).
pub fn pretrain(
    cfg: &PairRunConfig,
    data: &PairData,
    tokenizer: Option<&TextTokenizer>,
    run_dir: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainSummary> {
    struct Pretrain<'a> {
        cfg: &'a PairRunConfig,
        data: &'a PairData,
        tokenizer: Option<&'a TextTokenizer>,
        run_dir: &'a Path,
        opts: &'a TrainOptions,
    }
    impl MethodVisitor for Pretrain<'_> {
        type Output = anyhow::Result<TrainSummary>;
        fn visit<M: PairMethod>(self) -> Self::Output {
            pretrain_with::<M>(self.cfg, self.data, self.tokenizer, self.run_dir, self.opts)
        }
    }
    cfg.method.visit(Pretrain {
        cfg,
        data,
        tokenizer,
        run_dir,
        opts,
    })
}

/// Pre-trains method `M`.
pub fn pretrain_with<M: PairMethod>(
    cfg: &PairRunConfig,
    data: &PairData,
    tokenizer: Option<&TextTokenizer>,
    run_dir: &Path,
    opts: &TrainOptions,
) -> anyhow::Result<TrainSummary> {
    let method_config =
        read_settings::<M::Config>(&cfg.method_config, &Settings::of("config.toml"))?;
    cfg.check_data(data)?;
    let partners = PreparedPartners::of(&data.partners, tokenizer, cfg.towers.text_model.max_len)?;
    let mut source = PairBatches::new(
        data,
        &partners,
        cfg.batch_size,
        cfg.seed,
        train_augmentation(cfg.image_size, cfg.crop_min, cfg.flip),
    );
    let n = source.len();
    if n < 2 {
        bail!(
            "{}: {n} train images with a train partner; pairs methods need at least 2",
            data.layout.pairs.display()
        );
    }
    let batch = source.batch;
    let device = cfg.device.device()?.autodiff();
    let towers = initial_towers(cfg, &device)?;
    let model = seeded_init(&device, cfg.seed ^ METHOD_STREAM, || {
        M::new(&method_config, towers, &device)
    });
    let settings = LoopSettings {
        seed: cfg.seed,
        stream: METHOD_STREAM,
        budget: Budget::of_run(cfg.steps, cfg.minutes),
        optimizer: cfg.optimizer.clone(),
        schedule: Schedule::WarmupCosine { floor: 0.1 },
        checkpoint_every: cfg.checkpoint_every,
        log_every: cfg.log_every,
        unit: "pairs",
        units_per_step: batch,
        steps_per_epoch: (n / batch).max(1) as f64,
    };
    let mut progress = Progress::new(opts.quiet);
    let fitted = fit(
        model,
        &mut source,
        &settings,
        run_dir,
        opts,
        None,
        &mut progress,
    )?;
    Ok(fitted.summary)
}

/// The trained towers of the run in `run_dir` (described by `cfg`), on `device`.
pub fn load_towers(cfg: &PairRunConfig, run_dir: &Path, device: &Device) -> anyhow::Result<Towers> {
    load_run_encoder(run_dir, cfg.towers.build(device))
}

/// Checks a recipe's `[method_config]` against `kind`'s settings.
pub fn check_recipe(
    kind: PairMethodKind,
    recipe: &autodidact_core::recipe::Recipe,
) -> anyhow::Result<()> {
    let table = kind.recipe_settings(recipe)?;
    kind.check_settings(&table, &Settings::of(&recipe.name()))
}
