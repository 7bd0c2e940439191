//! Recipes: TOML files of `pretrain` settings (`recipes/<dataset>-<method>.toml`); flags given on
//! the command line override them.
//!
//! The settings every modality shares are typed here; a modality's own keys (an image encoder,
//! a tokenizer) and the method's `[method_config]` stay TOML until the modality reads them
//! ([`Recipe::setting`], [`Recipe::method_config`]), so this crate knows no modality.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::train::limits::{self, Settings};
use crate::train::optim::{OptimizerConfig, OptimizerKind};
use crate::train::settings::toml_error;

/// Every setting a recipe may fix; absent ones fall back to the command line, then the defaults.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Recipe {
    /// The file it was read from (for messages); empty for a recipe made in code.
    #[serde(skip)]
    pub source: PathBuf,
    /// The method's name, as `--method` takes it.
    pub method: Option<String>,
    /// Data path, relative to the directory `autodidact` runs in.
    pub data: Option<PathBuf>,
    pub epochs: Option<usize>,
    pub minutes: Option<f64>,
    /// Optimiser steps (series and text methods; image runs use epochs or minutes).
    pub steps: Option<usize>,
    pub batch_size: Option<usize>,
    pub seed: Option<u64>,
    pub optimizer: Option<OptimizerKind>,
    pub lr: Option<f64>,
    pub weight_decay: Option<f64>,
    pub warmup_fraction: Option<f64>,
    pub temperature: Option<f64>,
    /// Overrides of the method's hyper-parameters (its config's field names).
    #[serde(default)]
    pub method_config: toml::Table,
    /// The modality's own settings, read with [`Recipe::setting`].
    #[serde(flatten)]
    pub extra: toml::Table,
}

/// The loop settings of a run counted in optimiser steps (series, audio), as a recipe sets them.
pub struct StepRun<'a> {
    pub batch_size: &'a mut usize,
    pub steps: &'a mut usize,
    pub minutes: &'a mut Option<f64>,
    pub seed: &'a mut u64,
    pub optimizer: &'a mut OptimizerConfig,
}

impl Recipe {
    /// Lays this recipe's batch size, steps (or epochs over `samples` samples), minutes, seed and
    /// optimiser over `run`. A time budget without steps or epochs trains until it ends.
    pub fn apply_to_step_run(&self, run: StepRun<'_>, samples: usize) {
        *run.batch_size = self.batch_size.unwrap_or(*run.batch_size);
        if let Some(steps) = self.steps {
            *run.steps = steps;
        } else if let Some(epochs) = self.epochs {
            let per_epoch = (samples / (*run.batch_size).clamp(1, samples.max(1))).max(1);
            *run.steps = epochs.saturating_mul(per_epoch);
        } else if self.minutes.is_some() {
            *run.steps = *limits::STEPS.end();
        }
        *run.minutes = self.minutes.or(*run.minutes);
        *run.seed = self.seed.unwrap_or(*run.seed);
        if let Some(kind) = self.optimizer {
            run.optimizer.kind = kind;
        }
        run.optimizer.lr = self.lr.unwrap_or(run.optimizer.lr);
        run.optimizer.weight_decay = self.weight_decay.unwrap_or(run.optimizer.weight_decay);
    }

    /// Reads a recipe file and checks the settings every modality shares.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DataError::invalid(path, format!("cannot read recipe: {e}")))?;
        let mut recipe: Recipe = toml::from_str(&text).map_err(|e| {
            DataError::invalid(path, format!("invalid recipe: {}", toml_error(&text, &e)))
        })?;
        recipe.source = path.to_path_buf();
        if recipe.epochs.is_some() && recipe.minutes.is_some() {
            bail!("{}: give epochs or minutes, not both", path.display());
        }
        recipe.validate()?;
        Ok(recipe)
    }

    /// Where the recipe came from, for messages.
    pub fn name(&self) -> String {
        if self.source.as_os_str().is_empty() {
            "the recipe".to_string()
        } else {
            self.source.display().to_string()
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        let source = self.name();
        let s = Settings::of(&source);
        s.some_int("epochs", self.epochs, limits::EPOCHS)?;
        s.some_real("minutes", self.minutes, limits::MINUTES)?;
        s.some_int("steps", self.steps, limits::STEPS)?;
        s.some_int("batch_size", self.batch_size, limits::BATCH_SIZE)?;
        s.some_real("lr", self.lr, limits::LEARNING_RATE)?;
        s.some_real("weight_decay", self.weight_decay, limits::WEIGHT_DECAY)?;
        s.some_real("warmup_fraction", self.warmup_fraction, limits::SHARE)?;
        s.some_real("temperature", self.temperature, limits::TEMPERATURE)
    }

    /// Fails on a key outside the shared settings and `known` (the modality's own).
    pub fn check_keys(&self, known: &[&str]) -> anyhow::Result<()> {
        match self.extra.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => bail!(
                "{}: unknown setting `{key}`{}",
                self.name(),
                if known.is_empty() {
                    String::new()
                } else {
                    format!(" (this modality also reads: {})", known.join(", "))
                }
            ),
            None => Ok(()),
        }
    }

    /// The modality's setting `key`, if the recipe gives it.
    pub fn setting<T: DeserializeOwned>(&self, key: &str) -> anyhow::Result<Option<T>> {
        self.extra
            .get(key)
            .map(|value| {
                value.clone().try_into().map_err(|e: toml::de::Error| {
                    anyhow::anyhow!("{}: invalid `{key}`: {}", self.name(), e.message())
                })
            })
            .transpose()
    }

    /// `defaults` with the recipe's `[method_config]` laid over them; a key the config does not
    /// have is an error that lists the ones it has.
    pub fn method_config<T: Serialize + DeserializeOwned>(
        &self,
        defaults: &T,
    ) -> anyhow::Result<T> {
        let mut table = toml::Table::try_from(defaults).context("method defaults serialise")?;
        for (key, value) in &self.method_config {
            if !table.contains_key(key) {
                let known: Vec<&str> = table.keys().map(String::as_str).collect();
                bail!(
                    "{}: invalid [method_config]: unknown setting `{key}` (known: {})",
                    self.name(),
                    known.join(", ")
                );
            }
            table.insert(key.clone(), value.clone());
        }
        table.try_into().map_err(|e: toml::de::Error| {
            anyhow::anyhow!("{}: invalid [method_config]: {}", self.name(), e.message())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Knobs {
        momentum: f64,
        width: usize,
    }

    fn parse(text: &str) -> anyhow::Result<Recipe> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.toml");
        std::fs::write(&path, text).expect("write");
        Recipe::load(&path)
    }

    #[test]
    fn reads_shared_settings_modality_settings_and_method_overrides() {
        let r = parse(
            "method = \"byol\"\nminutes = 10\nbatch_size = 128\nencoder = \"resnet18\"\n\
             [method_config]\nmomentum = 0.996\n",
        )
        .expect("valid recipe");
        assert_eq!(r.method.as_deref(), Some("byol"));
        assert_eq!((r.minutes, r.batch_size), (Some(10.0), Some(128)));
        assert_eq!(
            r.setting::<String>("encoder").unwrap().as_deref(),
            Some("resnet18")
        );
        assert_eq!(r.setting::<usize>("context").unwrap(), None);
        r.check_keys(&["encoder"]).expect("encoder is known here");
        let knobs = r
            .method_config(&Knobs {
                momentum: 0.9,
                width: 64,
            })
            .expect("config");
        assert_eq!(
            knobs,
            Knobs {
                momentum: 0.996,
                width: 64
            }
        );
    }

    #[test]
    fn rejects_unknown_keys_bad_values_and_two_budgets() {
        let r = parse("methd = \"byol\"\n").unwrap();
        let err = r.check_keys(&["encoder"]).unwrap_err();
        assert!(format!("{err:#}").contains("methd"), "{err:#}");
        let r = parse("[method_config]\nmomentun = 0.9\n").unwrap();
        let defaults = Knobs {
            momentum: 0.9,
            width: 64,
        };
        let err = r.method_config(&defaults).unwrap_err();
        assert!(format!("{err:#}").contains("momentun"), "{err:#}");
        let r = parse("encoder = 3\n").unwrap();
        assert!(r.setting::<String>("encoder").is_err());
        let err = parse("epochs = 3\nminutes = 2\n").unwrap_err();
        assert!(format!("{err:#}").contains("not both"), "{err:#}");
        let err = parse("batch_size = 0\n").unwrap_err();
        assert!(format!("{err:#}").contains("batch_size"), "{err:#}");
    }
}
