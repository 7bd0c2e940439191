//! `autodidact search`: the lines of a corpus nearest to a query by sentence embedding, exact,
//! with the corpus' embeddings kept in an index file in the run folder.

use std::path::PathBuf;

use clap::Args;

use serde_json::json;

use super::flags;
use super::run_dir::{LoadedTextRun, load_text_run};
use autodidact_core::train::checkpoint::write_atomic;
use autodidact_core::train::limits;
use autodidact_text::data::{TextUnit, read_corpus, read_labelled};
use autodidact_text::eval::embed_texts;
use autodidact_text::search::{SearchIndex, cached_embeddings, index_path, precision_at_k};

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Run folder of a text pre-training (mlm, clm or simcse).
    #[arg(long)]
    run: PathBuf,
    /// Text file (one document per line) or labelled .tsv/.csv whose texts are searched.
    #[arg(long)]
    corpus: PathBuf,
    /// The text to find neighbours of.
    #[arg(long, required_unless_present = "evaluate")]
    query: Option<String>,
    /// Neighbours to return.
    #[arg(short = 'k', long = "k", default_value_t = 10, value_parser = flags::int(limits::NEIGHBOURS))]
    k: usize,
    /// Measure instead of answering: every text of a labelled corpus is a query against the
    /// others; prints the mean share of its k neighbours with its label (precision@k).
    #[arg(long)]
    evaluate: bool,
    /// Write the answer as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        flags::output_file("--json", path)?;
    }
    if args.k == 0 {
        anyhow::bail!("-k must be at least 1");
    }
    let LoadedTextRun {
        tokenizer,
        encoder,
        device,
        ..
    } = load_text_run(&args.run)?;
    let labelled = if args.evaluate {
        Some(read_labelled(&args.corpus)?)
    } else {
        None
    };
    let texts = match &labelled {
        Some(l) => l.texts.clone(),
        None => read_corpus(&args.corpus, TextUnit::Lines)?,
    };
    let index_file = index_path(&args.run, &args.corpus)?;
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
    let mut answer = json!({ "corpus": args.corpus.display().to_string(), "k": args.k });
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
