//! Inputs that claim far more than they hold, and decompression bombs: each must give the
//! expected error while allocating no more than its stated limit.

use std::io::{Read, Write};
use std::path::Path;

use autodidact::data::cache::{self, CacheKey};
use autodidact::data::folder::read_image_folder;
use autodidact::data::idx::read_idx_images;
use autodidact::data::image_file::MAX_IMAGE_FILE_BYTES;
use autodidact::data::{ImageFormat, load_images};
use autodidact::eval::npy::read_npy;
use autodidact::series::data::read_ts;
use autodidact::text::tokenizer::TextTokenizer;
use autodidact::train::recipe;
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::seeds;
use crate::targets::{MIB, message, write};
use crate::{problem, run_case};

/// Zeros in each decompression bomb.
const BOMB_BYTES: u64 = 256 << 20;

/// One crafted input and what reading it must give.
struct Explicit {
    name: &'static str,
    /// Bytes the read may allocate.
    limit: usize,
    /// A piece of the error the read must end in (`None`: any outcome but a panic).
    expected_error: Option<&'static str>,
    read: Box<dyn Fn() -> Result<(), String>>,
}

fn case(
    name: &'static str,
    limit: usize,
    expected_error: Option<&'static str>,
    read: impl Fn() -> Result<(), String> + 'static,
) -> Explicit {
    Explicit {
        name,
        limit,
        expected_error,
        read: Box::new(read),
    }
}

/// Runs every explicit case; returns a line per failure.
pub fn run_all(dir: &Path) -> Vec<String> {
    let start = std::time::Instant::now();
    let cases = all(dir);
    let setup_s = start.elapsed().as_secs_f64();
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let outcome = run_case(c.name, i as u64, &[], &c.read);
        println!(
            "explicit {:<44} peak {:>8.3} MiB (limit {:>6.1} MiB) in {:.2} s: {}",
            c.name,
            outcome.peak_bytes as f64 / MIB as f64,
            c.limit as f64 / MIB as f64,
            outcome.seconds,
            match &outcome.result {
                Ok(()) => "ok".to_string(),
                Err(e) => e.clone(),
            }
        );
        let wrong_outcome = match (&outcome.result, c.expected_error) {
            (Err(e), Some(expected)) if !e.contains(expected) => {
                Some(format!("error {e:?} does not mention {expected:?}"))
            }
            (Ok(()), Some(expected)) => Some(format!("read succeeded; expected {expected:?}")),
            _ => None,
        };
        if let Some(p) = problem(&outcome, c.limit).or(wrong_outcome) {
            failures.push(format!("explicit case {}: {p}", c.name));
        }
    }
    println!(
        "explicit cases: {} (inputs made in {setup_s:.1} s)",
        cases.len()
    );
    failures
}

fn all(dir: &Path) -> Vec<Explicit> {
    let mut cases = idx_claims(dir);
    cases.extend(bombs(dir));
    cases.extend(image_claims(dir));
    cases.extend(other_claims(dir));
    cases
}

/// An IDX image header for `n` images of `height x width` followed by `data_len` pixel bytes.
fn idx_header(n: u32, height: u32, width: u32) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 3];
    for d in [n, height, width] {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

fn idx_claims(dir: &Path) -> Vec<Explicit> {
    let mut claim = idx_header(u32::MAX, 28, 28);
    claim.extend_from_slice(&[7; 100]);
    let plain = dir.join("idx-claim");
    let gz = dir.join("idx-claim.gz");
    write(&plain, &claim);
    write(&gz, &seeds::gzip(&claim));
    vec![
        case(
            "idx header claims 2^32-1 images",
            MIB,
            Some("4294967295 images of 28x28"),
            move || message(read_idx_images(&plain)),
        ),
        case(
            "gzipped idx header claims 2^32-1 images",
            MIB,
            Some("4294967295 images of 28x28"),
            move || message(read_idx_images(&gz)),
        ),
    ]
}

/// `prefix` followed by `zeros` zero bytes, gzipped without holding the zeros in memory.
fn gzip_with_zeros(prefix: &[u8], zeros: u64) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(prefix).expect("writing to a Vec");
    std::io::copy(&mut std::io::repeat(0).take(zeros), &mut encoder).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

/// A `.tar.gz` whose one image member is `zeros` zero bytes.
fn tar_gz_bomb(zeros: u64) -> Vec<u8> {
    let encoder = GzEncoder::new(Vec::new(), Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    let mut header = tar::Header::new_gnu();
    header.set_size(zeros);
    header.set_mode(0o644);
    builder
        .append_data(
            &mut header,
            "train/zeros/bomb.png",
            std::io::repeat(0).take(zeros),
        )
        .expect("writing to a Vec");
    let encoder = builder.into_inner().expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

fn bombs(dir: &Path) -> Vec<Explicit> {
    let idx = dir.join("idx-bomb.gz");
    write(&idx, &gzip_with_zeros(&idx_header(10, 28, 28), BOMB_BYTES));
    let tar = dir.join("bomb.tar.gz");
    write(&tar, &tar_gz_bomb(MAX_IMAGE_FILE_BYTES + 1));
    vec![
        case(
            "gzipped idx of 10 images then 256 MiB of zeros",
            2 * MIB,
            Some("unexpected trailing bytes"),
            move || message(read_idx_images(&idx)),
        ),
        case(
            "tar.gz member of 256 MiB + 1 zeros",
            2 * MIB,
            Some("expected an image file of at most 268435456 bytes, found 268435457"),
            move || message(load_images(&tar, ImageFormat::Auto, None, None)),
        ),
    ]
}

/// The IEEE CRC-32 that PNG chunks end with.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let body: Vec<u8> = kind.iter().chain(data).copied().collect();
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// A PNG whose header says `width x height` (8-bit, `colour` type) over a few bytes of data.
fn png_claiming(width: u32, height: u32, colour: u8) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, colour, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    out.extend(png_chunk(b"IDAT", &seeds::gzip(&[0; 64])[10..]));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

/// A small valid JPEG whose frame header is changed to say `width x height`.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let image = image::DynamicImage::ImageRgb8(image::RgbImage::new(8, 8));
    let mut jpeg = seeds::encode(&image, image::ImageFormat::Jpeg);
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xff, 0xc0])
        .expect("a baseline JPEG has a SOF0 marker");
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

/// An image folder whose first image is `first`, beside one valid image.
fn folder_with_first(dir: &Path, name: &str, first: &[u8]) -> std::path::PathBuf {
    let root = dir.join(name);
    write(&root.join("a.png"), first);
    write(&root.join("b.png"), &seeds::image_files()[0]);
    root
}

fn image_claims(dir: &Path) -> Vec<Explicit> {
    let huge_png = folder_with_first(dir, "png-100000", &png_claiming(100_000, 100_000, 0));
    // Within the side limit, but 768 MiB of RGB pixels.
    let big_png = folder_with_first(dir, "png-16384-rgb", &png_claiming(16_384, 16_384, 2));
    let huge_jpeg = folder_with_first(dir, "jpeg-65500", &jpeg_claiming(65_500, 65_500));
    let limit = MIB;
    vec![
        case(
            "png header claims 100000x100000 pixels",
            limit,
            Some("100000x100000"),
            move || message(read_image_folder(&huge_png, None)),
        ),
        case(
            "png header claims 16384x16384 rgb pixels",
            limit,
            Some("16384x16384"),
            move || message(read_image_folder(&big_png, None)),
        ),
        case(
            "jpeg header claims 65500x65500 pixels",
            limit,
            Some("65500x65500"),
            move || message(read_image_folder(&huge_jpeg, None)),
        ),
    ]
}

/// An NPY v1.0 file whose header gives `shape` (a Python tuple's inside) over 16 data bytes.
fn npy_claiming(shape: &str) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({shape}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&[0; 16]);
    out
}

/// A saved WordPiece tokenizer whose `tokenizers` model pads every text to a billion tokens.
fn tokenizer_padding_to_a_billion(dir: &Path) -> std::path::PathBuf {
    let saved = &seeds::tokenizer_files(dir)[1];
    let mut json: serde_json::Value =
        serde_json::from_slice(saved).expect("a saved tokenizer is JSON");
    json["tokenizer"]["padding"] = serde_json::json!({
        "strategy": {"Fixed": 1_000_000_000},
        "direction": "Right",
        "pad_to_multiple_of": null,
        "pad_id": 0,
        "pad_type_id": 0,
        "pad_token": "[PAD]"
    });
    let path = dir.join("padded.json");
    write(&path, json.to_string().as_bytes());
    path
}

/// A cache folder holding, under `source`'s key, a file whose header claims 64 MiB of metadata.
fn cache_claiming_metadata(dir: &Path) -> (std::path::PathBuf, CacheKey) {
    let source = dir.join("cache-source");
    write(&source.join("a.png"), &seeds::image_files()[0]);
    let key = CacheKey::new(&source, ImageFormat::Folder, None).expect("a cache key");
    let cache_dir = dir.join("cache");
    let mut file = b"ADIDCACH".to_vec();
    file.extend_from_slice(&1u32.to_le_bytes());
    file.extend_from_slice(&(64u32 << 20).to_le_bytes());
    file.extend_from_slice(b"{}");
    write(&cache_dir.join(key.file_name()), &file);
    (cache_dir, key)
}

fn other_claims(dir: &Path) -> Vec<Explicit> {
    let npy_overflow = dir.join("overflow.npy");
    write(
        &npy_overflow,
        &npy_claiming("4294967295, 4294967295, 4294967295"),
    );
    let npy_huge = dir.join("huge.npy");
    write(&npy_huge, &npy_claiming("1000000000, 1000"));
    let ts = dir.join("absurd.ts");
    write(
        &ts,
        b"@univariate true\n@dimensions 4294967295\n@equalLength true\n\
          @seriesLength 18446744073709551615\n@classLabel true a\n@data\n1,2,3:a\n",
    );
    let tokenizer_dir = dir.join("tokenizer");
    std::fs::create_dir_all(&tokenizer_dir).expect("creating the tokenizer folder");
    let padded = tokenizer_padding_to_a_billion(&tokenizer_dir);
    let nested = dir.join("nested.toml");
    write(
        &nested,
        format!("method = \"simclr\"\nx = {}", "[".repeat(100_000)).as_bytes(),
    );
    let (cache_dir, key) = cache_claiming_metadata(dir);
    vec![
        case(
            "image cache header claims 64 MiB of metadata",
            MIB,
            None,
            move || {
                // A damaged cache entry is ignored: the data is decoded again.
                cache::load(&cache_dir, &key);
                Ok(())
            },
        ),
        case(
            "npy header shape overflows",
            MIB,
            Some("overflows"),
            move || message(read_npy(&npy_overflow)),
        ),
        case(
            "npy header claims 10^12 values",
            MIB,
            Some("needs 4000000000000 data bytes, found 16"),
            move || message(read_npy(&npy_huge)),
        ),
        case(
            ".ts header claims 2^32-1 channels of 2^64-1 values",
            MIB,
            Some("expected 4294967295 channels"),
            move || message(read_ts(&ts)),
        ),
        case(
            "tokenizer pads every text to 10^9 tokens",
            16 * MIB,
            Some("padding"),
            move || {
                let tokenizer = TextTokenizer::load(&padded).map_err(|e| format!("{e:#}"))?;
                tokenizer.encode("a text");
                Ok(())
            },
        ),
        case(
            "recipe nests 100000 arrays",
            16 * MIB,
            Some("invalid recipe"),
            move || message(recipe::Recipe::load(&nested)),
        ),
    ]
}
