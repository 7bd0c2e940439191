//! Recall@K of cross-modal retrieval: a query is right at K when one of its relevant candidates
//! ranks among the K candidates most similar to it (for Flickr8k: an image is right when any of
//! its five captions is retrieved, a caption when its image is).

use serde::{Deserialize, Serialize};

/// Recall at 1, 5 and 10, as shares in `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recall {
    pub r1: f64,
    pub r5: f64,
    pub r10: f64,
}

/// Recall both ways between images and their partners.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Retrieval {
    /// Images as queries, partners (captions or recordings) as candidates.
    pub image_to_text: Recall,
    /// Partners as queries, images as candidates.
    pub text_to_image: Recall,
    pub images: usize,
    pub partners: usize,
}

/// The 0-based rank of the best-ranked relevant candidate of a query whose similarities to the
/// candidates are `scores`: how many candidates score strictly higher than it. `None` when
/// `relevant` is empty.
pub fn best_rank(scores: &[f32], relevant: &[usize]) -> Option<usize> {
    let best = relevant
        .iter()
        .map(|&c| scores[c])
        .fold(f32::NEG_INFINITY, f32::max);
    if relevant.is_empty() {
        return None;
    }
    Some(scores.iter().filter(|&&s| s > best).count())
}

/// Recall@1/5/10 of queries whose similarities to `candidates` candidates are the rows of
/// `similarity` (row-major `[queries, candidates]`), each with its `relevant` candidates.
/// Queries with no relevant candidate are skipped.
pub fn recall(similarity: &[f32], candidates: usize, relevant: &[Vec<usize>]) -> Recall {
    let ranks: Vec<usize> = relevant
        .iter()
        .enumerate()
        .filter_map(|(q, rel)| best_rank(&similarity[q * candidates..(q + 1) * candidates], rel))
        .collect();
    let n = ranks.len().max(1) as f64;
    let at = |k: usize| ranks.iter().filter(|&&r| r < k).count() as f64 / n;
    Recall {
        r1: at(1),
        r5: at(5),
        r10: at(10),
    }
}

/// Recall both ways from image and partner embeddings (unit rows, row-major, width `dim`) and
/// the pairs between them (`(image, partner)` indices into those rows).
pub fn retrieval(
    images: &[f32],
    partners: &[f32],
    dim: usize,
    pairs: &[(usize, usize)],
) -> Retrieval {
    let n_images = images.len() / dim;
    let n_partners = partners.len() / dim;
    let mut sim = vec![0.0f32; n_images * n_partners];
    for i in 0..n_images {
        let a = &images[i * dim..(i + 1) * dim];
        for p in 0..n_partners {
            let b = &partners[p * dim..(p + 1) * dim];
            sim[i * n_partners + p] = a.iter().zip(b).map(|(x, y)| x * y).sum();
        }
    }
    let mut transposed = vec![0.0f32; sim.len()];
    for i in 0..n_images {
        for p in 0..n_partners {
            transposed[p * n_images + i] = sim[i * n_partners + p];
        }
    }
    let mut partners_of = vec![Vec::new(); n_images];
    let mut images_of = vec![Vec::new(); n_partners];
    for &(i, p) in pairs {
        partners_of[i].push(p);
        images_of[p].push(i);
    }
    Retrieval {
        image_to_text: recall(&sim, n_partners, &partners_of),
        text_to_image: recall(&transposed, n_images, &images_of),
        images: n_images,
        partners: n_partners,
    }
}
