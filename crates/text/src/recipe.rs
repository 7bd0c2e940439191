//! The text methods' part of a recipe (`autodidact_core::recipe::Recipe`): tokenizer and its
//! vocabulary, Transformer size, context, the run to start from, and `[method_config]`.

use std::path::PathBuf;

use autodidact_core::recipe::Recipe;
use autodidact_core::train::limits::{self, Settings};

use crate::methods::TextMethodKind;
use crate::tokenizer::TokenizerKind;
use crate::train::method_config_of;

/// The keys a text recipe may add to the shared ones.
pub const KEYS: &[&str] = &["tokenizer", "vocab_size", "model", "context", "init"];

/// Checks the text part of `recipe` for `kind`: no keys of another modality, every key readable
/// and in range, `[method_config]` the method's own.
pub fn check(recipe: &Recipe, kind: TextMethodKind) -> anyhow::Result<()> {
    recipe.check_keys(KEYS)?;
    let source = recipe.name();
    let s = Settings::of(&source);
    s.some_int("vocab_size", vocab_size(recipe)?, limits::VOCAB_SIZE)?;
    s.some_int("context", context(recipe)?, limits::CONTEXT)?;
    tokenizer(recipe)?;
    model(recipe)?;
    init(recipe)?;
    method_config_of(kind, recipe)?;
    Ok(())
}

pub fn tokenizer(recipe: &Recipe) -> anyhow::Result<Option<TokenizerKind>> {
    recipe.setting("tokenizer")
}

/// Vocabulary size of the subword tokenizers.
pub fn vocab_size(recipe: &Recipe) -> anyhow::Result<Option<usize>> {
    recipe.setting("vocab_size")
}

/// Transformer size (tiny, mini, small, base).
pub fn model(recipe: &Recipe) -> anyhow::Result<Option<String>> {
    recipe.setting("model")
}

/// Tokens per sequence.
pub fn context(recipe: &Recipe) -> anyhow::Result<Option<usize>> {
    recipe.setting("context")
}

/// The run whose encoder and tokenizer a run starts from (relative to the directory
/// `autodidact` runs in).
pub fn init(recipe: &Recipe) -> anyhow::Result<Option<PathBuf>> {
    recipe.setting("init")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, kind: TextMethodKind) -> anyhow::Result<Recipe> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.toml");
        std::fs::write(&path, text).expect("write");
        let recipe = Recipe::load(&path)?;
        check(&recipe, kind)?;
        Ok(recipe)
    }

    #[test]
    fn reads_the_text_keys_and_refuses_others() {
        let r = parse(
            "tokenizer = \"bpe\"\ncontext = 64\nmodel = \"mini\"\n[method_config]\nmask_ratio = 0.2\n",
            TextMethodKind::Mlm,
        )
        .expect("valid");
        assert_eq!(tokenizer(&r).unwrap(), Some(TokenizerKind::Bpe));
        assert_eq!(context(&r).unwrap(), Some(64));
        for (text, kind, named) in [
            ("encoder = \"vit\"\n", TextMethodKind::Mlm, "encoder"),
            ("context = 1\n", TextMethodKind::Mlm, "context"),
            ("tokenizer = \"words\"\n", TextMethodKind::Mlm, "tokenizer"),
            (
                "[method_config]\nmask_ratio = 0.2\n",
                TextMethodKind::Simcse,
                "mask_ratio",
            ),
        ] {
            let err = parse(text, kind).unwrap_err();
            assert!(format!("{err:#}").contains(named), "{text}: {err:#}");
        }
    }
}
