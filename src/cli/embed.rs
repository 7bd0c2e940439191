//! `autodidact embed`: a data set's embeddings as a `.npy` matrix.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::run_dir::RunAndData;
use autodidact::eval::embed::embed_images;
use autodidact::eval::npy::write_npy;

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
    /// Output `.npy` file (float32, images x dimensions).
    #[arg(long)]
    out: PathBuf,
    /// Split to embed.
    #[arg(long, value_enum, default_value_t = Split::Train)]
    split: Split,
}

pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    let (run, data) = args.input.load()?;
    let set = match args.split {
        Split::Train => data.train,
        Split::Test => data
            .test
            .ok_or_else(|| anyhow::anyhow!("{}: no test split found", args.input.data.display()))?,
    };
    if set.channels != run.config.channels {
        anyhow::bail!(
            "{}: images have {} channels but the encoder was trained on {}",
            args.input.data.display(),
            set.channels,
            run.config.channels
        );
    }
    let emb = embed_images(&run.encoder, &set, run.config.image_size, &run.device);
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
