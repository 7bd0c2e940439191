//! The command line as a library, for the Python package: run a verb from its arguments, and
//! embed in-memory inputs with a finished run.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Parser;

use super::methods::Modality;
use super::run_dir::{LoadedRun, load_run, load_series_run, load_text_run, run_kind, run_modality};
use super::{Cli, ranks, run};
use autodidact_audio::eval::embed_run;
use autodidact_audio::train::AudioRunConfig;
use autodidact_audio::wav::read_wav;
use autodidact_core::eval::Embeddings;
use autodidact_series::SeriesSet;
use autodidact_series::eval::embed_series;
use autodidact_text::eval::embed_texts;
use autodidact_vision::data::ImageSet;
use autodidact_vision::data::folder::read_image_files;
use autodidact_vision::eval::embed::embed_images;

/// Runs one verb, `args` as typed after `autodidact` (`["pretrain", "--method", ...]`). A flag
/// the parser refuses is an error with the one line the binary prints, less its `error: `.
pub fn run_verb<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv =
        std::iter::once(OsString::from("autodidact")).chain(args.into_iter().map(Into::into));
    let cli = Cli::try_parse_from(argv).map_err(|err| {
        let text = err.to_string();
        let line = text.lines().next().unwrap_or("invalid arguments");
        anyhow::anyhow!("{}", line.strip_prefix("error: ").unwrap_or(line))
    })?;
    run(cli, &ranks::Launch::join()?)
}

/// What a finished run can embed without a data set on disk.
pub enum Input {
    /// `n x channels x height x width` bytes.
    Images {
        pixels: Vec<u8>,
        shape: [usize; 4],
    },
    /// `n x channels x length` values (`NaN` for a missing value).
    Series {
        values: Vec<f32>,
        shape: [usize; 3],
    },
    /// Audio clips in `[-1, 1]` at the run's sample rate.
    Clips(Vec<Vec<f32>>),
    /// Image or WAV files, whichever the run learnt from.
    Files(Vec<PathBuf>),
    Texts(Vec<String>),
    /// Texts for a text run, captions for an image-caption run, file paths for the others.
    Strings(Vec<String>),
}

impl Input {
    /// Refuses values whose count is not the shape's (they would be read past their end).
    fn check_shape(&self) -> anyhow::Result<()> {
        let (len, dims): (usize, &[usize]) = match self {
            Input::Images { pixels, shape } => (pixels.len(), shape),
            Input::Series { values, shape } => (values.len(), shape),
            _ => return Ok(()),
        };
        let want = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if want != Some(len) {
            bail!("x: {len} values do not fill the shape {dims:?}");
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        match self {
            Input::Images { .. } => "images",
            Input::Series { .. } => "series",
            Input::Clips(_) => "audio clips",
            Input::Files(_) => "files",
            Input::Texts(_) | Input::Strings(_) => "texts",
        }
    }
}

/// The embeddings `run` gives `input`, one row per sample: the rows `autodidact embed` writes
/// for the same samples.
pub fn embed(run: &Path, input: Input) -> anyhow::Result<Embeddings> {
    input.check_shape()?;
    if !run.is_dir() {
        bail!("{}: no such run folder", run.display());
    }
    let modality = run_modality(run)?;
    let input = match input {
        Input::Strings(texts) if modality == Modality::Text => Input::Texts(texts),
        Input::Strings(texts) if modality == Modality::Pairs && captions_run(run)? => {
            Input::Texts(texts)
        }
        Input::Strings(paths) => Input::Files(paths.into_iter().map(PathBuf::from).collect()),
        input => input,
    };
    match (modality, input) {
        (Modality::Image, Input::Images { pixels, shape }) => {
            embed_image_set(run, &load_run(run)?, image_set(pixels, shape))
        }
        (Modality::Image, Input::Files(paths)) => {
            let loaded = load_run(run)?;
            let set = read_image_files(&paths, loaded.config.channels, loaded.config.image_size)
                .with_context(|| run_kind(run, modality))?;
            embed_image_set(run, &loaded, set)
        }
        (Modality::Series, Input::Series { values, shape }) => {
            let [n, channels, length] = shape;
            let per = channels * length;
            let set = SeriesSet {
                values: (0..n).map(|i| values[i * per..][..per].to_vec()).collect(),
                lengths: vec![length; n],
                channels,
                labels: None,
                class_names: Vec::new(),
            };
            let loaded = load_series_run(run)?;
            if channels != loaded.config.channels {
                bail!(
                    "series have {channels} channel(s) but {} was trained on {}",
                    run.display(),
                    loaded.config.channels
                );
            }
            Ok(embed_series(
                &loaded.encoder,
                &set,
                &loaded.config.scaler,
                &loaded.device,
            ))
        }
        (Modality::Text, Input::Texts(texts)) => {
            let loaded = load_text_run(run)?;
            Ok(embed_texts(
                &loaded.encoder,
                &loaded.tokenizer,
                &texts,
                &loaded.device,
            ))
        }
        (Modality::Audio, Input::Clips(clips)) => {
            let config = AudioRunConfig::load(&run.join("config.toml"))?;
            embed_clips(run, &config, clips)
        }
        (Modality::Audio, Input::Files(paths)) => {
            let config = AudioRunConfig::load(&run.join("config.toml"))?;
            let clips = paths
                .iter()
                .map(|p| read_wav(p, config.rate))
                .collect::<Result<Vec<_>, _>>()?;
            embed_clips(run, &config, clips)
        }
        (Modality::Pairs, input) => embed_pairs(run, input),
        (modality, input) => bail!(
            "{} is a {modality} run; it cannot embed {}",
            run.display(),
            input.kind()
        ),
    }
}

/// Whether a pairs run's partners are captions (else recordings).
fn captions_run(run: &Path) -> anyhow::Result<bool> {
    let cfg = autodidact_multimodal::train::PairRunConfig::load(&run.join("config.toml"))?;
    Ok(!cfg.towers.audio)
}

/// A pairs run puts images, and captions or recordings, into its shared space (unit rows), as
/// `embed` and `search` do.
fn embed_pairs(run: &Path, input: Input) -> anyhow::Result<Embeddings> {
    use autodidact_multimodal::batch::PreparedPartners;
    use autodidact_multimodal::eval::{embed_images as tower_images, embed_partners};
    use autodidact_multimodal::train::{PairRunConfig, TOKENIZER_FILE, load_towers};
    use autodidact_text::tokenizer::TextTokenizer;
    let cfg = PairRunConfig::load(&run.join("config.toml"))?;
    let towers = load_towers(&cfg, run, &cfg.device.device()?)?;
    let dim = towers.embed_dim();
    let images = |set: ImageSet| -> anyhow::Result<Embeddings> {
        cfg.check_images(&set, "x")?;
        let all: Vec<usize> = (0..set.len()).collect();
        let data = tower_images(&towers, &set, &all, cfg.image_size);
        Ok(Embeddings::new(data, set.len(), dim))
    };
    let partners = |prepared: PreparedPartners, n: usize| {
        let all: Vec<usize> = (0..n).collect();
        Embeddings::new(embed_partners(&towers, &prepared, &all), n, dim)
    };
    match input {
        Input::Images { pixels, shape } => images(image_set(pixels, shape)),
        Input::Files(paths) if cfg.towers.audio && paths.iter().all(|p| is_wav(p)) => {
            let clips = paths
                .iter()
                .map(|p| read_wav(p, cfg.rate))
                .collect::<Result<Vec<_>, _>>()?;
            let n = clips.len();
            Ok(partners(PreparedPartners::clips(&clips, cfg.rate), n))
        }
        Input::Files(paths) => {
            let set = read_image_files(&paths, cfg.towers.image_channels, cfg.image_size)
                .with_context(|| run_kind(run, Modality::Pairs))?;
            images(set)
        }
        Input::Texts(texts) => {
            let tokenizer = TextTokenizer::load(&run.join(TOKENIZER_FILE))?;
            let max_len = cfg.towers.text_model.max_len;
            let n = texts.len();
            Ok(partners(
                PreparedPartners::captions(&texts, &tokenizer, max_len),
                n,
            ))
        }
        Input::Clips(clips) if cfg.towers.audio => {
            let n = clips.len();
            Ok(partners(PreparedPartners::clips(&clips, cfg.rate), n))
        }
        input => bail!(
            "{} is an image-{} run; it cannot embed {}",
            run.display(),
            if cfg.towers.audio {
                "speech"
            } else {
                "caption"
            },
            input.kind()
        ),
    }
}

fn is_wav(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
}

fn image_set(pixels: Vec<u8>, [_, channels, height, width]: [usize; 4]) -> ImageSet {
    ImageSet::unlabelled(channels, height, width, pixels)
}

/// As `embed` does for an image run: the method's pooling, resized to the run's side.
fn embed_image_set(run: &Path, loaded: &LoadedRun, set: ImageSet) -> anyhow::Result<Embeddings> {
    if set.channels != loaded.config.channels {
        bail!(
            "images have {} channel(s); the run {} was trained on {} channel(s)",
            set.channels,
            run.display(),
            loaded.config.channels
        );
    }
    Ok(embed_images(
        &loaded.encoder,
        loaded.config.method.pooling(),
        &set,
        loaded.config.image_size,
        &loaded.device,
    ))
}

fn embed_clips(
    run: &Path,
    config: &AudioRunConfig,
    clips: Vec<Vec<f32>>,
) -> anyhow::Result<Embeddings> {
    let set = autodidact_audio::AudioSet {
        rate: config.rate,
        clips,
        labels: None,
        class_names: Vec::new(),
    };
    embed_run(config, run, &set)
}

/// Token ids and the valid mask (`n x len` each, row-major) of `texts` as a text run's encoder
/// reads them (`[CLS]`, the tokens, cut to its longest sequence, padded): the inputs of its
/// exported ONNX graph.
pub fn tokenize(run: &Path, texts: &[String]) -> anyhow::Result<(Vec<i64>, Vec<f32>, [usize; 2])> {
    use autodidact_text::batch::pad_sequences;
    use autodidact_text::tokenizer::TextTokenizer;
    let modality = run_modality(run)?;
    if modality != Modality::Text {
        bail!(
            "{} is a {modality} run; only text runs tokenize",
            run.display()
        );
    }
    let loaded = load_text_run(run)?;
    let max_len = loaded.encoder.max_len();
    let seqs: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| loaded.tokenizer.sequence(t, max_len))
        .collect();
    let batch = pad_sequences(&seqs, max_len, TextTokenizer::PAD);
    Ok((batch.ids, batch.valid, [batch.batch, batch.len]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_do_not_fill_their_shape_are_refused_before_any_run_is_read() {
        let short = Input::Images {
            pixels: vec![0; 10],
            shape: [1, 1, 4, 4],
        };
        let err = embed(Path::new("/nonexistent-run"), short).unwrap_err();
        assert!(err.to_string().contains("do not fill the shape"), "{err}");
        let whole = Input::Series {
            values: vec![0.0; 6],
            shape: [2, 1, 3],
        };
        assert!(whole.check_shape().is_ok());
    }
}
