//! A run's settings on disk (`config.toml`) and where its computation runs.

use std::path::Path;

use anyhow::Context;

use crate::error::DataError;
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

/// Writes a run's settings to `path` as TOML (atomically), with the number of ranks it trains on
/// (`world_size`): the one writer of every `config.toml`. In a data-parallel run only rank 0
/// writes; the others return at once.
pub fn save_settings<T: Serialize>(settings: &T, path: &Path) -> anyhow::Result<()> {
    let world = crate::collective::current();
    if !world.is_root() {
        return Ok(());
    }
    let text = toml::to_string_pretty(settings).context("cannot serialise the run config")?;
    let text = with_top_level(&text, &format!("{WORLD_SIZE} = {}", world.size()));
    crate::train::checkpoint::write_atomic(path, text.as_bytes())
}

/// `text` (a TOML document) with `line` added last among its top-level keys, before its first
/// table.
fn with_top_level(text: &str, line: &str) -> String {
    let at = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .find(|&i| text[i..].starts_with('['))
        .unwrap_or(text.len());
    let (keys, tables) = text.split_at(at);
    let keys = keys.trim_end_matches('\n');
    let before = if keys.is_empty() { "" } else { "\n" };
    let after = if tables.is_empty() { "" } else { "\n" };
    format!("{keys}{before}{line}\n{after}{tables}")
}

/// The key of `config.toml` that records how many ranks the run was started on.
pub const WORLD_SIZE: &str = "world_size";

/// A TOML error in one line: where it is (when known) and what is wrong.
pub fn toml_error(text: &str, err: &toml::de::Error) -> String {
    match err.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            format!("line {line}: {}", err.message())
        }
        None => err.message().to_string(),
    }
}

/// Reads settings written by [`save_settings`], then checks them with `validate` (given the
/// file's name for its messages).
pub fn load_settings<T: serde::de::DeserializeOwned>(
    path: &Path,
    validate: impl FnOnce(&T, &str) -> anyhow::Result<()>,
) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DataError::invalid(path, format!("cannot read run config: {e}")))?;
    let settings: T = toml::from_str(&text).map_err(|e| {
        DataError::invalid(
            path,
            format!("invalid run config: {}", toml_error(&text, &e)),
        )
    })?;
    validate(&settings, &path.display().to_string())?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_size_goes_last_among_the_top_level_keys() {
        let line = "world_size = 2";
        assert_eq!(
            with_top_level("a = 1\n\n[t]\nb = 2\n", line),
            "a = 1\nworld_size = 2\n\n[t]\nb = 2\n"
        );
        assert_eq!(with_top_level("a = 1\n", line), "a = 1\nworld_size = 2\n");
        assert_eq!(
            with_top_level("[t]\nb = 2\n", line),
            "world_size = 2\n\n[t]\nb = 2\n"
        );
        let parsed: toml::Table =
            toml::from_str(&with_top_level("a = 1\n\n[t]\nb = 2\n", line)).unwrap();
        assert_eq!(parsed["world_size"].as_integer(), Some(2));
        assert_eq!(parsed["t"]["b"].as_integer(), Some(2));
    }

    #[test]
    fn a_toml_error_names_its_line_on_one_line() {
        let text = "a = 1\nb = 2\nc = = 3\n";
        let err = toml::from_str::<toml::Table>(text).unwrap_err();
        let message = toml_error(text, &err);
        assert!(message.starts_with("line 3: "), "{message}");
        assert_eq!(message.lines().count(), 1);
    }

    #[test]
    fn a_bad_run_config_is_a_data_error_and_a_bad_value_a_setting_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        let check = |t: &toml::Table, source: &str| {
            let v = t.get("x").and_then(toml::Value::as_integer).unwrap_or(0) as usize;
            crate::train::limits::Settings::of(source).int("x", v, 1..=3)
        };
        std::fs::write(&path, "x = = 1\n").expect("write");
        let err = load_settings::<toml::Table>(&path, check).unwrap_err();
        let data = err.downcast_ref::<DataError>().expect("a data error");
        assert_eq!(data.path(), path.as_path());
        std::fs::write(&path, "x = 7\n").expect("write");
        let err = load_settings::<toml::Table>(&path, check).unwrap_err();
        let setting = err
            .downcast_ref::<crate::error::SettingError>()
            .expect("a setting error");
        assert_eq!((setting.key.as_str(), setting.value.as_str()), ("x", "7"));
        assert!(
            err.to_string().contains("config.toml: x = 7: expected"),
            "{err}"
        );
    }
}
