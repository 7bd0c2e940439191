//! Valid inputs for every reader, generated here (through the library's own writers where it has
//! them), for the mutations to start from.

use std::io::Write;
use std::path::Path;

use autodidact::audio::synthetic::write_wav_bytes;
use autodidact::eval::npy::write_npy;
use autodidact::methods::MethodKind;
use autodidact::series::data::read_ts;
use autodidact::series::methods::SeriesMethodKind;
use autodidact::series::train::SeriesRunConfig;
use autodidact::text::methods::TextMethodKind;
use autodidact::text::tokenizer::{TextTokenizer, TokenizerKind};
use autodidact::text::train::TextRunConfig;
use autodidact::train::config::RunConfig;
use flate2::Compression;
use flate2::write::GzEncoder;
use image::{DynamicImage, GrayImage, ImageBuffer, ImageFormat, Luma, RgbImage, RgbaImage};

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

/// An IDX image file of `n` images of `height x width`.
pub fn idx_images(n: u32, height: u32, width: u32) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 3];
    for dim in [n, height, width] {
        out.extend_from_slice(&dim.to_be_bytes());
    }
    out.extend((0..n * height * width).map(|i| (i * 7 % 256) as u8));
    out
}

/// An IDX label file.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 1];
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

/// IDX image and label files, raw and gzipped.
pub fn idx_files() -> Vec<Vec<u8>> {
    let raw = vec![
        idx_images(2, 3, 3),
        idx_images(5, 8, 8),
        idx_images(1, 28, 28),
        idx_labels(&[0, 1, 2, 9, 3]),
    ];
    let gzipped: Vec<Vec<u8>> = raw.iter().map(|f| gzip(f)).collect();
    raw.into_iter().chain(gzipped).collect()
}

fn pattern(x: u32, y: u32, c: u32) -> u8 {
    ((x * 29 + y * 13 + c * 71) % 256) as u8
}

/// Small images of every colour layout the readers meet.
fn sample_images() -> Vec<DynamicImage> {
    vec![
        DynamicImage::ImageLuma8(GrayImage::from_fn(8, 8, |x, y| Luma([pattern(x, y, 0)]))),
        DynamicImage::ImageRgb8(RgbImage::from_fn(8, 6, |x, y| {
            image::Rgb([pattern(x, y, 0), pattern(x, y, 1), pattern(x, y, 2)])
        })),
        DynamicImage::ImageRgba8(RgbaImage::from_fn(5, 3, |x, y| {
            image::Rgba([pattern(x, y, 0), pattern(x, y, 1), 9, 200])
        })),
        DynamicImage::ImageLuma16(ImageBuffer::from_fn(4, 4, |x, y| {
            Luma([u16::from(pattern(x, y, 0)) * 257])
        })),
    ]
}

pub fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .expect("encoding a small image");
    out.into_inner()
}

/// PNG files of every sample image and JPEG files of the 8-bit gray and RGB ones.
pub fn image_files() -> Vec<Vec<u8>> {
    let images = sample_images();
    let pngs = images.iter().map(|i| encode(i, ImageFormat::Png));
    let jpegs = images[..2].iter().map(|i| encode(i, ImageFormat::Jpeg));
    pngs.chain(jpegs).collect()
}

/// A tar archive holding `files`.
pub fn tar_archive(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .expect("writing to a Vec");
    }
    builder.into_inner().expect("writing to a Vec")
}

/// Image-folder archives (splits and classes, a top folder, a flat one), raw and gzipped.
pub fn image_tars() -> Vec<Vec<u8>> {
    let images = image_files();
    let raw = vec![
        tar_archive(&[
            ("train/cat/a.png", images[0].clone()),
            ("train/dog/b.png", images[1].clone()),
            ("test/cat/c.jpg", images[4].clone()),
        ]),
        tar_archive(&[
            ("top/a/1.png", images[2].clone()),
            ("top/b/2.jpg", images[5].clone()),
            ("top/.DS_Store", b"metadata".to_vec()),
        ]),
        tar_archive(&[("1.png", images[3].clone()), ("2.png", images[0].clone())]),
    ];
    let gzipped: Vec<Vec<u8>> = raw.iter().map(|t| gzip(t)).collect();
    raw.into_iter().chain(gzipped).collect()
}

/// `.ts` files: univariate and labelled, multichannel, unequal lengths with missing values,
/// unlabelled.
pub fn ts_files() -> Vec<Vec<u8>> {
    [
        "# a comment\n@problemName Tiny\n@timeStamps false\n@univariate true\n@equalLength true\n\
         @seriesLength 4\n@classLabel true a b\n@data\n1.0,2.0,3.0,4.0:a\n4,3,2,1:b\n0.5,0.5,0.5,0.5:a\n",
        "@problemName Multi\n@univariate false\n@dimensions 3\n@equalLength true\n@seriesLength 3\n\
         @classLabel true 1 2 3\n@data\n1,2,3:4,5,6:7,8,9:1\n9,8,7:6,5,4:3,2,1:3\n0,0,0:1,1,1:2,2,2:2\n",
        "@problemName Ragged\n@missing true\n@univariate true\n@equalLength false\n\
         @classLabel true x y\n@data\n1,2,?:x\n1,NaN,3,4,5:y\n7:x\n",
        "@problemName Unlabelled\n@univariate true\n@classLabel false\n@data\n1,2,3\n4,5,6\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// `.ts` files that can be the test set of `ts_files()[0]`: one channel, classes `a` and `b`
/// (listed in either order), equal or unequal lengths.
pub fn ts_files_pairing_with_first() -> Vec<Vec<u8>> {
    vec![
        ts_files().swap_remove(0),
        b"@univariate true\n@equalLength false\n@classLabel true b a\n@data\n1,2,?:b\n3:a\n\
          4,4,4,4,4,4:a\n"
            .to_vec(),
    ]
}

/// WAV files: 16-bit mono at 8 kHz, 8-bit stereo at 16 kHz, 24-bit mono at 22.05 kHz.
pub fn wav_files() -> Vec<Vec<u8>> {
    let tone = |n: usize| -> Vec<f32> { (0..n).map(|i| 0.4 * (i as f32 * 0.3).sin()).collect() };
    vec![
        write_wav_bytes(&tone(300), 8000, 1, 16).unwrap(),
        write_wav_bytes(&tone(400), 16000, 2, 8).unwrap(),
        write_wav_bytes(&tone(500), 22050, 1, 24).unwrap(),
    ]
}

/// Manifests of the clips `wav_files()` writes as `0.wav`, `1.wav` and `2.wav`.
pub fn audio_manifests() -> Vec<Vec<u8>> {
    [
        "path,label,split\n0.wav,yes,train\n1.wav,no,train\n2.wav,yes,test\n",
        "label,path\n3,0.wav\n10,1.wav\n3,2.wav\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// UCR-style CSV and TSV series files (label first), with a header line and missing cells.
pub fn series_csv_files() -> Vec<Vec<u8>> {
    [
        "1,0.1,0.2,0.3,0.4\n2,1.5,1.4,1.3,1.2\n1,0.0,,0.2,NaN\n",
        "label,t1,t2,t3\nup,1,2,3\ndown,3,2,1\n",
        "1\t0.5\t0.25\t0.125\n10\t-1\t-2\t-3\n2\t?\t1e-3\t7\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Labelled TSV files: a header naming the columns, and the SMS Spam layout without one.
pub fn labelled_tsv_files() -> Vec<Vec<u8>> {
    [
        "sentence\tlabel\na fine film\t1\na dull film\t0\nfine again\t1\nso dull\t0\n\
         great\t1\nawful\t0\nnice\t1\nbad\t0\nlovely\t1\nboring\t0\n",
        "ham\tsee you at noon\nspam\tWIN a prize now\nham\tok\nham\tcall me\nspam\tfree cash\n",
        "label\tcontent\r\nWorld\tnews of the world\r\nSports\ta match\r\nWorld\tmore news\r\n\
         Sports\ta race\r\nWorld\ta summit\r\nSports\ta goal\r\nWorld\tan election\r\n\
         Sports\ta final\r\nWorld\ta treaty\r\nSports\ta record\r\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Labelled TSV files that can be the test set of `labelled_tsv_files()[0]` (labels 0 and 1).
pub fn tsv_files_pairing_with_first() -> Vec<Vec<u8>> {
    vec![
        labelled_tsv_files().swap_remove(0),
        b"label\tsentence\n1\tgood\n0\tbad\n1\t\"quoted\" text\n".to_vec(),
    ]
}

/// Labelled CSV files: `class,text` and AG News' quoted `class,title,description`.
pub fn labelled_csv_files() -> Vec<Vec<u8>> {
    [
        "\"3\",\"Wall St. Bears\",\"Short-sellers, Wall Street's dwindling band\"\n\
         \"4\",\"Space probe\",\"A probe \"\"lands\"\" safely\"\n\"1\",\"Talks\",\"Leaders meet\"\n",
        "1,good\n2,bad\n1,fine\n2,\"poor, really\"\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Plain corpora: lines, and documents separated by blank lines.
pub fn corpora() -> Vec<Vec<u8>> {
    [
        "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
        "= Heading =\n\n The tower is 300 m tall .\r\n\r\n@-@ odd tokens @,@ here\n",
        "\u{e9}t\u{e9} \u{263a}\n\t\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn tokenizer_corpus() -> Vec<String> {
    let lines = [
        "The quick brown fox jumps over the lazy dog.",
        "A lazy dog sleeps, and the quick fox runs!",
        "Brown foxes and lazy dogs are friends in the story.",
    ];
    (0..10)
        .flat_map(|_| lines.iter().map(|l| l.to_string()))
        .collect()
}

/// A saved tokenizer of every kind, trained on a tiny corpus.
pub fn tokenizer_files(dir: &Path) -> Vec<Vec<u8>> {
    let corpus = tokenizer_corpus();
    [
        TokenizerKind::Char,
        TokenizerKind::Wordpiece,
        TokenizerKind::Bpe,
    ]
    .into_iter()
    .map(|kind| {
        let tokenizer = TextTokenizer::train(kind, &corpus, 80).expect("training on the corpus");
        let path = dir.join(format!("{kind:?}.json"));
        tokenizer.save(&path).expect("saving the tokenizer");
        std::fs::read(&path).expect("reading the saved tokenizer")
    })
    .collect()
}

/// NPY files of several shapes, written by `write_npy`.
pub fn npy_files(dir: &Path) -> Vec<Vec<u8>> {
    let shapes: [&[usize]; 4] = [&[3, 2], &[5], &[2, 2, 2], &[]];
    shapes
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let count: usize = shape.iter().product();
            let data: Vec<f32> = (0..count).map(|v| v as f32 * 0.5 - 1.0).collect();
            let path = dir.join(format!("{i}.npy"));
            write_npy(&path, &data, shape).expect("writing the npy file");
            std::fs::read(&path).expect("reading the npy file")
        })
        .collect()
}

/// Three shipped recipes (image, series, text) and one with method overrides.
pub fn recipe_files() -> Vec<Vec<u8>> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    let mut files: Vec<Vec<u8>> = ["mnist-byol.toml", "ucr-ts-mask.toml", "sst2-mlm.toml"]
        .iter()
        .map(|name| std::fs::read(shipped.join(name)).expect("a shipped recipe"))
        .collect();
    files.push(
        b"method = \"simclr\"\nepochs = 2\nbatch_size = 64\nlr = 0.5\ntemperature = 0.2\n\
          [method_config]\nproj_dim = 32\n"
            .to_vec(),
    );
    files
}

/// A `config.toml` of each kind of run (image, series, text), written by their `save`.
pub fn run_config_files(dir: &Path) -> Vec<Vec<u8>> {
    let image = dir.join("image.toml");
    let digits = autodidact::data::ImageSet {
        channels: 1,
        height: 28,
        width: 28,
        pixels: vec![0; 28 * 28],
        labels: None,
        class_names: Vec::new(),
    };
    RunConfig::defaults(MethodKind::Simclr, "mnist".into(), &digits)
        .save(&image)
        .expect("saving the image run config");
    let ts = dir.join("x.ts");
    std::fs::write(&ts, &ts_files()[0]).expect("writing the series file");
    let train = read_ts(&ts).expect("a valid series file");
    let series = dir.join("series.toml");
    SeriesRunConfig::defaults(SeriesMethodKind::TsContrast, ts, &train)
        .save(&series)
        .expect("saving the series run config");
    let text = dir.join("text.toml");
    TextRunConfig::defaults(TextMethodKind::Mlm, "corpus.txt".into(), TokenizerKind::Bpe)
        .save(&text)
        .expect("saving the text run config");
    [image, series, text]
        .iter()
        .map(|p| std::fs::read(p).expect("reading a run config"))
        .collect()
}
