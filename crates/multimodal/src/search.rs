//! Search across the modalities: the images nearest to a caption query (with a contact sheet of
//! them), and the captions nearest to an image.

use std::path::Path;

use image::{RgbImage, imageops};

use crate::batch::PreparedPartners;
use crate::eval::{embed_images, embed_partners};
use crate::towers::Towers;
use autodidact_core::train::checkpoint::write_atomic;
use autodidact_text::tokenizer::TextTokenizer;
use autodidact_vision::data::ImageSet;

/// The `k` rows of `candidates` (unit rows of width `dim`) most similar to `query`, best first,
/// with their cosine similarity.
pub fn nearest(query: &[f32], candidates: &[f32], dim: usize, k: usize) -> Vec<(usize, f32)> {
    let mut scored: Vec<(usize, f32)> = candidates
        .chunks(dim)
        .map(|c| c.iter().zip(query).map(|(a, b)| a * b).sum::<f32>())
        .enumerate()
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

/// The images of `images` nearest to the caption `query`.
pub fn images_for_text(
    towers: &Towers,
    tokenizer: &TextTokenizer,
    max_len: usize,
    query: &str,
    images: &ImageSet,
    size: usize,
    k: usize,
) -> Vec<(usize, f32)> {
    let prepared = PreparedPartners::captions(&[query.to_string()], tokenizer, max_len);
    let q = embed_partners(towers, &prepared, &[0]);
    let all: Vec<usize> = (0..images.len()).collect();
    let z = embed_images(towers, images, &all, size);
    nearest(&q, &z, towers.embed_dim(), k)
}

/// The captions of `captions` nearest to the image `image` (one image, any size).
pub fn texts_for_image(
    towers: &Towers,
    tokenizer: &TextTokenizer,
    max_len: usize,
    image: &ImageSet,
    size: usize,
    captions: &[String],
    k: usize,
) -> Vec<(usize, f32)> {
    let q = embed_images(towers, image, &[0], size);
    let prepared = PreparedPartners::captions(captions, tokenizer, max_len);
    let all: Vec<usize> = (0..captions.len()).collect();
    let z = embed_partners(towers, &prepared, &all);
    nearest(&q, &z, towers.embed_dim(), k)
}

/// Side of a contact sheet's cell in pixels.
const CELL: u32 = 128;
/// Gap between cells.
const GAP: u32 = 4;

/// Writes the images at `indices` of `set` as a PNG grid, four to a row, best first, each
/// enlarged to a 128-pixel cell.
pub fn contact_sheet(set: &ImageSet, indices: &[usize], path: &Path) -> anyhow::Result<()> {
    let cols = indices.len().clamp(1, 4) as u32;
    let rows = indices.len().div_ceil(4).max(1) as u32;
    let mut sheet = RgbImage::from_pixel(
        cols * (CELL + GAP) + GAP,
        rows * (CELL + GAP) + GAP,
        image::Rgb([255, 255, 255]),
    );
    let (h, w) = (set.height, set.width);
    let plane = h * w;
    for (n, &i) in indices.iter().enumerate() {
        let pixels = set.image(i);
        let tile = RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let at = y as usize * w + x as usize;
            let channel = |c: usize| pixels[(c % set.channels) * plane + at];
            image::Rgb([channel(0), channel(1), channel(2)])
        });
        let tile = imageops::resize(&tile, CELL, CELL, imageops::FilterType::Triangle);
        let (col, row) = (n as u32 % 4, n as u32 / 4);
        imageops::replace(
            &mut sheet,
            &tile,
            (GAP + col * (CELL + GAP)) as i64,
            (GAP + row * (CELL + GAP)) as i64,
        );
    }
    let mut bytes = Vec::new();
    sheet.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )?;
    write_atomic(path, &bytes)
}
