//! `--method`: every modality's registered methods under one flag, and the run folders' and
//! recipes' method names read back.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use clap::builder::PossibleValue;

use autodidact_audio::methods::AudioMethodKind;
use autodidact_multimodal::methods::PairMethodKind;
use autodidact_series::methods::SeriesMethodKind;
use autodidact_text::methods::TextMethodKind;
use autodidact_vision::methods::MethodKind;
use autodidact_vision::train::recipe::{self as image_recipe, Recipe};

/// What a method learns from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modality {
    Image,
    Series,
    Text,
    Audio,
    /// Image-caption or image-speech pairs.
    Pairs,
}

impl std::fmt::Display for Modality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Modality::Image => "image",
            Modality::Series => "series",
            Modality::Text => "text",
            Modality::Audio => "audio",
            Modality::Pairs => "multimodal",
        })
    }
}

/// A method of any modality.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnyMethod {
    Image(MethodKind),
    Series(SeriesMethodKind),
    Text(TextMethodKind),
    Audio(AudioMethodKind),
    Pairs(PairMethodKind),
}

impl AnyMethod {
    /// The method called `name` (as `--method`, recipes and `config.toml` spell it).
    pub fn from_name(name: &str) -> Option<Self> {
        MethodKind::from_name(name)
            .map(AnyMethod::Image)
            .or_else(|| SeriesMethodKind::from_name(name).map(AnyMethod::Series))
            .or_else(|| TextMethodKind::from_name(name).map(AnyMethod::Text))
            .or_else(|| AudioMethodKind::from_name(name).map(AnyMethod::Audio))
            .or_else(|| PairMethodKind::from_name(name).map(AnyMethod::Pairs))
    }

    /// How the default run folder names it (`runs/<this>-<data>`).
    pub fn folder_name(self) -> String {
        match self {
            AnyMethod::Image(m) => format!("{m:?}"),
            AnyMethod::Series(m) => format!("{m:?}"),
            AnyMethod::Text(m) => format!("{m:?}"),
            AnyMethod::Audio(m) => format!("{m:?}"),
            AnyMethod::Pairs(m) => format!("{m:?}"),
        }
        .to_lowercase()
    }

    pub fn modality(self) -> Modality {
        match self {
            AnyMethod::Image(_) => Modality::Image,
            AnyMethod::Series(_) => Modality::Series,
            AnyMethod::Text(_) => Modality::Text,
            AnyMethod::Audio(_) => Modality::Audio,
            AnyMethod::Pairs(_) => Modality::Pairs,
        }
    }
}

impl clap::ValueEnum for AnyMethod {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: OnceLock<Vec<AnyMethod>> = OnceLock::new();
        ALL.get_or_init(|| {
            let images = MethodKind::ALL.iter().map(|&m| AnyMethod::Image(m));
            let series = SeriesMethodKind::ALL.iter().map(|&m| AnyMethod::Series(m));
            let texts = TextMethodKind::ALL.iter().map(|&m| AnyMethod::Text(m));
            let audio = AudioMethodKind::ALL.iter().map(|&m| AnyMethod::Audio(m));
            let pairs = PairMethodKind::ALL.iter().map(|&m| AnyMethod::Pairs(m));
            images
                .chain(series)
                .chain(texts)
                .chain(audio)
                .chain(pairs)
                .collect()
        })
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            AnyMethod::Image(m) => Some(PossibleValue::new(m.name()).help(m.help())),
            AnyMethod::Series(m) => Some(PossibleValue::new(m.name()).help(m.help())),
            AnyMethod::Text(m) => Some(PossibleValue::new(m.name()).help(m.help())),
            AnyMethod::Audio(m) => Some(PossibleValue::new(m.name()).help(m.help())),
            AnyMethod::Pairs(m) => Some(PossibleValue::new(m.name()).help(m.help())),
        }
    }
}

/// Reads a recipe file and checks all of it against the modality of the method it names (the
/// image methods' when it names none): the shared settings, the modality's keys and the
/// method's `[method_config]`.
pub fn load_recipe(path: &Path) -> anyhow::Result<Recipe> {
    let recipe = Recipe::load(path)?;
    match recipe_method(&recipe)?.unwrap_or(AnyMethod::Image(MethodKind::Simclr)) {
        AnyMethod::Image(kind) => image_recipe::check(&recipe, kind)?,
        AnyMethod::Series(kind) => autodidact_series::train::check_recipe(kind, &recipe)?,
        AnyMethod::Text(kind) => autodidact_text::recipe::check(&recipe, kind)?,
        AnyMethod::Audio(kind) => autodidact_audio::train::check_recipe(kind, &recipe)?,
        AnyMethod::Pairs(kind) => autodidact_multimodal::train::check_recipe(kind, &recipe)?,
    }
    Ok(recipe)
}

/// Lays `--temperature` (`flag`), else the recipe's `temperature`, over `method`'s settings; a
/// method without a softmax temperature refuses both.
pub fn apply_temperature(
    settings: &mut toml::Table,
    flag: Option<f64>,
    recipe: &Recipe,
    method: &str,
) -> anyhow::Result<()> {
    let (given, t) = match (flag, recipe.temperature) {
        (Some(t), _) => ("--temperature".to_string(), t),
        (None, Some(t)) => (format!("{}: `temperature`", recipe.name()), t),
        (None, None) => return Ok(()),
    };
    if !settings.contains_key("temperature") {
        anyhow::bail!("{given} does not apply to --method {method}: it has no softmax temperature");
    }
    settings.insert("temperature".into(), toml::Value::Float(t));
    Ok(())
}

/// The method a recipe names, if it names one.
pub fn recipe_method(recipe: &Recipe) -> anyhow::Result<Option<AnyMethod>> {
    recipe
        .method
        .as_deref()
        .map(|name| {
            AnyMethod::from_name(name)
                .with_context(|| format!("{}: unknown method `{name}`", recipe.name()))
        })
        .transpose()
}

/// The method of the run whose `config.toml` is at `path`, read before knowing the config's
/// layout (each modality stores different fields).
pub fn run_method(path: &Path) -> anyhow::Result<AnyMethod> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read run config", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}: invalid run config", path.display()))?;
    let name = table
        .get("method")
        .and_then(|m| m.as_str())
        .with_context(|| format!("{}: no `method` in the run config", path.display()))?;
    AnyMethod::from_name(name).with_context(|| {
        format!(
            "{}: unknown method `{name}` in the run config",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_registered_method_is_one_flag_value_with_its_help() {
        let all = AnyMethod::value_variants();
        let name = |m: &AnyMethod| m.to_possible_value().unwrap().get_name().to_string();
        let names: Vec<String> = all.iter().map(name).collect();
        for name in ["simclr", "mae", "ts-order", "ts-contrast", "mlm", "simcse"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "no name is registered twice");
        for m in all {
            assert_eq!(AnyMethod::from_name(&name(m)), Some(*m));
            let value = m.to_possible_value().expect("listed");
            assert!(value.get_help().is_some(), "{} has a help line", name(m));
        }
        assert_eq!(
            AnyMethod::from_name("ts-mask").map(AnyMethod::modality),
            Some(Modality::Series)
        );
        assert_eq!(AnyMethod::from_name("resnet"), None);
    }

    #[test]
    fn every_shipped_recipe_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recipes");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).expect("recipes/ exists") {
            let path = entry.expect("entry").path();
            let recipe = load_recipe(&path).unwrap_or_else(|e| panic!("{e:#}"));
            let method = recipe_method(&recipe)
                .expect("known method")
                .expect("a shipped recipe names its method");
            let name = path
                .file_stem()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            assert!(
                name.ends_with(&format!(
                    "-{}",
                    method.to_possible_value().unwrap().get_name()
                )),
                "{name} runs {method:?}"
            );
            // Series recipes fit every UCR problem (no data path; TS2Vec's step rule).
            if method.modality() != Modality::Series {
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
