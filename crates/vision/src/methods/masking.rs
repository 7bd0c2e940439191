//! The masks of the masked-modelling methods, drawn on the host from a seed (so a step's masks are
//! a pure function of the run's seed and the step): MAE's random patch subsets and inpainting's
//! rectangles.

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::encoders::EncoderKind;
use autodidact_core::train::seed::mix;

/// Why `--method <method>`, which hides patches, cannot cut `size`-pixel images into the ViT's
/// `vit_patch`-pixel patches (`size` 0: not read yet); `None` for the CNNs, which have none.
pub fn vit_patches_tile(
    method: &str,
    encoder: EncoderKind,
    vit_patch: usize,
    size: usize,
) -> Option<String> {
    (encoder == EncoderKind::Vit && size > 0 && !size.is_multiple_of(vit_patch)).then(|| {
        format!(
            "--encoder vit needs images whose side is a multiple of its {vit_patch}-pixel \
             patch for --method {method}; these are {size}x{size}"
        )
    })
}

/// Which patches of each sample an MAE encoder sees.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchMask {
    /// Patches per sample.
    pub n: usize,
    /// Visible patches per sample (the first `keep` of each shuffle).
    pub keep: usize,
    /// Per sample, a permutation of `0..n`: visible patches first, in random order.
    pub shuffle: Vec<Vec<usize>>,
}

impl PatchMask {
    /// For each of `batch` samples hides `round(ratio * n)` of `n` patches, chosen uniformly at
    /// random (at least one patch stays visible).
    pub fn random(batch: usize, n: usize, ratio: f64, seed: u64) -> Self {
        let hidden = ((ratio.clamp(0.0, 1.0) * n as f64).round() as usize).min(n.saturating_sub(1));
        let shuffle = (0..batch)
            .map(|i| {
                let mut rng = StdRng::seed_from_u64(mix(seed, i as u64));
                let mut ids: Vec<usize> = (0..n).collect();
                ids.shuffle(&mut rng);
                ids
            })
            .collect();
        Self {
            n,
            keep: n - hidden,
            shuffle,
        }
    }

    pub fn batch(&self) -> usize {
        self.shuffle.len()
    }

    /// `[B, n]`, 1 where a patch is hidden.
    pub fn hidden(&self) -> Vec<f32> {
        let mut out = vec![1.0; self.batch() * self.n];
        for (i, ids) in self.shuffle.iter().enumerate() {
            for &p in &ids[..self.keep] {
                out[i * self.n + p] = 0.0;
            }
        }
        out
    }

    /// The visible tokens `[B, keep, D]` of `tokens` `[B, n, D]`, in shuffle order.
    pub fn visible(&self, tokens: Tensor<3>) -> Tensor<3> {
        let rows = self
            .shuffle
            .iter()
            .enumerate()
            .flat_map(|(i, ids)| ids[..self.keep].iter().map(move |&p| i * self.n + p));
        select_rows(tokens, rows, self.keep)
    }

    /// `[B, n, D]` in patch order from `shuffled` `[B, n, D]` in shuffle order (the visible
    /// tokens first, then one per hidden patch).
    pub fn restore(&self, shuffled: Tensor<3>) -> Tensor<3> {
        let rows = self.shuffle.iter().enumerate().flat_map(|(i, ids)| {
            let mut slot = vec![0; self.n];
            for (j, &p) in ids.iter().enumerate() {
                slot[p] = j;
            }
            slot.into_iter().map(move |j| i * self.n + j)
        });
        select_rows(shuffled, rows, self.n)
    }
}

/// `[B, per_sample, D]` made of the rows `rows` (indices into `[B * n]`) of `x` `[B, n, D]`:
/// whole rows copied, where a gather along dimension 1 indexes every value.
fn select_rows(x: Tensor<3>, rows: impl Iterator<Item = usize>, per_sample: usize) -> Tensor<3> {
    let [b, n, d] = x.dims();
    let device = x.device();
    let rows: Vec<i64> = rows.map(|r| r as i64).collect();
    let count = rows.len();
    let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [count]), &device);
    x.reshape([b * n, d])
        .select(0, rows)
        .reshape([b, per_sample, d])
}

/// Inpainting's mask: `[B, 1, rows, cols]`, 1 on hidden pixels. Each sample gets 1 to 3
/// rectangles (aspect ratio 1/2 to 2) whose areas add up to a fraction of the image drawn from
/// `[0.25, 0.5]`; overlaps make the hidden share somewhat smaller.
pub fn box_mask(batch: usize, rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut out = vec![0.0; batch * rows * cols];
    for i in 0..batch {
        let mut rng = StdRng::seed_from_u64(mix(seed, i as u64));
        let boxes = rng.random_range(1..=3usize);
        let coverage: f64 = rng.random_range(0.25..0.5);
        for _ in 0..boxes {
            let area = coverage / boxes as f64 * (rows * cols) as f64;
            let ratio = (rng.random_range(-1.0f64..1.0) * std::f64::consts::LN_2).exp();
            let h = ((area / ratio).sqrt().round() as usize).clamp(1, rows.max(1));
            let w = ((area * ratio).sqrt().round() as usize).clamp(1, cols.max(1));
            let y0 = rng.random_range(0..=rows.saturating_sub(h));
            let x0 = rng.random_range(0..=cols.saturating_sub(w));
            for y in y0..(y0 + h).min(rows) {
                let row = (i * rows + y) * cols;
                out[row + x0..row + x0 + w].fill(1.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_masks_hide_exactly_the_ratio_per_sample_and_depend_on_the_seed() {
        for (n, ratio) in [(49, 0.75), (64, 0.75), (16, 0.75), (49, 0.5)] {
            let mask = PatchMask::random(8, n, ratio, 3);
            let hidden = mask.hidden();
            let want = (ratio * n as f64).round() as usize;
            for i in 0..8 {
                let count = hidden[i * n..(i + 1) * n]
                    .iter()
                    .filter(|&&h| h == 1.0)
                    .count();
                assert_eq!(count, want, "n {n} ratio {ratio} sample {i}");
            }
            assert_eq!(mask.keep, n - want);
            // Samples get different masks; the same seed gives the same masks.
            assert_ne!(hidden[..n], hidden[n..2 * n]);
            assert_eq!(mask, PatchMask::random(8, n, ratio, 3));
            assert_ne!(mask, PatchMask::random(8, n, ratio, 4));
        }
        assert_eq!(PatchMask::random(2, 4, 1.0, 0).keep, 1);
    }

    #[test]
    fn restore_indices_undo_the_shuffle() {
        let device = Device::flex();
        let mask = PatchMask::random(2, 6, 0.5, 1);
        // Token p of sample i carries the value 10 * i + p.
        let tokens: Vec<f32> = (0..2)
            .flat_map(|i| (0..6).map(move |p| (10 * i + p) as f32))
            .collect();
        let t = Tensor::<3>::from_data(TensorData::new(tokens.clone(), [2, 6, 1]), &device);
        let visible = mask.visible(t.clone());
        assert_eq!(visible.dims(), [2, 3, 1]);
        let want: Vec<f32> = (0..2)
            .flat_map(|i| {
                mask.shuffle[i][..3]
                    .iter()
                    .map(move |&p| (10 * i + p) as f32)
            })
            .collect();
        assert_eq!(
            visible.clone().into_data().try_to_vec::<f32>().unwrap(),
            want
        );
        // Shuffled order: the visible tokens, then the hidden ones in shuffle order.
        let hidden_part = t.gather(1, {
            let v: Vec<i64> = mask
                .shuffle
                .iter()
                .flat_map(|ids| ids[3..].iter().map(|&p| p as i64))
                .collect();
            Tensor::from_data(TensorData::new(v, [2, 3, 1]), &device)
        });
        let shuffled = Tensor::cat(vec![visible, hidden_part], 1);
        let back = mask.restore(shuffled);
        assert_eq!(back.into_data().try_to_vec::<f32>().unwrap(), tokens);
    }

    #[test]
    fn box_masks_cover_a_quarter_to_a_half() {
        let (b, s) = (64, 28);
        let mask = box_mask(b, s, s, 5);
        for i in 0..b {
            let hidden = mask[i * s * s..(i + 1) * s * s].iter().sum::<f32>() / (s * s) as f32;
            assert!((0.08..=0.6).contains(&hidden), "sample {i}: {hidden}");
        }
        let mean = mask.iter().sum::<f32>() / mask.len() as f32;
        assert!((0.2..0.45).contains(&mean), "mean hidden share {mean}");
        assert_eq!(mask, box_mask(b, s, s, 5));
        assert_ne!(mask, box_mask(b, s, s, 6));
        assert_eq!(box_mask(2, 20, 30, 1).len(), 2 * 20 * 30);
    }
}
