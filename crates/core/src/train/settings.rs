//! A run's settings on disk (`config.toml`) and where its computation runs.

use std::path::Path;

use anyhow::Context;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Where the computation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// Burn's pure-Rust `flex` CPU backend.
    Cpu,
    /// Burn's Vulkan GPU backend (build with `--features vulkan`).
    Vulkan,
}

impl DeviceChoice {
    /// The Burn device (without autodiff).
    pub fn device(self) -> anyhow::Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            #[cfg(feature = "vulkan")]
            DeviceChoice::Vulkan => {
                let device = Device::vulkan(burn::tensor::DeviceKind::DefaultDevice);
                probe(&device)?;
                Ok(device)
            }
            #[cfg(not(feature = "vulkan"))]
            DeviceChoice::Vulkan => anyhow::bail!(
                "--device vulkan needs a build with the vulkan feature: cargo run --release --features vulkan -- ..."
            ),
        }
    }
}

/// Runs one tiny operation on `device`: Burn's GPU runtimes panic on a worker thread when no
/// adapter exists, which would otherwise surface as a backtrace in the middle of a run.
#[cfg(feature = "vulkan")]
fn probe(device: &Device) -> anyhow::Result<()> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let d = device.clone();
    let ok = std::panic::catch_unwind(move || Tensor::<1>::zeros([1], &d).into_data()).is_ok();
    std::panic::set_hook(hook);
    if !ok {
        anyhow::bail!(
            "--device vulkan: no usable Vulkan GPU found (is a Vulkan driver and its ICD file installed? \
             `vulkaninfo` should list the GPU)"
        );
    }
    Ok(())
}

/// Writes a run's settings to `path` as TOML (atomically): the one writer of every `config.toml`.
pub fn save_settings<T: Serialize>(settings: &T, path: &Path) -> anyhow::Result<()> {
    let text = toml::to_string_pretty(settings).context("cannot serialise the run config")?;
    crate::train::checkpoint::write_atomic(path, text.as_bytes())
}

/// Reads settings written by [`save_settings`], then checks them with `validate` (given the
/// file's name for its messages).
pub fn load_settings<T: serde::de::DeserializeOwned>(
    path: &Path,
    validate: impl FnOnce(&T, &str) -> anyhow::Result<()>,
) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read run config", path.display()))?;
    let settings: T =
        toml::from_str(&text).with_context(|| format!("{}: invalid run config", path.display()))?;
    validate(&settings, &path.display().to_string())?;
    Ok(settings)
}
