//! Reading a finished run folder: its config and its encoder.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use burn::prelude::*;

use super::methods::Modality;
use super::methods::run_method;
use autodidact_core::collective::current;
use autodidact_core::train::checkpoint::load_run_encoder;
use autodidact_core::train::metrics::TrainSummary;
use autodidact_core::train::run_folder::RunFolder;
use autodidact_series::encoder::SeriesEncoder;
use autodidact_series::train::SeriesRunConfig;
use autodidact_vision::data::ImageFormat;
use autodidact_vision::data::cache::default_cache_dir;
use autodidact_vision::data::{ImageData, load_images};
use autodidact_vision::encoders::{ImageEncoder, Pooling};
use autodidact_vision::train::config::RunConfig;

/// A run's config and its trained backbone.
pub struct LoadedRun {
    pub config: RunConfig,
    pub encoder: ImageEncoder,
    pub device: Device,
}

/// Loads `run/config.toml` and `run/encoder.safetensors`.
pub fn load_run(run: &Path) -> anyhow::Result<LoadedRun> {
    if !run.is_dir() {
        anyhow::bail!("{}: no such run folder", run.display());
    }
    let config = RunConfig::load(&run.join("config.toml"))?;
    let device = config.device.device()?;
    let encoder = config.new_encoder(&device);
    let encoder = load_run_encoder(run, encoder)?;
    Ok(LoadedRun {
        config,
        encoder,
        device,
    })
}

/// What a run learnt from: its method's modality. Without a `config.toml` it answers `Image`, so
/// that the image loader names what is missing.
pub fn run_modality(run: &Path) -> anyhow::Result<Modality> {
    let config = run.join("config.toml");
    if config.exists() {
        Ok(run_method(&config)?.modality())
    } else {
        Ok(Modality::Image)
    }
}

/// Context for a data set that a run cannot read: names the run and what it learnt from, beside
/// the reader's own error naming the data.
pub fn run_kind(run: &Path, modality: Modality) -> String {
    let expects = match modality {
        Modality::Image => "images",
        Modality::Series => "series",
        Modality::Text => "texts",
        Modality::Audio => "audio clips",
        Modality::Pairs => "image pairs",
    };
    format!("{} learnt from {expects}", run.display())
}

/// A series run's config and its trained encoder (the exported weight average).
pub struct LoadedSeriesRun {
    pub config: SeriesRunConfig,
    pub encoder: SeriesEncoder,
    pub device: Device,
}

/// Loads a series run's `config.toml` and `encoder.safetensors`.
pub fn load_series_run(run: &Path) -> anyhow::Result<LoadedSeriesRun> {
    let config = SeriesRunConfig::load(&run.join("config.toml"))?;
    let device = config.device.device()?;
    let encoder = load_run_encoder(run, config.build_encoder(&device))?;
    Ok(LoadedSeriesRun {
        config,
        encoder,
        device,
    })
}

pub use autodidact_text::run::{LoadedTextRun, load_text_run};

/// Loads an image data set, using the decoded-image cache unless `no_cache`.
pub fn load_data(path: &Path, format: ImageFormat, no_cache: bool) -> anyhow::Result<ImageData> {
    let cache = (!no_cache).then(default_cache_dir);
    Ok(load_images(path, format, None, cache.as_deref())?)
}

/// The flags shared by verbs that apply a finished run to a data set.
#[derive(Args, Debug)]
pub struct RunAndData {
    /// Run folder written by `autodidact pretrain`.
    #[arg(long)]
    pub run: PathBuf,
    /// Data set: for image runs an MNIST IDX folder, image folder, or .tar/.tar.gz of one; for
    /// series runs a UCR problem folder or CSV; for text runs a labelled TSV/CSV (or folder); for
    /// multimodal runs a paired data set (retrieval on its test split) or a labelled image set
    /// (zero-shot classification and the image tower's probe, beside retrieval on the run's own
    /// pairs).
    #[arg(long)]
    pub data: PathBuf,
    /// Image data format [default: detected from the path].
    #[arg(long, value_enum)]
    pub format: Option<ImageFormat>,
    /// Do not read or write the decoded-image cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Images: how the encoder's last feature map becomes the representation [default: the
    /// method's; grid4 for mae, grid for inpaint, mean for the others].
    #[arg(long, value_enum)]
    pub pool: Option<Pooling>,
    /// Images, ViT runs: read the tokens after the encoder's first K transformer blocks
    /// [default: all of them].
    #[arg(long, value_name = "K", value_parser = super::flags::int(1..=256))]
    pub vit_blocks: Option<usize>,
}

impl RunAndData {
    /// Fails on an image flag given for a run of another modality, naming it.
    pub fn check_modality(&self, modality: Modality) -> anyhow::Result<()> {
        if modality == Modality::Image {
            return Ok(());
        }
        let image_only = [
            ("--format", self.format.is_some()),
            ("--no-cache", self.no_cache),
            ("--pool", self.pool.is_some()),
            ("--vit-blocks", self.vit_blocks.is_some()),
        ];
        match image_only.iter().find(|(_, given)| *given) {
            Some((flag, _)) => {
                anyhow::bail!("{flag} applies to image runs; this is a {modality} run")
            }
            None => Ok(()),
        }
    }

    /// Loads the run (its ViT cut to `--vit-blocks`) and the data set.
    pub fn load(&self) -> anyhow::Result<(LoadedRun, ImageData)> {
        let mut run = load_run(&self.run)?;
        if let Some(blocks) = self.vit_blocks {
            run.encoder = run.encoder.keep_vit_blocks(blocks).map_err(|e| {
                anyhow::anyhow!("--vit-blocks {blocks} for {}: {e}", self.run.display())
            })?;
        }
        let data = load_data(
            &self.data,
            self.format.unwrap_or(ImageFormat::Auto),
            self.no_cache,
        )
        .with_context(|| run_kind(&self.run, Modality::Image))?;
        if data.train.channels != run.config.channels {
            anyhow::bail!(
                "{}: images have {} channel(s); the run {} was trained on {} channel(s)",
                self.data.display(),
                data.train.channels,
                self.run.display(),
                run.config.channels
            );
        }
        let side = run.config.image_size;
        if (data.train.height, data.train.width) != (side, side) {
            eprintln!(
                "note: {}: images of {}x{} are resized to the run's {side}x{side}",
                self.data.display(),
                data.train.height,
                data.train.width
            );
        }
        Ok((run, data))
    }

    /// The pooling `--pool` names, or else the one `run`'s method reads by default.
    pub fn pooling(&self, run: &LoadedRun) -> Pooling {
        self.pool.unwrap_or(run.config.method.pooling())
    }
}

/// Trains into a new run folder `out` (see [`RunFolder::create`]); `data` is never inside what
/// is replaced. A run that fails before its first checkpoint leaves nothing behind.
pub fn in_new_folder(
    out: &Path,
    force: bool,
    data: &Path,
    train: impl FnOnce(&Path) -> anyhow::Result<TrainSummary>,
) -> anyhow::Result<TrainSummary> {
    if !current().is_root() {
        // Rank 0 creates and holds the folder; the other ranks of a data-parallel run write
        // nothing into it.
        return train(out);
    }
    let folder = RunFolder::create(out, force, &[data])?;
    if folder.replaced() {
        eprintln!("note: {}: replacing the earlier run in it", out.display());
    }
    match train(folder.path()) {
        Ok(summary) => Ok(summary),
        Err(err) => {
            folder.discard_if_unstarted();
            Err(err)
        }
    }
}

pub fn print_summary(out: &Path, s: &TrainSummary) {
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
