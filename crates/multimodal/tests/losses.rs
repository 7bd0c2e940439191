//! The two losses against values computed by hand, the temperature clamp, and Recall@K against a
//! brute-force count.

use autodidact_multimodal::methods::clip::{clamped_scale, clip_loss};
use autodidact_multimodal::methods::siglip::siglip_loss;
use autodidact_multimodal::retrieval::{recall, retrieval};
use burn::prelude::*;

fn unit(rows: &[[f32; 2]]) -> Tensor<2> {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), 2]), &Device::flex())
}

fn scalar(v: f32) -> Tensor<1> {
    Tensor::from_floats([v], &Device::flex())
}

#[test]
fn clip_loss_is_the_mean_of_both_cross_entropies() {
    // Images e1, e2; partners e1 and (0.6, 0.8). Similarities [[1, 0.6], [0, 0.8]], scale 10.
    let images = unit(&[[1.0, 0.0], [0.0, 1.0]]);
    let partners = unit(&[[1.0, 0.0], [0.6, 0.8]]);
    let loss = clip_loss(images, partners, scalar(10.0)).into_scalar::<f32>() as f64;
    // Rows: -log softmax([10, 6])[0] and -log softmax([0, 8])[1].
    let ce = |logits: [f64; 2], right: usize| {
        let z: f64 = logits.iter().map(|l| l.exp()).sum();
        z.ln() - logits[right]
    };
    let rows = (ce([10.0, 6.0], 0) + ce([0.0, 8.0], 1)) / 2.0;
    // Columns: partner 1 against images [10, 0], partner 2 against [6, 8].
    let cols = (ce([10.0, 0.0], 0) + ce([6.0, 8.0], 1)) / 2.0;
    let expected = (rows + cols) / 2.0;
    assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
}

#[test]
fn siglip_loss_sums_every_pairs_log_sigmoid_over_the_batch_size() {
    let images = unit(&[[1.0, 0.0], [0.0, 1.0]]);
    let partners = unit(&[[1.0, 0.0], [0.6, 0.8]]);
    let (t, b) = (10.0f64, -10.0f64);
    let loss = siglip_loss(images, partners, scalar(t as f32), scalar(b as f32))
        .into_scalar::<f32>() as f64;
    let log_sigmoid = |x: f64| -(1.0 + (-x).exp()).ln();
    let sims = [[1.0, 0.6], [0.0, 0.8]];
    let mut total = 0.0;
    for (i, row) in sims.iter().enumerate() {
        for (j, s) in row.iter().enumerate() {
            let sign = if i == j { 1.0 } else { -1.0 };
            total -= log_sigmoid(sign * (t * s + b));
        }
    }
    let expected = total / 2.0;
    assert!((loss - expected).abs() < 1e-4, "{loss} vs {expected}");
}

#[test]
fn the_clip_scale_never_passes_its_clamp() {
    let at = |log_scale: f32| clamped_scale(scalar(log_scale), 100.0).into_scalar::<f32>();
    assert!((at((1.0f32 / 0.07).ln()) - 1.0 / 0.07).abs() < 1e-3);
    assert!((at(10.0) - 100.0).abs() < 1e-3, "{}", at(10.0));
    assert!((at(100.0f32.ln()) - 100.0).abs() < 1e-3);
}

#[test]
fn recall_at_k_is_the_brute_force_count() {
    // 3 queries over 12 candidates; query q's similarity to candidate c is known.
    let candidates = 12;
    let mut sim = vec![0.0f32; 3 * candidates];
    for c in 0..candidates {
        sim[c] = c as f32; // query 0: candidate 11 first, 0 last
        sim[candidates + c] = -(c as f32); // query 1: candidate 0 first
        sim[2 * candidates + c] = ((c * 7) % 12) as f32; // query 2: a permutation
    }
    let relevant = vec![vec![11], vec![5, 9], vec![0]];
    // Ranks: query 0 -> 0; query 1 -> candidate 5 is 6th (rank 5); query 2 -> score 0 is last (rank 11).
    let r = recall(&sim, candidates, &relevant);
    assert_eq!((r.r1, r.r5, r.r10), (1.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0));
    // The same by brute force: sort each row and find the first relevant position.
    for k in [1usize, 5, 10] {
        let hits = relevant
            .iter()
            .enumerate()
            .filter(|(q, rel)| {
                let row = &sim[q * candidates..(q + 1) * candidates];
                let mut order: Vec<usize> = (0..candidates).collect();
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                order[..k].iter().any(|c| rel.contains(c))
            })
            .count() as f64
            / 3.0;
        let got = match k {
            1 => r.r1,
            5 => r.r5,
            _ => r.r10,
        };
        assert_eq!(got, hits, "R@{k}");
    }
}

#[test]
fn an_image_is_right_when_any_of_its_captions_is_retrieved() {
    // Two images, four captions: image 0 owns captions 0 and 1, image 1 owns 2 and 3.
    let images = [1.0f32, 0.0, 0.0, 1.0];
    let captions = [0.0f32, 1.0, 1.0, 0.0, 0.0, 1.0, 0.6, 0.8];
    let pairs = [(0, 0), (0, 1), (1, 2), (1, 3)];
    let r = retrieval(&images, &captions, 2, &pairs);
    // Image 0's best caption is 1 (its own): R@1 = 1 for both images.
    assert_eq!(r.image_to_text.r1, 1.0);
    // Caption 0 (0, 1) is nearer image 1: one of four captions misses at R@1.
    assert_eq!(r.text_to_image.r1, 0.75);
    assert_eq!(r.text_to_image.r5, 1.0);
    assert_eq!((r.images, r.partners), (2, 4));
}
