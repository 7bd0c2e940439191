//! `autodidact search` on an image-caption run: `--query TEXT` prints the nearest images and
//! writes a contact sheet of them; `--image FILE` prints the nearest captions.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::json;

use super::search_args::SearchArgs;
use autodidact_core::train::checkpoint::write_atomic;
use autodidact_multimodal::data::{PairData, Partners};
use autodidact_multimodal::pairs::{PairsLayout, Split};
use autodidact_multimodal::search::{contact_sheet, images_for_text, texts_for_image};
use autodidact_multimodal::train::{PairRunConfig, TOKENIZER_FILE, load_towers};
use autodidact_text::tokenizer::TextTokenizer;
use autodidact_vision::data::ImageSet;
use autodidact_vision::data::named::{read_image, read_named_images};

pub(super) fn run(args: &SearchArgs) -> anyhow::Result<()> {
    if args.corpus.is_some() {
        bail!("--corpus applies to text runs; an image-caption run searches --images");
    }
    let cfg = PairRunConfig::load(&args.run.join("config.toml"))?;
    if cfg.towers.audio {
        bail!(
            "{}: an image-speech run; search reads captions",
            args.run.display()
        );
    }
    let towers = load_towers(&cfg, &args.run, &cfg.device.device()?)?;
    let tokenizer = TextTokenizer::load(&args.run.join(TOKENIZER_FILE))?;
    let max_len = cfg.towers.text_model.max_len;
    let mut answer = json!({ "run": args.run.display().to_string(), "k": args.k });
    if let Some(query) = &args.query {
        let (names, images) =
            searched_images(args.images.as_deref().unwrap_or(&cfg.data), cfg.rate)?;
        cfg.check_images(&images, "--images")?;
        let hits = images_for_text(
            &towers,
            &tokenizer,
            max_len,
            query,
            &images,
            cfg.image_size,
            args.k,
        );
        println!("images nearest to {query:?} among {}:", images.len());
        for (rank, (i, score)) in hits.iter().enumerate() {
            println!("  {:>2}. {score:.3}  {}", rank + 1, names[*i]);
        }
        let sheet = match &args.sheet {
            Some(path) => path.clone(),
            None => {
                let dir = args.run.join("search");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("{}: cannot create", dir.display()))?;
                dir.join(format!("{}.png", slug(query)))
            }
        };
        let found: Vec<usize> = hits.iter().map(|h| h.0).collect();
        contact_sheet(&images, &found, &sheet)?;
        println!(
            "contact sheet (best first, row by row): {}",
            sheet.display()
        );
        answer["query"] = json!(query);
        answer["sheet"] = json!(sheet.display().to_string());
        answer["results"] = hits
            .iter()
            .enumerate()
            .map(|(rank, (i, score))| json!({"rank": rank + 1, "score": score, "image": names[*i]}))
            .collect();
    }
    if let Some(path) = &args.image {
        let named = read_image(path).map_err(|e| anyhow::anyhow!("--image: {e}"))?;
        cfg.check_images(&named, &format!("--image {}", path.display()))?;
        let data = PairData::load(&cfg.data, cfg.rate)?;
        let Partners::Captions(all) = &data.partners else {
            bail!("{}: the run's pairs hold no captions", cfg.data.display());
        };
        let pool = test_or_all(data.partners_in(Split::Test), all.len());
        let captions: Vec<String> = pool.iter().map(|&i| all[i].clone()).collect();
        let hits = texts_for_image(
            &towers,
            &tokenizer,
            max_len,
            &named,
            cfg.image_size,
            &captions,
            args.k,
        );
        println!(
            "captions nearest to {} among {}:",
            path.display(),
            captions.len()
        );
        for (rank, (i, score)) in hits.iter().enumerate() {
            println!("  {:>2}. {score:.3}  {}", rank + 1, captions[*i]);
        }
        answer["image"] = json!(path.display().to_string());
        answer["results"] = hits
            .iter()
            .enumerate()
            .map(|(rank, (i, score))| json!({"rank": rank + 1, "score": score, "caption": captions[*i]}))
            .collect();
    }
    if let Some(path) = &args.json {
        write_atomic(path, serde_json::to_string_pretty(&answer)?.as_bytes())?;
    }
    Ok(())
}

/// The images `--images` names: a paired data set's test images (all of them when it has no
/// test split), or every image of a folder or archive.
fn searched_images(path: &Path, rate: u32) -> anyhow::Result<(Vec<String>, ImageSet)> {
    if PairsLayout::find(path).is_ok() {
        let data = PairData::load(path, rate)?;
        let chosen = test_or_all(data.images_in(Split::Test), data.images.len());
        let names = chosen
            .iter()
            .map(|&i| data.image_names[i].clone())
            .collect();
        return Ok((names, data.images.subset(&chosen)));
    }
    let named = read_named_images(path, None)?;
    Ok((named.names, named.images))
}

/// The test items, or all `n` when the data has no test split.
fn test_or_all(test: Vec<usize>, n: usize) -> Vec<usize> {
    if test.is_empty() {
        (0..n).collect()
    } else {
        test
    }
}

/// A file name from a query: lower-case letters and digits, `-` between words.
fn slug(query: &str) -> String {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        "query".into()
    } else {
        words.join("-")
    }
}
