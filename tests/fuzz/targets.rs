//! The fuzz targets: each reader of user bytes, set up with a valid layout around the one file
//! that a case overwrites, plus the memory a case may use.

use std::path::{Path, PathBuf};

use autodidact::audio::data::load_audio;
use autodidact::audio::wav::read_wav;
use autodidact::data::{self, ImageFormat, cache, folder, idx, image_file};
use autodidact::eval::npy::read_npy;
use autodidact::series::data::{LabelColumn, load_series, read_csv, read_ts};
use autodidact::series::train::SeriesRunConfig;
use autodidact::text::data::{TextUnit, load_text_problem, read_corpus, read_labelled};
use autodidact::text::tokenizer::TextTokenizer;
use autodidact::text::train::TextRunConfig;
use autodidact::train::config::RunConfig;
use autodidact::train::recipe;

use crate::{checkpoints, seeds};

pub const MIB: usize = 1 << 20;

/// What a case may allocate above the bytes live before it: `fixed` plus `per_input_byte` for
/// every byte of the case's input.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub fixed: usize,
    pub per_input_byte: usize,
}

impl Limit {
    pub fn bytes(self, input_len: usize) -> usize {
        self.fixed + self.per_input_byte * input_len
    }
}

/// Plain-text readers and small binary headers: a reader holds the file, its parsed values and
/// a few copies; nothing is sized from a claim in the input.
pub const PARSED: Limit = Limit {
    fixed: 4 * MIB,
    per_input_byte: 32,
};

/// One reader and the file a case overwrites.
pub struct Target {
    pub name: &'static str,
    /// Valid inputs for the mutations to start from.
    pub seeds: Vec<Vec<u8>>,
    /// The file a case's bytes are written to before `read` runs.
    pub member: PathBuf,
    /// Runs the reader(s) on the layout around `member`; `Err` is the reader's message.
    pub read: Box<dyn Fn() -> Result<(), String>>,
    pub limit: Limit,
}

/// A message of any reader error.
pub fn message<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<(), String> {
    result.map(|_| ()).map_err(|e| format!("{e:#}"))
}

/// `Ok` when both readers accept the input (both run either way).
fn both(a: Result<(), String>, b: Result<(), String>) -> Result<(), String> {
    a.and(b)
}

/// `Ok` when either reader accepts the input, as when one file is read as one of several kinds
/// (both run either way).
fn either(a: Result<(), String>, b: Result<(), String>) -> Result<(), String> {
    a.or(b)
}

pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("creating the layout's folders");
    }
    std::fs::write(path, bytes).expect("writing a layout file");
}

pub fn target(
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    member: PathBuf,
    limit: Limit,
    read: impl Fn() -> Result<(), String> + 'static,
) -> Target {
    write(&member, &seeds[0]);
    Target {
        name,
        seeds,
        member,
        read: Box::new(read),
        limit,
    }
}

/// Every target, laid out under `work` (one sub-folder each).
pub fn all(work: &Path) -> Vec<Target> {
    let mut targets = vec![
        idx_files(work),
        idx_folder(work),
        image_folder(work),
        image_tar(work),
        image_cache(work),
        ts_file(work),
        series_csv(work),
        ucr_folder(work),
        corpus(work),
        labelled_tsv(work),
        labelled_csv(work),
        text_problem_folder(work),
        tokenizer(work),
        npy(work),
        recipe(work),
        run_config(work),
        wav(work),
        audio_manifest(work),
    ];
    targets.extend(checkpoints::targets(work));
    targets
}

/// Image decoding: the image crate's buffer for one image (at most `MAX_IMAGE_BYTES`) on each
/// decoding thread, its conversion and resize copies, and the set's pixels.
fn image_limit() -> Limit {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    Limit {
        fixed: 16 * MIB + 3 * threads * image_file::MAX_IMAGE_BYTES,
        per_input_byte: 64,
    }
}

fn idx_files(work: &Path) -> Target {
    let member = work.join("idx/file");
    let path = member.clone();
    let limit = Limit {
        fixed: 4 * MIB,
        per_input_byte: 8,
    };
    target("idx file", seeds::idx_files(), member, limit, move || {
        either(
            message(idx::read_idx_images(&path)),
            message(idx::read_idx_labels(&path)),
        )
    })
}

fn idx_folder(work: &Path) -> Target {
    let dir = work.join("idx-folder");
    write(
        &dir.join("train-labels-idx1-ubyte.gz"),
        &seeds::gzip(&seeds::idx_labels(&[0, 1, 2, 1, 0])),
    );
    write(
        &dir.join("t10k-images-idx3-ubyte"),
        &seeds::idx_images(2, 8, 8),
    );
    write(
        &dir.join("t10k-labels-idx1-ubyte"),
        &seeds::idx_labels(&[1, 2]),
    );
    let images = seeds::idx_images(5, 8, 8);
    let seeds = vec![seeds::gzip(&images), images];
    let member = dir.join("train-images-idx3-ubyte.gz");
    let limit = Limit {
        fixed: 4 * MIB,
        per_input_byte: 16,
    };
    target("idx folder", seeds, member, limit, move || {
        message(data::load_images(
            &dir,
            ImageFormat::Auto,
            Some((6, 6)),
            None,
        ))
    })
}

fn image_folder(work: &Path) -> Target {
    let root = work.join("image-folder");
    let images = seeds::image_files();
    write(&root.join("train/cat/b.png"), &images[1]);
    write(&root.join("train/dog/c.jpg"), &images[5]);
    write(&root.join("test/dog/d.png"), &images[2]);
    // The first image in path order: it fixes the channels and size of the set.
    let member = root.join("train/cat/a.png");
    target("image folder", images, member, image_limit(), move || {
        message(data::load_images(&root, ImageFormat::Auto, None, None))
    })
}

fn image_tar(work: &Path) -> Target {
    let member = work.join("tar/images.tar.gz");
    let path = member.clone();
    target(
        "image tar",
        seeds::image_tars(),
        member,
        image_limit(),
        move || message(data::load_images(&path, ImageFormat::Auto, None, None)),
    )
}

fn image_cache(work: &Path) -> Target {
    let root = work.join("image-cache/images");
    let images = seeds::image_files();
    write(&root.join("a/1.png"), &images[0]);
    write(&root.join("b/2.png"), &images[3]);
    let cache_dir = work.join("image-cache/cache");
    let data = folder::read_image_folder(&root, None).expect("a valid image folder");
    let key = cache::CacheKey::new(&root, ImageFormat::Folder, None).expect("a cache key");
    let member = cache::store(&cache_dir, &key, &data).expect("writing the cache file");
    let seeds = vec![std::fs::read(&member).expect("reading the cache file")];
    target("image cache", seeds, member, PARSED, move || {
        // A damaged cache file is ignored, never an error.
        cache::load(&cache_dir, &key);
        Ok(())
    })
}

fn wav(work: &Path) -> Target {
    let member = work.join("wav/x.wav");
    let path = member.clone();
    target("wav", seeds::wav_files(), member, PARSED, move || {
        // At its own rate and resampled: both must hold.
        both(
            message(read_wav(&path, 8000)),
            message(read_wav(&path, 11025)),
        )
    })
}

fn audio_manifest(work: &Path) -> Target {
    let dir = work.join("audio-manifest");
    for (i, clip) in seeds::wav_files().iter().enumerate() {
        write(&dir.join(format!("{i}.wav")), clip);
    }
    let member = dir.join("clips.csv");
    let path = member.clone();
    target(
        "audio manifest",
        seeds::audio_manifests(),
        member,
        PARSED,
        move || message(load_audio(&path, 8000)),
    )
}

fn ts_file(work: &Path) -> Target {
    let member = work.join("ts/x.ts");
    let path = member.clone();
    target("ts file", seeds::ts_files(), member, PARSED, move || {
        message(read_ts(&path))
    })
}

fn series_csv(work: &Path) -> Target {
    let member = work.join("series-csv/x.csv");
    let path = member.clone();
    let classes = ["1".to_string(), "2".to_string()];
    target(
        "series csv",
        seeds::series_csv_files(),
        member,
        PARSED,
        move || {
            // The seeds hold the label first; the other layouts run for their panics alone.
            let _ = read_csv(&path, LabelColumn::None, None);
            let _ = read_csv(&path, LabelColumn::Last, Some(&classes));
            message(read_csv(&path, LabelColumn::First, None))
        },
    )
}

fn ucr_folder(work: &Path) -> Target {
    let dir = work.join("ucr/Tiny");
    write(&dir.join("Tiny_TRAIN.ts"), &seeds::ts_files()[0]);
    let member = dir.join("Tiny_TEST.ts");
    let seeds = seeds::ts_files_pairing_with_first();
    target("ucr folder", seeds, member, PARSED, move || {
        message(load_series(&dir))
    })
}

fn corpus(work: &Path) -> Target {
    let member = work.join("corpus/corpus.txt");
    let path = member.clone();
    target("text corpus", seeds::corpora(), member, PARSED, move || {
        both(
            message(read_corpus(&path, TextUnit::Lines)),
            message(read_corpus(&path, TextUnit::Documents)),
        )
    })
}

fn labelled_tsv(work: &Path) -> Target {
    let member = work.join("labelled-tsv/set.tsv");
    let path = member.clone();
    target(
        "labelled tsv",
        seeds::labelled_tsv_files(),
        member,
        PARSED,
        move || {
            both(
                message(read_labelled(&path)),
                message(load_text_problem(&path, 3)),
            )
        },
    )
}

fn labelled_csv(work: &Path) -> Target {
    let member = work.join("labelled-csv/set.csv");
    let path = member.clone();
    target(
        "labelled csv",
        seeds::labelled_csv_files(),
        member,
        PARSED,
        move || message(read_labelled(&path)),
    )
}

fn text_problem_folder(work: &Path) -> Target {
    let dir = work.join("text-problem");
    write(&dir.join("train.tsv"), &seeds::labelled_tsv_files()[0]);
    let member = dir.join("test.tsv");
    target(
        "text problem folder",
        seeds::tsv_files_pairing_with_first(),
        member,
        PARSED,
        move || message(load_text_problem(&dir, 0)),
    )
}

fn tokenizer(work: &Path) -> Target {
    let dir = work.join("tokenizer");
    std::fs::create_dir_all(&dir).expect("creating the tokenizer folder");
    let seeds = seeds::tokenizer_files(&dir);
    let member = dir.join("tokenizer.json");
    let path = member.clone();
    // The tokenizers crate builds its tables from the JSON; they take some multiple of it.
    let limit = Limit {
        fixed: 8 * MIB,
        per_input_byte: 64,
    };
    target("tokenizer", seeds, member, limit, move || {
        // A loaded tokenizer is used at once: encoding and decoding must not fail either.
        let tokenizer = TextTokenizer::load(&path).map_err(|e| format!("{e:#}"))?;
        let ids = tokenizer.encode("The quick fox [MASK] jumps, \u{e9}t\u{e9} \u{263a}");
        tokenizer.decode(&ids);
        tokenizer.decode(&[0, 1, 2, 3, 4, 5, 6, 7, u32::MAX]);
        Ok(())
    })
}

fn npy(work: &Path) -> Target {
    let dir = work.join("npy");
    std::fs::create_dir_all(&dir).expect("creating the npy folder");
    let seeds = seeds::npy_files(&dir);
    let member = dir.join("x.npy");
    let path = member.clone();
    target("npy", seeds, member, PARSED, move || {
        message(read_npy(&path))
    })
}

fn recipe(work: &Path) -> Target {
    let member = work.join("recipe/r.toml");
    let path = member.clone();
    target("recipe", seeds::recipe_files(), member, PARSED, move || {
        message(recipe::Recipe::load(&path).map_err(|e| format!("{e:#}")))
    })
}

fn run_config(work: &Path) -> Target {
    let dir = work.join("run-config");
    std::fs::create_dir_all(&dir).expect("creating the run config folder");
    let seeds = seeds::run_config_files(&dir);
    let member = dir.join("config.toml");
    let path = member.clone();
    target("run config", seeds, member, PARSED, move || {
        let image = message(RunConfig::load(&path));
        let series = message(SeriesRunConfig::load(&path));
        let text = message(TextRunConfig::load(&path));
        either(image, either(series, text))
    })
}
