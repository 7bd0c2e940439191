//! What a trained pair of towers is measured by: Recall@K on the test pairs, zero-shot
//! classification of labelled images by the nearest class embedding (a caption prompt per class,
//! or recordings of each class), and the embeddings both read.

use anyhow::bail;
use burn::prelude::*;

use crate::batch::{PreparedPartners, images_tensor, plain_images};
use crate::data::PairData;
use crate::pairs::Split;
use crate::retrieval::{Retrieval, retrieval};
use crate::towers::Towers;
use autodidact_core::method::device_of;
use autodidact_text::tokenizer::TextTokenizer;
use autodidact_vision::data::ImageSet;

/// Images or partners embedded per forward pass.
const EMBED_BATCH: usize = 256;

/// Unit embeddings of the images at `indices`, resized to `size`, row-major `[N, D]`.
pub fn embed_images(towers: &Towers, set: &ImageSet, indices: &[usize], size: usize) -> Vec<f32> {
    let towers = towers.valid();
    let device = device_of(&towers);
    let mut out = Vec::with_capacity(indices.len() * towers.embed_dim());
    for chunk in indices.chunks(EMBED_BATCH) {
        let (values, shape) = plain_images(set, chunk, size);
        let z = towers.embed_images(images_tensor(values, shape, &device));
        out.extend(z.into_data().iter::<f32>());
    }
    out
}

/// Unit embeddings of the partners at `indices`, row-major `[N, D]`.
pub fn embed_partners(towers: &Towers, partners: &PreparedPartners, indices: &[usize]) -> Vec<f32> {
    let towers = towers.valid();
    let device = device_of(&towers);
    let mut out = Vec::with_capacity(indices.len() * towers.embed_dim());
    for chunk in indices.chunks(EMBED_BATCH) {
        let z = towers.embed_partners(&partners.batch(chunk), &device, false);
        out.extend(z.into_data().iter::<f32>());
    }
    out
}

/// Recall@1/5/10 both ways between `split`'s images (read at `size`) and partners.
pub fn evaluate_retrieval(
    towers: &Towers,
    data: &PairData,
    partners: &PreparedPartners,
    split: Split,
    size: usize,
) -> anyhow::Result<Retrieval> {
    let images = data.images_in(split);
    let others = data.partners_in(split);
    if images.is_empty() || others.is_empty() {
        bail!(
            "{}: no {split:?} pairs to retrieve among (a split column or split file names them)",
            data.layout.pairs.display()
        );
    }
    let mut image_row = vec![usize::MAX; data.images.len()];
    for (row, &i) in images.iter().enumerate() {
        image_row[i] = row;
    }
    let mut partner_row = vec![usize::MAX; data.partners.len()];
    for (row, &p) in others.iter().enumerate() {
        partner_row[p] = row;
    }
    let pairs: Vec<(usize, usize)> = data
        .pairs
        .iter()
        .filter(|&&(i, p)| image_row[i] != usize::MAX && partner_row[p] != usize::MAX)
        .map(|&(i, p)| (image_row[i], partner_row[p]))
        .collect();
    let zi = embed_images(towers, &data.images, &images, size);
    let zp = embed_partners(towers, partners, &others);
    Ok(retrieval(&zi, &zp, towers.embed_dim(), &pairs))
}

/// The prompt of class `label` from `template` (`{label}` replaced; `_` in a class name read as a
/// space).
pub fn prompt_for(template: &str, label: &str) -> String {
    template.replace("{label}", &label.replace('_', " "))
}

/// Unit class embeddings `[K, D]` from one prompt per class name.
pub fn prompt_embeddings(
    towers: &Towers,
    tokenizer: &TextTokenizer,
    template: &str,
    class_names: &[String],
    max_len: usize,
) -> Vec<f32> {
    let prompts: Vec<String> = class_names
        .iter()
        .map(|c| prompt_for(template, c))
        .collect();
    let prepared = PreparedPartners::captions(&prompts, tokenizer, max_len);
    let all: Vec<usize> = (0..class_names.len()).collect();
    embed_partners(towers, &prepared, &all)
}

/// Unit class embeddings `[K, D]`: the normalised mean embedding of each class's clips.
pub fn audio_class_embeddings(
    towers: &Towers,
    clips: &[Vec<f32>],
    labels: &[u32],
    classes: usize,
    rate: u32,
) -> anyhow::Result<Vec<f32>> {
    let prepared = PreparedPartners::clips(clips, rate);
    let all: Vec<usize> = (0..clips.len()).collect();
    let z = embed_partners(towers, &prepared, &all);
    let d = towers.embed_dim();
    let mut out = vec![0.0f32; classes * d];
    for (row, &label) in labels.iter().enumerate() {
        for (o, v) in out[label as usize * d..][..d]
            .iter_mut()
            .zip(&z[row * d..][..d])
        {
            *o += v;
        }
    }
    for (k, class) in out.chunks_mut(d).enumerate() {
        let norm = class.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm == 0.0 {
            bail!("class {k} has no recording to embed");
        }
        class.iter_mut().for_each(|v| *v /= norm);
    }
    Ok(out)
}

/// Zero-shot accuracy: the share of `images` (labelled) whose embedding is nearest to the class
/// embedding of their own label (`classes`, row-major `[K, D]`), and the predictions.
pub fn zero_shot(
    towers: &Towers,
    images: &ImageSet,
    size: usize,
    classes: &[f32],
) -> anyhow::Result<(f64, Vec<u32>)> {
    let Some(labels) = &images.labels else {
        bail!("zero-shot classification needs labelled images");
    };
    let d = towers.embed_dim();
    let all: Vec<usize> = (0..images.len()).collect();
    let z = embed_images(towers, images, &all, size);
    let predictions: Vec<u32> = z
        .chunks(d)
        .map(|row| {
            classes
                .chunks(d)
                .map(|c| c.iter().zip(row).map(|(a, b)| a * b).sum::<f32>())
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (k, s)| {
                    if s > best.1 { (k, s) } else { best }
                })
                .0 as u32
        })
        .collect();
    let right = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    Ok((right as f64 / labels.len().max(1) as f64, predictions))
}

/// The partner encoder's own features (before the projection, as a tower's probe reads them)
/// of the partners at `indices`, row-major `[N, out_dim]`.
pub fn partner_features(
    towers: &Towers,
    partners: &PreparedPartners,
    indices: &[usize],
) -> Vec<f32> {
    let towers = towers.valid();
    let device = device_of(&towers);
    let mut out = Vec::with_capacity(indices.len() * towers.partner.out_dim());
    for chunk in indices.chunks(EMBED_BATCH) {
        let z = towers
            .partner
            .forward(&partners.batch(chunk), &device, false);
        out.extend(z.into_data().iter::<f32>());
    }
    out
}
