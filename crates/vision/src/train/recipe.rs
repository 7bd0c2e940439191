//! The image methods' part of a recipe (`autodidact_core::recipe::Recipe`): the backbone and
//! the ViT's patch side, and the method's `[method_config]`.

use anyhow::Context;

pub use autodidact_core::recipe::Recipe;

use crate::encoders::EncoderKind;
use crate::methods::MethodKind;
use autodidact_core::train::limits::{self, Settings};

/// The keys an image recipe may add to the shared ones.
pub const KEYS: &[&str] = &["encoder", "vit_patch"];

/// Checks the image part of `recipe` for `kind`: no keys of another modality, a known encoder,
/// the patch side and `[method_config]` in range.
pub fn check(recipe: &Recipe, kind: MethodKind) -> anyhow::Result<()> {
    recipe.check_keys(KEYS)?;
    let source = recipe.name();
    let s = Settings::of(&source);
    kind.check_settings(&kind.recipe_settings(recipe)?, &s)?;
    s.some_int("vit_patch", vit_patch(recipe)?, limits::VIT_PATCH)?;
    encoder(recipe)?;
    Ok(())
}

pub fn encoder(recipe: &Recipe) -> anyhow::Result<Option<EncoderKind>> {
    recipe
        .setting("encoder")
        .with_context(|| "encoder: cnn, resnet18 or vit".to_string())
}

pub fn vit_patch(recipe: &Recipe) -> anyhow::Result<Option<usize>> {
    recipe.setting("vit_patch")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Recipe> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.toml");
        std::fs::write(&path, text).expect("write");
        let recipe = Recipe::load(&path)?;
        check(&recipe, MethodKind::Byol)?;
        Ok(recipe)
    }

    #[test]
    fn reads_settings_and_method_overrides() {
        let r = parse(
            "method = \"byol\"\nminutes = 10\nbatch_size = 128\nlr = 0.001\nencoder = \"vit\"\n\
             [method_config]\nema_momentum = 0.996\n",
        )
        .expect("valid recipe");
        assert_eq!(r.minutes, Some(10.0));
        assert_eq!(r.batch_size, Some(128));
        assert_eq!(encoder(&r).unwrap(), Some(EncoderKind::Vit));
        let cfg = MethodKind::Byol.recipe_settings(&r).expect("config");
        assert_eq!(cfg["ema_momentum"].as_float(), Some(0.996));
        assert_eq!(
            cfg["proj_dim"],
            MethodKind::Byol.default_settings()["proj_dim"]
        );
    }

    #[test]
    fn rejects_unknown_keys_text_keys_and_bad_values() {
        for (text, named) in [
            ("methd = \"byol\"\n", "methd"),
            ("tokenizer = \"bpe\"\n", "tokenizer"),
            ("[method_config]\nema_momentun = 0.9\n", "ema_momentun"),
            // SimCLR's setting is not BYOL's.
            ("[method_config]\ntemperature = 0.9\n", "temperature"),
            ("vit_patch = 0\n", "vit_patch"),
            ("encoder = \"alexnet\"\n", "encoder"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(format!("{err:#}").contains(named), "{text}: {err:#}");
        }
    }
}
