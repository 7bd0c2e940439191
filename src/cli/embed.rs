//! `autodidact embed`: a data set's embeddings as a `.npy` matrix, for image, series and text runs.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::run_dir::RunAndData;
use autodidact::eval::Embeddings;
use autodidact::eval::embed::embed_images;
use autodidact::eval::npy::write_npy;
use autodidact::methods::Modality;
use autodidact::series::data::load_series;
use autodidact::series::eval::embed_series;
use autodidact::series::train::SeriesRunConfig;
use autodidact::text::data::{TextUnit, load_text_problem, read_corpus};
use autodidact::text::eval::embed_texts;
use autodidact::text::tokenizer::TextTokenizer;
use autodidact::text::train::TextRunConfig;
use autodidact::train::checkpoint::load_run_encoder;
use autodidact::train::config::run_method;

/// Which split to embed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Split {
    Train,
    Test,
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    #[command(flatten)]
    input: RunAndData,
    /// Output `.npy` file (float32, rows x dimensions).
    #[arg(long)]
    out: PathBuf,
    /// Split to embed [default: train]. Series: `<Name>_TRAIN.ts` or `_TEST.ts`. Text: the
    /// labelled problem's split, as `eval` splits it; a `.txt`/`.raw` corpus is embedded whole,
    /// one row per non-empty line.
    #[arg(long, value_enum)]
    split: Option<Split>,
}

pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    let config = args.input.run.join("config.toml");
    let modality = if config.exists() {
        run_method(&config)?.modality()
    } else {
        Modality::Image
    };
    let emb = match modality {
        Modality::Image => image_embeddings(&args)?,
        Modality::Series => series_embeddings(&args)?,
        Modality::Text => text_embeddings(&args)?,
    };
    write_npy(&args.out, &emb.data, &[emb.n, emb.dim])
        .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", args.out.display()))?;
    println!(
        "wrote {} embeddings of dimension {} to {}",
        emb.n,
        emb.dim,
        args.out.display()
    );
    Ok(())
}

fn no_test_split(data: &Path, expected: &str) -> anyhow::Error {
    anyhow::anyhow!("{}: no test split found ({expected})", data.display())
}

fn image_embeddings(args: &EmbedArgs) -> anyhow::Result<Embeddings> {
    let (run, data) = args.input.load()?;
    let set = match args.split.unwrap_or(Split::Train) {
        Split::Train => data.train,
        Split::Test => data.test.ok_or_else(|| {
            no_test_split(
                &args.input.data,
                "expected train/ and test/ folders, or t10k files",
            )
        })?,
    };
    if set.channels != run.config.channels {
        anyhow::bail!(
            "{}: images have {} channels but the encoder was trained on {}",
            args.input.data.display(),
            set.channels,
            run.config.channels
        );
    }
    Ok(embed_images(
        &run.encoder,
        &set,
        run.config.image_size,
        &run.device,
    ))
}

fn series_embeddings(args: &EmbedArgs) -> anyhow::Result<Embeddings> {
    let run_dir = &args.input.run;
    let run = SeriesRunConfig::load(&run_dir.join("config.toml"))?;
    let device = run.device.device()?;
    let encoder = load_run_encoder(run_dir, run.build_encoder(&device))?;
    let problem = load_series(&args.input.data)?;
    let set = match args.split.unwrap_or(Split::Train) {
        Split::Train => problem.train,
        Split::Test => problem.test.ok_or_else(|| {
            no_test_split(
                &args.input.data,
                "expected <Name>_TRAIN.ts and <Name>_TEST.ts",
            )
        })?,
    };
    if set.channels != run.channels {
        anyhow::bail!(
            "{}: series have {} channels but the encoder was trained on {}",
            args.input.data.display(),
            set.channels,
            run.channels
        );
    }
    Ok(embed_series(&encoder, &set, &run.scaler, &device))
}

fn text_embeddings(args: &EmbedArgs) -> anyhow::Result<Embeddings> {
    let run_dir = &args.input.run;
    let run = TextRunConfig::load(&run_dir.join("config.toml"))?;
    let tokenizer = TextTokenizer::load(&run_dir.join("tokenizer.json"))?;
    let device = run.device.device()?;
    let encoder = load_run_encoder(run_dir, run.build_encoder(tokenizer.vocab_size(), &device))?;
    let data = &args.input.data;
    let plain = data.is_file()
        && data
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("txt") || e.eq_ignore_ascii_case("raw"));
    let texts = if plain {
        if args.split.is_some() {
            anyhow::bail!(
                "{}: a plain-text corpus has no splits; leave out --split to embed every line",
                data.display()
            );
        }
        read_corpus(data, TextUnit::Lines)?
    } else {
        let problem = load_text_problem(data, 0)?;
        match args.split.unwrap_or(Split::Train) {
            Split::Train => problem.train.texts,
            Split::Test => problem.test.texts,
        }
    };
    Ok(embed_texts(&encoder, &tokenizer, &texts, &device))
}
