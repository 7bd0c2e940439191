//! Reading a finished run folder: its config and its encoder.

use std::path::{Path, PathBuf};

use clap::Args;

use burn::prelude::*;

use autodidact::data::ImageFormat;
use autodidact::data::cache::default_cache_dir;
use autodidact::data::{ImageData, load_images};
use autodidact::encoders::ImageEncoder;
use autodidact::train::checkpoint::load_run_encoder;
use autodidact::train::config::RunConfig;

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
    let encoder = ImageEncoder::new(config.encoder, config.channels, &device);
    let encoder = load_run_encoder(run, encoder)?;
    Ok(LoadedRun {
        config,
        encoder,
        device,
    })
}

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
    /// series runs a UCR problem folder or CSV; for text runs a labelled TSV/CSV (or folder).
    #[arg(long)]
    pub data: PathBuf,
    /// Image data format (detected from the path by default).
    #[arg(long, value_enum, default_value_t = ImageFormat::Auto)]
    pub format: ImageFormat,
    /// Do not read or write the decoded-image cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl RunAndData {
    /// Loads the run and the data set.
    pub fn load(&self) -> anyhow::Result<(LoadedRun, ImageData)> {
        Ok((
            load_run(&self.run)?,
            load_data(&self.data, self.format, self.no_cache)?,
        ))
    }
}
