//! `autodidact search`: the lines of a corpus nearest to a query by sentence embedding, exact,
//! with the corpus' embeddings kept in an index file in the run folder; for an image-caption
//! run, the images nearest to a caption (with a contact sheet) or the captions nearest to an
//! image (`search_pairs`).

use serde_json::json;

use super::flags;
use super::methods::Modality;
use super::run_dir::{LoadedTextRun, load_text_run, run_modality};
use super::search_args::SearchArgs;
use autodidact_core::train::checkpoint::write_atomic;
use autodidact_text::data::{TextUnit, read_corpus, read_labelled};
use autodidact_text::eval::embed_texts;
use autodidact_text::search::{SearchIndex, cached_embeddings, index_path, precision_at_k};

pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        flags::output_file("--json", path)?;
    }
    if args.k == 0 {
        anyhow::bail!("-k must be at least 1");
    }
    if run_modality(&args.run)? == Modality::Pairs {
        return super::search_pairs::run(&args);
    }
    for (flag, given) in [
        ("--images", args.images.is_some()),
        ("--image", args.image.is_some()),
        ("--sheet", args.sheet.is_some()),
    ] {
        if given {
            anyhow::bail!(
                "{flag} applies to image-caption runs; {} is a text run",
                args.run.display()
            );
        }
    }
    let Some(corpus) = args.corpus.clone() else {
        anyhow::bail!("--corpus: give the text file to search");
    };
    let LoadedTextRun {
        tokenizer,
        encoder,
        device,
        ..
    } = load_text_run(&args.run)?;
    let labelled = if args.evaluate {
        Some(read_labelled(&corpus)?)
    } else {
        None
    };
    let texts = match &labelled {
        Some(l) => l.texts.clone(),
        None => read_corpus(&corpus, TextUnit::Lines)?,
    };
    let index_file = index_path(&args.run, &corpus)?;
    let (raw, reused) = cached_embeddings(&index_file, &encoder, &tokenizer, &texts, &device)?;
    if reused {
        println!("read the index {} ({} texts)", index_file.display(), raw.n);
    } else {
        println!(
            "embedded {} texts; index written to {}",
            raw.n,
            index_file.display()
        );
    }
    let index = SearchIndex::new(&raw);
    let mut answer = json!({ "corpus": corpus.display().to_string(), "k": args.k });
    if let Some(l) = &labelled {
        let p = precision_at_k(&index, &raw, &l.labels, args.k);
        let n = l.labels.len() as f64;
        let chance: f64 = (0..l.num_classes() as u32)
            .map(|c| {
                let share = l.labels.iter().filter(|&&x| x == c).count() as f64 / n;
                share * share
            })
            .sum();
        println!(
            "precision@{}: {:.4} (neighbours share the query's label; chance {:.4})",
            args.k, p, chance
        );
        answer["precision_at_k"] = json!(p);
        answer["chance"] = json!(chance);
    }
    if let Some(query) = &args.query {
        let q = embed_texts(&encoder, &tokenizer, std::slice::from_ref(query), &device);
        let hits = index.nearest(q.row(0), args.k, None);
        println!("nearest to {query:?}:");
        for (rank, (i, score)) in hits.iter().enumerate() {
            println!("  {:>2}. {score:.3}  {}", rank + 1, texts[*i]);
        }
        answer["query"] = json!(query);
        answer["results"] = hits
            .iter()
            .enumerate()
            .map(|(rank, (i, score))| {
                json!({"rank": rank + 1, "score": score, "line": i + 1, "text": texts[*i]})
            })
            .collect();
    }
    if let Some(path) = &args.json {
        write_atomic(path, serde_json::to_string_pretty(&answer)?.as_bytes())?;
    }
    Ok(())
}
