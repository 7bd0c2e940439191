//! `autodidact embed`: a data set's embeddings as a `.npy` matrix, for image, series, text and
//! audio runs.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use anyhow::Context;

use super::methods::Modality;
use super::run_dir::{RunAndData, load_series_run, load_text_run, run_kind, run_modality};
use autodidact_audio::data::load_audio;
use autodidact_audio::eval::embed_run;
use autodidact_audio::train::AudioRunConfig;
use autodidact_core::eval::Embeddings;
use autodidact_core::eval::npy::write_npy;
use autodidact_series::data::load_series;
use autodidact_series::eval::embed_series;
use autodidact_text::data::{TextUnit, is_plain_text_file, load_text_problem, read_corpus};
use autodidact_text::eval::embed_texts;
use autodidact_vision::eval::embed::embed_images;

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
    super::flags::output_file("--out", &args.out)?;
    let modality = run_modality(&args.input.run)?;
    args.input.check_modality(modality)?;
    let emb = match modality {
        Modality::Image => image_embeddings(&args)?,
        Modality::Series => series_embeddings(&args)?,
        Modality::Text => text_embeddings(&args)?,
        Modality::Audio => audio_embeddings(&args)?,
        Modality::Pairs => pair_image_embeddings(&args)?,
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

/// A multimodal run embeds images into its shared space (unit rows), where captions or
/// recordings land too.
fn pair_image_embeddings(args: &EmbedArgs) -> anyhow::Result<Embeddings> {
    use autodidact_multimodal::train::{PairRunConfig, load_towers};
    let cfg = PairRunConfig::load(&args.input.run.join("config.toml"))?;
    let towers = load_towers(&cfg, &args.input.run, &cfg.device.device()?)?;
    let data = super::run_dir::load_data(
        &args.input.data,
        autodidact_vision::data::ImageFormat::Auto,
        false,
    )
    .with_context(|| run_kind(&args.input.run, Modality::Pairs))?;
    let set = match args.split.unwrap_or(Split::Train) {
        Split::Train => data.train,
        Split::Test => data
            .test
            .ok_or_else(|| no_test_split(&args.input.data, "expected train/ and test/ folders"))?,
    };
    cfg.check_images(&set, &args.input.data.display().to_string())?;
    let all: Vec<usize> = (0..set.len()).collect();
    let size = cfg.image_size;
    let data = autodidact_multimodal::eval::embed_images(&towers, &set, &all, size);
    Ok(Embeddings::new(data, set.len(), towers.embed_dim()))
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
    Ok(embed_images(
        &run.encoder,
        args.input.pooling(&run),
        &set,
        run.config.image_size,
        &run.device,
    ))
}

fn series_embeddings(args: &EmbedArgs) -> anyhow::Result<Embeddings> {
    let run = load_series_run(&args.input.run)?;
    let problem = load_series(&args.input.data)
        .with_context(|| run_kind(&args.input.run, Modality::Series))?;
    let set = match args.split.unwrap_or(Split::Train) {
        Split::Train => problem.train,
        Split::Test => problem.test.ok_or_else(|| {
            no_test_split(
                &args.input.data,
                "expected <Name>_TRAIN.ts and <Name>_TEST.ts",
            )
        })?,
    };
    if set.channels != run.config.channels {
        anyhow::bail!(
            "{}: series have {} channels but the encoder was trained on {}",
            args.input.data.display(),
            set.channels,
            run.config.channels
        );
    }
    Ok(embed_series(
        &run.encoder,
        &set,
        &run.config.scaler,
        &run.device,
    ))
}

fn text_embeddings(args: &EmbedArgs) -> anyhow::Result<Embeddings> {
    let run = load_text_run(&args.input.run)?;
    let data = &args.input.data;
    let texts = if is_plain_text_file(data) {
        if args.split.is_some() {
            anyhow::bail!(
                "{}: a plain-text corpus has no splits; leave out --split to embed every line",
                data.display()
            );
        }
        read_corpus(data, TextUnit::Lines)?
    } else {
        let problem = load_text_problem(data, 0)
            .with_context(|| run_kind(&args.input.run, Modality::Text))?;
        match args.split.unwrap_or(Split::Train) {
            Split::Train => problem.train.texts,
            Split::Test => problem.test.texts,
        }
    };
    Ok(embed_texts(
        &run.encoder,
        &run.tokenizer,
        &texts,
        &run.device,
    ))
}

fn audio_embeddings(args: &EmbedArgs) -> anyhow::Result<Embeddings> {
    let run = AudioRunConfig::load(&args.input.run.join("config.toml"))?;
    let data = load_audio(&args.input.data, run.rate)
        .with_context(|| run_kind(&args.input.run, Modality::Audio))?;
    let set = match args.split.unwrap_or(Split::Train) {
        Split::Train => data.train,
        Split::Test => data.test.ok_or_else(|| {
            no_test_split(
                &args.input.data,
                "expected train/ and test/ folders, or a manifest `split` column",
            )
        })?,
    };
    embed_run(&run, &args.input.run, &set)
}
