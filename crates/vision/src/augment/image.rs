//! SimCLR's and BYOL's augmentations on `u8` `C x H x W` images: random resized crop, flip,
//! colour jitter, grayscale, blur and solarisation, then normalisation to `f32` `C x S x S`.

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::colour::{
    adjust_brightness, adjust_contrast, adjust_saturation, rotate_hue, solarize, to_grayscale,
};
use crate::data::ImageSet;
use autodidact_core::train::seed::mix;

/// Per-channel mean subtracted after scaling pixels to `[0, 1]`.
pub const NORM_MEAN: f32 = 0.5;
/// Per-channel divisor after subtracting the mean: `[0, 255]` maps onto `[-2, 2]`.
pub const NORM_STD: f32 = 0.25;

/// One augmentation pipeline: which transforms run, how often and how strongly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// Side of the square output image.
    pub out_size: usize,
    /// Range of the crop's area as a fraction of the image's; a lower bound `>= 1` means "whole image".
    pub crop_scale: (f32, f32),
    /// Range of the crop's width / height, sampled log-uniformly.
    pub crop_ratio: (f32, f32),
    /// Probability of a horizontal flip.
    pub flip_prob: f32,
    /// Probability of applying colour jitter (all four parts, in random order).
    pub jitter_prob: f32,
    /// Brightness factor drawn from `[max(0, 1 - b), 1 + b]`.
    pub brightness: f32,
    /// Contrast factor drawn from `[max(0, 1 - c), 1 + c]`.
    pub contrast: f32,
    /// Saturation factor drawn from `[max(0, 1 - s), 1 + s]` (3 channels only).
    pub saturation: f32,
    /// Hue shift drawn from `[-h, h]` in turns (`h <= 0.5`; 3 channels only).
    pub hue: f32,
    /// Probability of converting to grayscale (3 channels only).
    pub grayscale_prob: f32,
    /// Probability of a Gaussian blur; its kernel is ~10% of `out_size` (see [`AugmentConfig::blur_radius`]).
    pub blur_prob: f32,
    /// Range of the blur's standard deviation in pixels.
    pub blur_sigma: (f32, f32),
    /// Probability of solarising (inverting values at or above mid-gray), after the blur.
    #[serde(default)]
    pub solarize_prob: f32,
}

/// A field of an [`AugmentConfig`] outside its valid range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("augmentation config: {field}: {message}")]
pub struct AugmentConfigError {
    pub field: &'static str,
    pub message: String,
}

impl AugmentConfig {
    /// SimCLR's augmentation set: the CIFAR recipe for colour images, a digit-safe variant for one channel.
    pub fn simclr(channels: usize, size: usize) -> Self {
        if channels == 1 {
            Self {
                out_size: size,
                // Below ~40% of the area a digit loses the strokes that identify it.
                crop_scale: (0.4, 1.0),
                // SimCLR's aspect range: mild stretching keeps digits readable.
                crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
                // Digits are not mirror-symmetric: a flipped 2 or 7 is not a 2 or 7.
                flip_prob: 0.0,
                // SimCLR's jitter probability.
                jitter_prob: 0.8,
                // SimCLR's strength 0.5 gives 0.4 for brightness and contrast.
                brightness: 0.4,
                contrast: 0.4,
                // Saturation and hue do not exist for one channel.
                saturation: 0.0,
                hue: 0.0,
                // The image is already gray.
                grayscale_prob: 0.0,
                // SimCLR's blur probability and sigma range.
                blur_prob: 0.5,
                blur_sigma: (0.1, 2.0),
                solarize_prob: 0.0,
            }
        } else {
            Self {
                out_size: size,
                // SimCLR / torchvision RandomResizedCrop defaults.
                crop_scale: (0.08, 1.0),
                crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
                // Natural images are (statistically) mirror-symmetric.
                flip_prob: 0.5,
                // SimCLR's CIFAR colour jitter: strength 0.5 -> (0.4, 0.4, 0.4, 0.1), applied with p = 0.8.
                jitter_prob: 0.8,
                brightness: 0.4,
                contrast: 0.4,
                saturation: 0.4,
                hue: 0.1,
                // SimCLR's random grayscale probability.
                grayscale_prob: 0.2,
                // SimCLR's blur: p = 0.5, sigma in [0.1, 2.0], kernel 10% of the image side.
                blur_prob: 0.5,
                blur_sigma: (0.1, 2.0),
                solarize_prob: 0.0,
            }
        }
    }

    /// No augmentation: the whole image, resized to `size` if it differs, then normalised.
    pub fn identity(size: usize) -> Self {
        Self {
            out_size: size,
            crop_scale: (1.0, 1.0),
            crop_ratio: (1.0, 1.0),
            flip_prob: 0.0,
            jitter_prob: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
            hue: 0.0,
            grayscale_prob: 0.0,
            blur_prob: 0.0,
            blur_sigma: (0.1, 2.0),
            solarize_prob: 0.0,
        }
    }

    /// BYOL's asymmetric pair (also used by MoCo v3, Barlow Twins and VICReg): SimCLR's crop,
    /// flip and grayscale, colour jitter with saturation 0.2; the first view always blurred, the
    /// second blurred with p = 0.1 and solarised with p = 0.2. One channel keeps the digit-safe
    /// crop and no flip of [`AugmentConfig::simclr`].
    pub fn byol_pair(channels: usize, size: usize) -> [Self; 2] {
        let base = Self::simclr(channels, size);
        let base = if channels == 1 {
            base
        } else {
            Self {
                saturation: 0.2,
                ..base
            }
        };
        [
            Self {
                blur_prob: 1.0,
                solarize_prob: 0.0,
                ..base.clone()
            },
            Self {
                blur_prob: 0.1,
                solarize_prob: 0.2,
                ..base
            },
        ]
    }

    /// MAE's light augmentation (also used by inpainting): a random resized crop of 20-100% of
    /// the area and a flip for colour images; for one channel the digit-safe crop of
    /// [`AugmentConfig::simclr`] and no flip. No colour changes: the target is the pixels.
    pub fn masked_modelling(channels: usize, size: usize) -> Self {
        let crop_scale = if channels == 1 {
            (0.4, 1.0)
        } else {
            (0.2, 1.0)
        };
        Self {
            crop_scale,
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip_prob: if channels == 1 { 0.0 } else { 0.5 },
            ..Self::identity(size)
        }
    }

    /// Half-width of the blur kernel: SimCLR's kernel `int(0.1 * size)` made odd, at least 3 wide.
    pub fn blur_radius(&self) -> usize {
        (self.out_size / 10 / 2).max(1)
    }

    /// Checks every field's range, so a config read from a file fails with a message instead of NaNs.
    pub fn validate(&self) -> Result<(), AugmentConfigError> {
        let err = |field: &'static str, message: String| Err(AugmentConfigError { field, message });
        if self.out_size == 0 {
            return err("out_size", "must be at least 1".into());
        }
        let (lo, hi) = self.crop_scale;
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            return err(
                "crop_scale",
                format!("expected 0 < lo <= hi <= 1, found ({lo}, {hi})"),
            );
        }
        let (lo, hi) = self.crop_ratio;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return err(
                "crop_ratio",
                format!("expected 0 < lo <= hi, found ({lo}, {hi})"),
            );
        }
        for (field, p) in [
            ("flip_prob", self.flip_prob),
            ("jitter_prob", self.jitter_prob),
            ("grayscale_prob", self.grayscale_prob),
            ("blur_prob", self.blur_prob),
            ("solarize_prob", self.solarize_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return err(
                    field,
                    format!("expected a probability in [0, 1], found {p}"),
                );
            }
        }
        for (field, s) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
        ] {
            if !(s >= 0.0 && s.is_finite()) {
                return err(field, format!("expected a finite strength >= 0, found {s}"));
            }
        }
        if !(0.0..=0.5).contains(&self.hue) {
            return err(
                "hue",
                format!("expected a value in [0, 0.5], found {}", self.hue),
            );
        }
        let (lo, hi) = self.blur_sigma;
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return err(
                "blur_sigma",
                format!("expected 0 < lo <= hi, found ({lo}, {hi})"),
            );
        }
        Ok(())
    }
}

/// A crop rectangle in source pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

impl CropBox {
    /// The whole `h x w` image.
    pub fn whole(h: usize, w: usize) -> Self {
        Self {
            top: 0,
            left: 0,
            height: h,
            width: w,
        }
    }
}

/// torchvision's `RandomResizedCrop.get_params`: 10 tries at a random area and log-uniform aspect
/// ratio, then a central crop clamped to the ratio range.
pub fn sample_crop(
    h: usize,
    w: usize,
    scale: (f32, f32),
    ratio: (f32, f32),
    rng: &mut impl Rng,
) -> CropBox {
    if h == 0 || w == 0 {
        return CropBox::whole(h, w);
    }
    let area = (h * w) as f32;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * uniform(rng, scale.0, scale.1);
        let aspect = uniform(rng, log_lo, log_hi).exp();
        let cw = (target * aspect).sqrt().round();
        let ch = (target / aspect).sqrt().round();
        // Written so that NaN fails the test too.
        if cw >= 1.0 && ch >= 1.0 && cw <= w as f32 && ch <= h as f32 {
            let (cw, ch) = (cw as usize, ch as usize);
            return CropBox {
                top: rng.random_range(0..=h - ch),
                left: rng.random_range(0..=w - cw),
                height: ch,
                width: cw,
            };
        }
    }
    let in_ratio = w as f32 / h as f32;
    let (mut cw, mut ch) = (w, h);
    if in_ratio < ratio.0 {
        ch = (w as f32 / ratio.0).round() as usize;
    } else if in_ratio > ratio.1 {
        cw = (h as f32 * ratio.1).round() as usize;
    }
    let (cw, ch) = (cw.clamp(1, w), ch.clamp(1, h));
    CropBox {
        top: (h - ch) / 2,
        left: (w - cw) / 2,
        height: ch,
        width: cw,
    }
}

/// Augments one image (`src`: `channels x h x w`) into `out` (`channels x S x S`, `S = cfg.out_size`).
pub fn augment_into(
    src: &[u8],
    channels: usize,
    h: usize,
    w: usize,
    cfg: &AugmentConfig,
    rng: &mut StdRng,
    out: &mut [f32],
) {
    let size = cfg.out_size;
    assert_eq!(
        src.len(),
        channels * h * w,
        "augment_into: source is not channels x h x w"
    );
    assert_eq!(
        out.len(),
        channels * size * size,
        "augment_into: output is not channels x S x S"
    );
    if out.is_empty() {
        return;
    }
    if h == 0 || w == 0 {
        out.fill(normalise(0.0));
        return;
    }
    let crop = if cfg.crop_scale.0 >= 1.0 {
        CropBox::whole(h, w)
    } else {
        sample_crop(h, w, cfg.crop_scale, cfg.crop_ratio, rng)
    };
    let flip = rng.random::<f32>() < cfg.flip_prob;
    SCRATCH.with_borrow_mut(|scratch| {
        resample(src, channels, w, crop, flip, size, scratch, out);
        if rng.random::<f32>() < cfg.jitter_prob {
            colour_jitter(out, channels, cfg, rng);
        }
        if channels == 3 && rng.random::<f32>() < cfg.grayscale_prob {
            to_grayscale(out);
        }
        if rng.random::<f32>() < cfg.blur_prob {
            let sigma = uniform(rng, cfg.blur_sigma.0, cfg.blur_sigma.1);
            gaussian_blur(out, size, cfg.blur_radius(), sigma, scratch);
        }
        // Drawn only when enabled, so presets without it keep their random streams.
        if cfg.solarize_prob > 0.0 && rng.random::<f32>() < cfg.solarize_prob {
            solarize(out);
        }
    });
    out.iter_mut().for_each(|v| *v = normalise(*v));
}

/// No augmentation: bilinear resize to `out_size` when the image differs, then normalisation.
pub fn normalise_into(
    src: &[u8],
    channels: usize,
    h: usize,
    w: usize,
    out_size: usize,
    out: &mut [f32],
) {
    assert_eq!(
        src.len(),
        channels * h * w,
        "normalise_into: source is not channels x h x w"
    );
    assert_eq!(
        out.len(),
        channels * out_size * out_size,
        "normalise_into: output is not C x S x S"
    );
    if h == out_size && w == out_size {
        for (o, &p) in out.iter_mut().zip(src) {
            *o = normalise(p as f32);
        }
    } else if h == 0 || w == 0 {
        out.fill(normalise(0.0));
    } else if !out.is_empty() {
        let crop = CropBox::whole(h, w);
        SCRATCH.with_borrow_mut(|scratch| {
            resample(src, channels, w, crop, false, out_size, scratch, out)
        });
        out.iter_mut().for_each(|v| *v = normalise(*v));
    }
}

/// Augments the images at `indices` in parallel; sample `j` draws from its own seeded stream, so the
/// result depends on `seed` only, not on the thread count. Returns `indices.len() x C x S x S` values.
pub fn augment_batch(
    set: &ImageSet,
    indices: &[usize],
    cfg: &AugmentConfig,
    seed: u64,
) -> Vec<f32> {
    augment_batch_from(set, indices, cfg, seed, 0)
}

/// Positions `first..` of a batch augmented by [`augment_batch`] with `seed`: the images at
/// `indices` come out as they would at those positions of the whole batch (a data-parallel
/// rank's part).
pub fn augment_batch_from(
    set: &ImageSet,
    indices: &[usize],
    cfg: &AugmentConfig,
    seed: u64,
    first: usize,
) -> Vec<f32> {
    let per_image = set.channels * cfg.out_size * cfg.out_size;
    let mut out = vec![0.0; indices.len() * per_image];
    if per_image == 0 {
        return out;
    }
    out.par_chunks_mut(per_image)
        .zip(indices)
        .enumerate()
        .for_each(|(j, (dst, &i))| {
            let mut rng = StdRng::seed_from_u64(mix(seed, (first + j) as u64));
            augment_into(
                set.image(i),
                set.channels,
                set.height,
                set.width,
                cfg,
                &mut rng,
                dst,
            );
        });
    out
}

/// Normalises (and resizes) the images at `indices` in parallel: `indices.len() x C x S x S` values.
pub fn normalise_batch(set: &ImageSet, indices: &[usize], out_size: usize) -> Vec<f32> {
    let per_image = set.channels * out_size * out_size;
    let mut out = vec![0.0; indices.len() * per_image];
    if per_image == 0 {
        return out;
    }
    out.par_chunks_mut(per_image)
        .zip(indices)
        .for_each(|(dst, &i)| {
            normalise_into(
                set.image(i),
                set.channels,
                set.height,
                set.width,
                out_size,
                dst,
            );
        });
    out
}

/// `v` in `[0, 255]` to the network's input scale.
#[inline]
fn normalise(v: f32) -> f32 {
    (v / 255.0 - NORM_MEAN) / NORM_STD
}

/// Uniform in `[lo, hi)`; unlike `random_range` it accepts `lo >= hi` (and returns `lo`).
fn uniform(rng: &mut impl Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// Buffers reused across images on one thread, so augmenting allocates nothing per image.
#[derive(Default)]
struct Scratch {
    xs: Vec<Tap>,
    ys: Vec<Tap>,
    kernel: Vec<f32>,
    blur_taps: Vec<usize>,
    plane: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A bilinear sample position along one axis: `(1 - frac) * p[i0] + frac * p[i1]`.
#[derive(Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    frac: f32,
}

/// PyTorch's `interpolate(mode="bilinear", align_corners=False)` positions for `len` source pixels
/// starting at `start`, resampled to `out`.
fn fill_taps(taps: &mut Vec<Tap>, start: usize, len: usize, out: usize, mirror: bool) {
    taps.clear();
    let scale = len as f32 / out as f32;
    taps.extend((0..out).map(|o| {
        let s = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (s as usize).min(len - 1);
        let i1 = (i0 + 1).min(len - 1);
        Tap {
            i0: start + i0,
            i1: start + i1,
            frac: s - i0 as f32,
        }
    }));
    if mirror {
        taps.reverse();
    }
}

/// Bilinear resample of `crop` to `size x size` per channel, values kept in `[0, 255]`.
#[allow(clippy::too_many_arguments)]
fn resample(
    src: &[u8],
    channels: usize,
    w: usize,
    crop: CropBox,
    flip: bool,
    size: usize,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    fill_taps(&mut scratch.xs, crop.left, crop.width, size, flip);
    fill_taps(&mut scratch.ys, crop.top, crop.height, size, false);
    let plane_in = src.len() / channels;
    for (plane, dst) in src
        .chunks_exact(plane_in)
        .zip(out.chunks_exact_mut(size * size))
    {
        for (row_out, ty) in dst.chunks_exact_mut(size).zip(&scratch.ys) {
            let r0 = &plane[ty.i0 * w..(ty.i0 + 1) * w];
            let r1 = &plane[ty.i1 * w..(ty.i1 + 1) * w];
            for (o, tx) in row_out.iter_mut().zip(&scratch.xs) {
                let (a0, a1) = (r0[tx.i0] as f32, r0[tx.i1] as f32);
                let (b0, b1) = (r1[tx.i0] as f32, r1[tx.i1] as f32);
                let a = a0 + tx.frac * (a1 - a0);
                let b = b0 + tx.frac * (b1 - b0);
                *o = a + ty.frac * (b - a);
            }
        }
    }
}

/// torchvision's `ColorJitter`: the four adjustments in a random order, each with its own factor.
fn colour_jitter(img: &mut [f32], channels: usize, cfg: &AugmentConfig, rng: &mut StdRng) {
    let mut order = [0u8, 1, 2, 3];
    order.shuffle(rng);
    let factor = |rng: &mut StdRng, s: f32| uniform(rng, (1.0 - s).max(0.0), 1.0 + s);
    for op in order {
        match op {
            0 if cfg.brightness > 0.0 => adjust_brightness(img, factor(rng, cfg.brightness)),
            1 if cfg.contrast > 0.0 => {
                adjust_contrast(img, channels, factor(rng, cfg.contrast));
            }
            2 if cfg.saturation > 0.0 && channels == 3 => {
                adjust_saturation(img, factor(rng, cfg.saturation));
            }
            3 if cfg.hue > 0.0 && channels == 3 => {
                let turns = uniform(rng, -cfg.hue, cfg.hue);
                rotate_hue(img, turns);
            }
            _ => {}
        }
    }
}

/// Index `i` reflected into `0..n` without repeating the edge (PyTorch's "reflect" padding).
fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m >= n as isize { period - m } else { m }) as usize
}

/// Separable Gaussian blur of every `size x size` plane of `img`, with reflect padding.
fn gaussian_blur(img: &mut [f32], size: usize, radius: usize, sigma: f32, scratch: &mut Scratch) {
    if sigma.is_nan() || sigma <= 0.0 {
        return;
    }
    let taps = 2 * radius + 1;
    scratch.kernel.clear();
    scratch.kernel.extend((0..taps).map(|t| {
        let d = t as f32 - radius as f32;
        (-d * d / (2.0 * sigma * sigma)).exp()
    }));
    let total: f32 = scratch.kernel.iter().sum();
    scratch.kernel.iter_mut().for_each(|k| *k /= total);
    scratch.blur_taps.clear();
    for x in 0..size {
        let centre = x as isize - radius as isize;
        scratch
            .blur_taps
            .extend((0..taps).map(|t| reflect(centre + t as isize, size)));
    }
    scratch.plane.resize(size * size, 0.0);
    let (kernel, idx, tmp) = (&scratch.kernel, &scratch.blur_taps, &mut scratch.plane);
    for plane in img.chunks_exact_mut(size * size) {
        for (row_in, row_out) in plane.chunks_exact(size).zip(tmp.chunks_exact_mut(size)) {
            for (o, idx) in row_out.iter_mut().zip(idx.chunks_exact(taps)) {
                *o = idx.iter().zip(kernel).map(|(&i, &k)| k * row_in[i]).sum();
            }
        }
        for (row_out, idx) in plane.chunks_exact_mut(size).zip(idx.chunks_exact(taps)) {
            row_out.fill(0.0);
            for (&i, &k) in idx.iter().zip(kernel) {
                let row_in = &tmp[i * size..(i + 1) * size];
                row_out
                    .iter_mut()
                    .zip(row_in)
                    .for_each(|(o, &v)| *o += k * v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::colour::{hue_matrix, solarize};

    /// Deterministic pseudo-random pixels.
    fn noise_image(channels: usize, h: usize, w: usize, seed: u64) -> Vec<u8> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..channels * h * w).map(|_| rng.random::<u8>()).collect()
    }

    fn image_set(n: usize, channels: usize, side: usize) -> ImageSet {
        let pixels = (0..n)
            .flat_map(|i| noise_image(channels, side, side, i as u64))
            .collect();
        ImageSet::unlabelled(channels, side, side, pixels)
    }

    fn variance(v: &[f32]) -> f32 {
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32
    }

    #[test]
    fn presets_are_valid_and_documented_values_hold() {
        let rgb = AugmentConfig::simclr(3, 32);
        rgb.validate().unwrap();
        assert_eq!(
            (rgb.crop_scale, rgb.flip_prob, rgb.grayscale_prob),
            ((0.08, 1.0), 0.5, 0.2)
        );
        assert_eq!(rgb.blur_radius(), 1);
        let gray = AugmentConfig::simclr(1, 28);
        gray.validate().unwrap();
        assert_eq!(
            (gray.crop_scale, gray.flip_prob, gray.saturation, gray.hue),
            ((0.4, 1.0), 0.0, 0.0, 0.0)
        );
        AugmentConfig::identity(32).validate().unwrap();
        assert_eq!(AugmentConfig::simclr(3, 96).blur_radius(), 4);
        assert_eq!(AugmentConfig::simclr(3, 224).blur_radius(), 11);
    }

    #[test]
    fn byol_pair_is_asymmetric_and_digit_safe() {
        for channels in [1, 3] {
            let [a, b] = AugmentConfig::byol_pair(channels, 28);
            a.validate().unwrap();
            b.validate().unwrap();
            assert_eq!((a.blur_prob, a.solarize_prob), (1.0, 0.0));
            assert_eq!((b.blur_prob, b.solarize_prob), (0.1, 0.2));
            assert_eq!(a.crop_scale, AugmentConfig::simclr(channels, 28).crop_scale);
        }
        let [gray, _] = AugmentConfig::byol_pair(1, 28);
        assert_eq!((gray.flip_prob, gray.saturation, gray.hue), (0.0, 0.0, 0.0));
        let [rgb, _] = AugmentConfig::byol_pair(3, 32);
        assert_eq!((rgb.flip_prob, rgb.saturation, rgb.hue), (0.5, 0.2, 0.1));
    }

    #[test]
    fn masked_modelling_preset_crops_and_flips_only() {
        let rgb = AugmentConfig::masked_modelling(3, 32);
        rgb.validate().unwrap();
        assert_eq!((rgb.crop_scale, rgb.flip_prob), ((0.2, 1.0), 0.5));
        let gray = AugmentConfig::masked_modelling(1, 28);
        gray.validate().unwrap();
        assert_eq!((gray.crop_scale, gray.flip_prob), ((0.4, 1.0), 0.0));
        for cfg in [rgb, gray] {
            assert_eq!(
                (
                    cfg.jitter_prob,
                    cfg.grayscale_prob,
                    cfg.blur_prob,
                    cfg.solarize_prob
                ),
                (0.0, 0.0, 0.0, 0.0)
            );
        }
    }

    #[test]
    fn solarize_inverts_values_from_mid_gray_up() {
        let mut v = vec![0.0, 127.0, 128.0, 200.0, 255.0];
        solarize(&mut v);
        assert_eq!(v, [0.0, 127.0, 127.0, 55.0, 0.0]);
        // Through the pipeline: identity + solarise with p = 1.
        let src = [10u8, 127, 128, 250];
        let cfg = AugmentConfig {
            solarize_prob: 1.0,
            ..AugmentConfig::identity(2)
        };
        let mut out = vec![0.0; 4];
        augment_into(&src, 1, 2, 2, &cfg, &mut StdRng::seed_from_u64(0), &mut out);
        let expected: Vec<f32> = [10.0, 127.0, 127.0, 5.0].map(normalise).to_vec();
        assert_eq!(out, expected);
    }

    #[test]
    fn config_without_a_solarize_field_loads_as_zero() {
        // A config read from an older file has no solarize field: it means 0.
        let cfg = AugmentConfig::simclr(1, 28);
        let mut json: serde_json::Value = serde_json::to_value(&cfg).unwrap();
        json.as_object_mut().unwrap().remove("solarize_prob");
        assert_eq!(serde_json::from_value::<AugmentConfig>(json).unwrap(), cfg);
    }

    #[test]
    fn validate_names_the_bad_field() {
        let mut cfg = AugmentConfig::simclr(3, 32);
        cfg.crop_scale = (0.9, 0.1);
        assert_eq!(cfg.validate().unwrap_err().field, "crop_scale");
        let mut cfg = AugmentConfig::simclr(3, 32);
        cfg.flip_prob = f32::NAN;
        assert_eq!(cfg.validate().unwrap_err().field, "flip_prob");
        let mut cfg = AugmentConfig::simclr(3, 32);
        cfg.solarize_prob = 1.5;
        assert_eq!(cfg.validate().unwrap_err().field, "solarize_prob");
        let mut cfg = AugmentConfig::simclr(3, 32);
        cfg.blur_sigma = (0.0, 1.0);
        let err = cfg.validate().unwrap_err();
        assert!(err.to_string().contains("blur_sigma"), "{err}");
    }

    #[test]
    fn config_round_trips_through_serde() {
        let cfg = AugmentConfig::simclr(3, 32);
        let text = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<AugmentConfig>(&text).unwrap(), cfg);
    }

    #[test]
    fn batch_is_deterministic_and_seed_dependent() {
        let set = image_set(8, 3, 32);
        let cfg = AugmentConfig::simclr(3, 32);
        let idx = [3, 1, 4, 1, 5];
        let a = augment_batch(&set, &idx, &cfg, 42);
        assert_eq!(a, augment_batch(&set, &idx, &cfg, 42));
        assert_ne!(a, augment_batch(&set, &idx, &cfg, 43));
        // The same image at two positions gets two different views.
        let n = 3 * 32 * 32;
        assert_ne!(a[n..2 * n], a[3 * n..4 * n]);
    }

    #[test]
    fn batch_does_not_depend_on_thread_count() {
        let set = image_set(16, 3, 32);
        let cfg = AugmentConfig::simclr(3, 24);
        let idx: Vec<usize> = (0..16).rev().collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let single = pool.install(|| augment_batch(&set, &idx, &cfg, 9));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        assert_eq!(single, pool.install(|| augment_batch(&set, &idx, &cfg, 9)));
    }

    #[test]
    fn output_length_and_range() {
        for (channels, side, out) in [(3, 32, 32), (3, 40, 24), (1, 28, 28), (1, 28, 32)] {
            let set = image_set(6, channels, side);
            let cfg = AugmentConfig::simclr(channels, out);
            let v = augment_batch(&set, &[0, 1, 2, 3, 4, 5], &cfg, 1);
            assert_eq!(v.len(), 6 * channels * out * out);
            let (lo, hi) = (normalise(0.0), normalise(255.0));
            assert_eq!((lo, hi), (-2.0, 2.0));
            assert!(v.iter().all(|x| (lo - 1e-4..=hi + 1e-4).contains(x)));
            assert!(variance(&v) > 0.1, "augmented noise should not be flat");
        }
    }

    #[test]
    fn identity_reproduces_normalised_pixels() {
        let src = noise_image(3, 16, 16, 5);
        let expected: Vec<f32> = src
            .iter()
            .map(|&p| (p as f32 / 255.0 - 0.5) / 0.25)
            .collect();
        let mut out = vec![0.0; src.len()];
        let mut rng = StdRng::seed_from_u64(0);
        augment_into(
            &src,
            3,
            16,
            16,
            &AugmentConfig::identity(16),
            &mut rng,
            &mut out,
        );
        assert_eq!(out, expected);
        let mut out2 = vec![0.0; src.len()];
        normalise_into(&src, 3, 16, 16, 16, &mut out2);
        assert_eq!(out2, expected);
    }

    #[test]
    fn resize_matches_hand_computed_bilinear() {
        // 1 x 2 x 2 -> 4 x 4: PyTorch gives rows [a, .75a+.25b, .25a+.75b, b] along each axis.
        let src = [0u8, 100, 200, 40];
        let mut out = vec![0.0; 16];
        normalise_into(&src, 1, 2, 2, 4, &mut out);
        let px = |v: f32| (v / 255.0 - 0.5) / 0.25;
        assert!((out[0] - px(0.0)).abs() < 1e-6);
        assert!((out[1] - px(25.0)).abs() < 1e-5);
        assert!((out[5] - px(0.75 * 25.0 + 0.25 * (200.0 + 0.25 * (40.0 - 200.0)))).abs() < 1e-5);
        assert!((out[15] - px(40.0)).abs() < 1e-6);
        // A constant image stays constant under any resize.
        let flat = vec![77u8; 3 * 20 * 30];
        let mut out = vec![0.0; 3 * 32 * 32];
        normalise_into(&flat, 3, 20, 30, 32, &mut out);
        assert!(out.iter().all(|&v| (v - px(77.0)).abs() < 1e-5));
    }

    #[test]
    fn flip_only_mirrors_exactly() {
        let (c, s) = (3, 16);
        let src = noise_image(c, s, s, 11);
        let cfg = AugmentConfig {
            crop_scale: (1.0, 1.0),
            crop_ratio: (1.0, 1.0),
            flip_prob: 1.0,
            ..AugmentConfig::identity(s)
        };
        let mut out = vec![0.0; c * s * s];
        augment_into(&src, c, s, s, &cfg, &mut StdRng::seed_from_u64(3), &mut out);
        for ch in 0..c {
            for y in 0..s {
                for x in 0..s {
                    let p = src[(ch * s + y) * s + (s - 1 - x)];
                    assert_eq!(out[(ch * s + y) * s + x], normalise(p as f32));
                }
            }
        }
    }

    #[test]
    fn grayscale_gives_equal_channels() {
        let set = image_set(4, 3, 32);
        let cfg = AugmentConfig {
            grayscale_prob: 1.0,
            ..AugmentConfig::simclr(3, 32)
        };
        let v = augment_batch(&set, &[0, 1, 2, 3], &cfg, 8);
        let plane = 32 * 32;
        for img in v.chunks_exact(3 * plane) {
            assert_eq!(img[..plane], img[plane..2 * plane]);
            assert_eq!(img[..plane], img[2 * plane..]);
        }
    }

    #[test]
    fn blur_smooths_a_checkerboard() {
        let s = 32;
        let src: Vec<u8> = (0..3 * s * s)
            .map(|i| if ((i % s) + (i / s)) % 2 == 0 { 255 } else { 0 })
            .collect();
        let cfg = AugmentConfig {
            blur_prob: 1.0,
            blur_sigma: (1.0, 1.0),
            ..AugmentConfig::identity(s)
        };
        let mut out = vec![0.0; src.len()];
        augment_into(&src, 3, s, s, &cfg, &mut StdRng::seed_from_u64(0), &mut out);
        let before: Vec<f32> = src.iter().map(|&p| normalise(p as f32)).collect();
        assert!(variance(&out) < 0.2 * variance(&before));
        // Interior white pixel, 3-tap kernel [e, 1, e] / (1 + 2e) with e = exp(-1/2), applied twice.
        let e = (-0.5f32).exp();
        let (centre, side) = (1.0 / (1.0 + 2.0 * e), e / (1.0 + 2.0 * e));
        let expected = 255.0 * (centre * centre + 4.0 * side * side);
        assert!((out[5 * s + 5] - normalise(expected)).abs() < 1e-4);
    }

    #[test]
    fn crop_sampler_respects_scale_ratio_and_bounds() {
        let mut rng = StdRng::seed_from_u64(17);
        let (h, w) = (32, 48);
        let (scale, ratio) = ((0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0));
        for _ in 0..2000 {
            let b = sample_crop(h, w, scale, ratio, &mut rng);
            assert!(b.height >= 1 && b.width >= 1);
            assert!(b.top + b.height <= h && b.left + b.width <= w, "{b:?}");
            let area = (b.height * b.width) as f32 / (h * w) as f32;
            // Rounding each side to whole pixels moves small crops by up to ~15%.
            assert!(
                (0.08 * 0.85..=1.0).contains(&area),
                "area {area} from {b:?}"
            );
            let r = b.width as f32 / b.height as f32;
            assert!(
                r > 0.75 * 0.8 && r < 4.0 / 3.0 * 1.25,
                "ratio {r} from {b:?}"
            );
        }
        // Scale 0 can never be met: the central crop clamped to the widest ratio (round(32 * 4/3) = 43).
        let b = sample_crop(h, w, (0.0, 0.0), ratio, &mut rng);
        assert_eq!(
            b,
            CropBox {
                top: 0,
                left: 2,
                height: 32,
                width: 43
            }
        );
    }

    #[test]
    fn colour_adjustments_match_hand_computed_values() {
        let mut v = vec![100.0, 200.0];
        adjust_brightness(&mut v, 1.5);
        assert_eq!(v, [150.0, 255.0]);
        let mut v = vec![0.0, 100.0];
        adjust_contrast(&mut v, 1, 0.5);
        assert_eq!(v, [25.0, 75.0]);
        let mut v = vec![200.0, 100.0, 50.0];
        adjust_saturation(&mut v, 0.0);
        let gray = 0.299 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0;
        assert!(v.iter().all(|&x| (x - gray).abs() < 1e-4));
        let m = hue_matrix(0.0);
        for (i, row) in m.iter().enumerate() {
            for (j, &x) in row.iter().enumerate() {
                assert!((x - if i == j { 1.0 } else { 0.0 }).abs() < 1e-6);
            }
        }
        let mut gray_px = vec![90.0, 90.0, 90.0];
        rotate_hue(&mut gray_px, 0.3);
        assert!(
            gray_px.iter().all(|&x| (x - 90.0).abs() < 1e-3),
            "{gray_px:?}"
        );
        let mut red = vec![200.0, 0.0, 0.0];
        rotate_hue(&mut red, 1.0 / 3.0);
        assert!(
            red[1] > red[0] && red[1] > red[2],
            "a third of a turn takes red to green: {red:?}"
        );
    }

    #[test]
    fn odd_configs_and_images_do_not_panic() {
        let src = noise_image(3, 5, 7, 1);
        let cfg = AugmentConfig {
            crop_scale: (0.0, 0.0),
            crop_ratio: (0.0, 0.0),
            blur_prob: 1.0,
            blur_sigma: (0.0, 0.0),
            ..AugmentConfig::simclr(3, 3)
        };
        let mut out = vec![0.0; 3 * 3 * 3];
        augment_into(&src, 3, 5, 7, &cfg, &mut StdRng::seed_from_u64(0), &mut out);
        assert!(out.iter().all(|v| v.is_finite()));
        let mut one = vec![0.0; 3];
        augment_into(
            &src,
            3,
            5,
            7,
            &AugmentConfig::simclr(3, 1),
            &mut StdRng::seed_from_u64(0),
            &mut one,
        );
        assert!(one.iter().all(|v| v.is_finite()));
    }
}
