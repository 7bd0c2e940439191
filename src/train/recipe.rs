//! Recipes for the modalities of this crate: the shared file format is
//! `autodidact_core::recipe::Recipe`; here are the image and text keys it may carry, and the
//! readers that turn them into this crate's types.

use std::path::{Path, PathBuf};

use anyhow::Context;

pub use autodidact_core::recipe::Recipe;

use crate::encoders::EncoderKind;
use crate::methods::{MethodConfig, MethodKind};
use crate::series::methods::SeriesMethodKind;
use crate::text::methods::TextMethodKind;
use crate::text::tokenizer::TokenizerKind;
use crate::train::limits::{self, Settings};

/// Image keys: the backbone and the ViT's patch side.
pub const IMAGE_KEYS: &[&str] = &["encoder", "vit_patch"];
/// Text keys: tokenizer and its vocabulary, Transformer size (tiny, mini, small, base), tokens
/// per sequence, and the run to start from (relative to the directory `autodidact` runs in).
pub const TEXT_KEYS: &[&str] = &["tokenizer", "vocab_size", "model", "context", "init"];

/// Reads a recipe file and checks all of it: the shared settings, the image and text keys, the
/// method's name and its `[method_config]`.
pub fn load(path: &Path) -> anyhow::Result<Recipe> {
    let recipe = Recipe::load(path)?;
    let known: Vec<&str> = IMAGE_KEYS.iter().chain(TEXT_KEYS).copied().collect();
    recipe.check_keys(&known)?;
    let source = recipe.name();
    let series = recipe
        .method
        .as_deref()
        .and_then(SeriesMethodKind::from_name);
    let text = recipe.method.as_deref().and_then(TextMethodKind::from_name);
    match (series, text) {
        (Some(kind), _) => crate::series::train::check_recipe(kind, &recipe)?,
        (_, Some(kind)) => {
            crate::text::train::method_config_of(kind, &recipe)?;
        }
        (None, None) => {
            let kind = method(&recipe)?.unwrap_or(MethodKind::Simclr);
            method_config(&recipe, kind)?.validate(&Settings::of(&source))?;
        }
    }
    let s = Settings::of(&source);
    s.some_int("vit_patch", vit_patch(&recipe)?, limits::VIT_PATCH)?;
    s.some_int("vocab_size", vocab_size(&recipe)?, limits::VOCAB_SIZE)?;
    s.some_int("context", context(&recipe)?, limits::CONTEXT)?;
    tokenizer(&recipe)?;
    encoder(&recipe)?;
    model(&recipe)?;
    init(&recipe)?;
    Ok(recipe)
}

/// The method the recipe names.
pub fn method(recipe: &Recipe) -> anyhow::Result<Option<MethodKind>> {
    recipe
        .method
        .as_deref()
        .map(|name| {
            MethodKind::from_name(name)
                .with_context(|| format!("{}: unknown method `{name}`", recipe.name()))
        })
        .transpose()
}

/// The defaults of `kind` with the recipe's `[method_config]` laid over them.
pub fn method_config(recipe: &Recipe, kind: MethodKind) -> anyhow::Result<MethodConfig> {
    recipe.method_config(&MethodConfig::for_method(kind))
}

pub fn encoder(recipe: &Recipe) -> anyhow::Result<Option<EncoderKind>> {
    recipe.setting("encoder")
}

pub fn vit_patch(recipe: &Recipe) -> anyhow::Result<Option<usize>> {
    recipe.setting("vit_patch")
}

pub fn tokenizer(recipe: &Recipe) -> anyhow::Result<Option<TokenizerKind>> {
    recipe.setting("tokenizer")
}

pub fn vocab_size(recipe: &Recipe) -> anyhow::Result<Option<usize>> {
    recipe.setting("vocab_size")
}

pub fn model(recipe: &Recipe) -> anyhow::Result<Option<String>> {
    recipe.setting("model")
}

pub fn context(recipe: &Recipe) -> anyhow::Result<Option<usize>> {
    recipe.setting("context")
}

pub fn init(recipe: &Recipe) -> anyhow::Result<Option<PathBuf>> {
    recipe.setting("init")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Recipe> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.toml");
        std::fs::write(&path, text).expect("write");
        load(&path)
    }

    #[test]
    fn reads_settings_and_method_overrides() {
        let r = parse(
            "method = \"byol\"\nminutes = 10\nbatch_size = 128\nlr = 0.001\n\
             [method_config]\nema_momentum = 0.996\n",
        )
        .expect("valid recipe");
        assert_eq!(method(&r).unwrap(), Some(MethodKind::Byol));
        assert_eq!(r.minutes, Some(10.0));
        assert_eq!(r.batch_size, Some(128));
        let cfg = method_config(&r, MethodKind::Byol).expect("config");
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
            let recipe = load(&path).unwrap_or_else(|e| panic!("{e:#}"));
            let method = method(&recipe)
                .expect("known method")
                .expect("a shipped recipe names its method");
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
