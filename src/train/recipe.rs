//! Recipes: TOML files of `pretrain` settings (`recipes/<dataset>-<method>.toml`); flags given on
//! the command line override them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::encoders::EncoderKind;
use crate::methods::{MethodConfig, MethodKind};
use crate::train::limits::{self, Settings};
use crate::train::optim::OptimizerKind;

/// Every setting a recipe may fix; absent ones fall back to the command line, then the defaults.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub method: Option<MethodKind>,
    /// Data path, relative to the directory `autodidact` runs in.
    pub data: Option<PathBuf>,
    pub encoder: Option<EncoderKind>,
    /// Patch side of the ViT encoder.
    pub vit_patch: Option<usize>,
    pub epochs: Option<usize>,
    pub minutes: Option<f64>,
    /// Optimiser steps (series and text methods; image runs use epochs or minutes).
    pub steps: Option<usize>,
    /// Text methods: the tokenizer trained on the corpus.
    pub tokenizer: Option<crate::text::tokenizer::TokenizerKind>,
    /// Text methods: vocabulary size of the subword tokenizers.
    pub vocab_size: Option<usize>,
    /// Text methods: Transformer size (tiny, mini, small, base).
    pub model: Option<String>,
    /// Text methods: tokens per sequence.
    pub context: Option<usize>,
    /// Text methods: start from this run's encoder and tokenizer (relative to the directory
    /// `autodidact` runs in).
    pub init: Option<PathBuf>,
    pub batch_size: Option<usize>,
    pub seed: Option<u64>,
    pub optimizer: Option<OptimizerKind>,
    pub lr: Option<f64>,
    pub weight_decay: Option<f64>,
    pub warmup_fraction: Option<f64>,
    pub temperature: Option<f64>,
    /// Overrides of the method's hyper-parameters ([`MethodConfig`] field names).
    #[serde(default)]
    pub method_config: toml::Table,
}

impl Recipe {
    /// Reads and checks a recipe file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read recipe", path.display()))?;
        let recipe: Recipe = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: invalid recipe: {}", path.display(), e.message()))?;
        if recipe.epochs.is_some() && recipe.minutes.is_some() {
            bail!("{}: give epochs or minutes, not both", path.display());
        }
        // Fail on a misspelt method setting now rather than silently ignoring it.
        let source = path.display().to_string();
        recipe
            .method_config(recipe.method.unwrap_or(MethodKind::Simclr))
            .with_context(|| format!("{source}: invalid [method_config]"))?
            .validate(&Settings::of(&source))?;
        recipe.validate(&source)?;
        Ok(recipe)
    }

    /// Checks every numeric setting against its accepted range.
    fn validate(&self, source: &str) -> anyhow::Result<()> {
        let s = Settings::of(source);
        s.some_int("vit_patch", self.vit_patch, limits::VIT_PATCH)?;
        s.some_int("epochs", self.epochs, limits::EPOCHS)?;
        s.some_real("minutes", self.minutes, limits::MINUTES)?;
        s.some_int("steps", self.steps, limits::STEPS)?;
        s.some_int("vocab_size", self.vocab_size, limits::VOCAB_SIZE)?;
        s.some_int("context", self.context, limits::CONTEXT)?;
        s.some_int("batch_size", self.batch_size, limits::BATCH_SIZE)?;
        s.some_real("lr", self.lr, limits::LEARNING_RATE)?;
        s.some_real("weight_decay", self.weight_decay, limits::WEIGHT_DECAY)?;
        s.some_real("warmup_fraction", self.warmup_fraction, limits::SHARE)?;
        s.some_real("temperature", self.temperature, limits::TEMPERATURE)
    }

    /// `kind`'s default hyper-parameters with this recipe's `[method_config]` laid over them.
    pub fn method_config(&self, kind: MethodKind) -> anyhow::Result<MethodConfig> {
        let defaults = MethodConfig::for_method(kind);
        let mut table = toml::Table::try_from(&defaults).context("method defaults serialise")?;
        for (key, value) in &self.method_config {
            if !table.contains_key(key) {
                let known: Vec<&str> = table.keys().map(String::as_str).collect();
                bail!("unknown setting `{key}` (known: {})", known.join(", "));
            }
            table.insert(key.clone(), value.clone());
        }
        table
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("{}", e.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Recipe> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.toml");
        std::fs::write(&path, text).expect("write");
        Recipe::load(&path)
    }

    #[test]
    fn reads_settings_and_method_overrides() {
        let r = parse(
            "method = \"byol\"\nminutes = 10\nbatch_size = 128\nlr = 0.001\n\
             [method_config]\nema_momentum = 0.996\n",
        )
        .expect("valid recipe");
        assert_eq!(r.method, Some(MethodKind::Byol));
        assert_eq!(r.minutes, Some(10.0));
        assert_eq!(r.batch_size, Some(128));
        let cfg = r.method_config(MethodKind::Byol).expect("config");
        assert_eq!(cfg.ema_momentum, 0.996);
        assert_eq!(
            cfg.proj_dim,
            MethodConfig::for_method(MethodKind::Byol).proj_dim
        );
    }

    #[test]
    fn rejects_unknown_keys_and_two_budgets() {
        let err = parse("methd = \"byol\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("methd"), "{err:#}");
        let err = parse("[method_config]\nema_momentun = 0.9\n").unwrap_err();
        assert!(format!("{err:#}").contains("ema_momentun"), "{err:#}");
        let err = parse("epochs = 3\nminutes = 2\n").unwrap_err();
        assert!(format!("{err:#}").contains("not both"), "{err:#}");
    }

    #[test]
    fn every_shipped_recipe_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).expect("recipes/ exists") {
            let path = entry.expect("entry").path();
            let recipe = Recipe::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
            let method = recipe.method.expect("a shipped recipe names its method");
            let name = path
                .file_stem()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            assert!(
                name.ends_with(&format!("-{}", method.name())),
                "{name} runs {method:?}"
            );
            // Series recipes fit every UCR problem (no data path; TS2Vec's step rule).
            if method.modality() != crate::methods::Modality::Series {
                assert!(
                    recipe.data.is_some()
                        && (recipe.minutes.is_some()
                            || recipe.epochs.is_some()
                            || recipe.steps.is_some()),
                    "{name} names its data and budget"
                );
            }
            count += 1;
        }
        assert!(count >= 18, "{count} recipes");
    }
}
