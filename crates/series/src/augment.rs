//! Seeded augmentations of one series (channel-major `channels * len` values), as in TS-TCC and
//! Um et al. (2017). Each returns a new series of the same shape; NaN (missing) values stay local.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A standard normal sample (Box-Muller).
fn normal(rng: &mut StdRng) -> f32 {
    let u1 = 1.0 - rng.random::<f64>(); // in (0, 1], so ln is finite
    let u2 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// `x` sampled at fractional position `p` by linear interpolation; a NaN neighbour yields the
/// nearer sample instead of spreading NaN to every point it touches.
fn sample_at(x: &[f32], p: f32) -> f32 {
    let last = x.len() - 1;
    let p = p.clamp(0.0, last as f32);
    let i0 = (p.floor() as usize).min(last);
    let i1 = (i0 + 1).min(last);
    let w = p - i0 as f32;
    let (a, b) = (x[i0], x[i1]);
    if a.is_nan() || b.is_nan() {
        return if w < 0.5 { a } else { b };
    }
    a + (b - a) * w
}

/// `x` stretched or squeezed to `out_len` samples by linear interpolation (ends kept).
pub(crate) fn resample_linear(x: &[f32], out_len: usize) -> Vec<f32> {
    if x.is_empty() || out_len == 0 {
        return vec![0.0; out_len];
    }
    if out_len == 1 || x.len() == 1 {
        return vec![x[0]; out_len];
    }
    let step = (x.len() - 1) as f32 / (out_len - 1) as f32;
    (0..out_len)
        .map(|i| sample_at(x, i as f32 * step))
        .collect()
}

/// A smooth random curve of `len` points through `knots + 2` evenly spaced knots drawn from
/// `N(1, sigma)` (Catmull-Rom cubic interpolation).
fn smooth_curve(len: usize, sigma: f32, knots: usize, rng: &mut StdRng) -> Vec<f32> {
    let k: Vec<f32> = (0..knots + 2).map(|_| 1.0 + sigma * normal(rng)).collect();
    let segments = (k.len() - 1) as f32;
    let at = |i: isize| k[i.clamp(0, k.len() as isize - 1) as usize];
    (0..len)
        .map(|t| {
            let p = if len > 1 {
                t as f32 / (len - 1) as f32 * segments
            } else {
                0.0
            };
            let i = (p.floor() as isize).min(k.len() as isize - 2);
            let u = p - i as f32;
            let (p0, p1, p2, p3) = (at(i - 1), at(i), at(i + 1), at(i + 2));
            let u2 = u * u;
            0.5 * (2.0 * p1
                + (p2 - p0) * u
                + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * u2
                + (3.0 * p1 - p0 - 3.0 * p2 + p3) * u2 * u)
        })
        .collect()
}

/// Adds `N(0, sigma)` noise to every value.
pub fn jitter(x: &[f32], sigma: f32, rng: &mut StdRng) -> Vec<f32> {
    x.iter().map(|&v| v + sigma * normal(rng)).collect()
}

/// Multiplies each channel by one factor drawn from `N(1, sigma)`.
pub fn scaling(x: &[f32], channels: usize, len: usize, sigma: f32, rng: &mut StdRng) -> Vec<f32> {
    let mut out = x.to_vec();
    for channel in out.chunks_mut(len.max(1)).take(channels) {
        let factor = 1.0 + sigma * normal(rng);
        channel.iter_mut().for_each(|v| *v *= factor);
    }
    out
}

/// Multiplies each channel by its own smooth random curve (knots drawn from `N(1, sigma)`).
pub fn magnitude_warp(
    x: &[f32],
    channels: usize,
    len: usize,
    sigma: f32,
    knots: usize,
    rng: &mut StdRng,
) -> Vec<f32> {
    let mut out = x.to_vec();
    for channel in out.chunks_mut(len.max(1)).take(channels) {
        let curve = smooth_curve(len, sigma, knots, rng);
        channel.iter_mut().zip(curve).for_each(|(v, c)| *v *= c);
    }
    out
}

/// Resamples every channel along one smooth, monotone random time distortion: the local speed is a
/// smooth curve (knots from `N(1, sigma)`, kept positive) whose running sum maps `[0, len - 1]`
/// onto itself. One warp for all channels keeps them aligned in time.
pub fn time_warp(
    x: &[f32],
    channels: usize,
    len: usize,
    sigma: f32,
    knots: usize,
    rng: &mut StdRng,
) -> Vec<f32> {
    if len < 2 {
        return x.to_vec();
    }
    let speed = smooth_curve(len - 1, sigma, knots, rng);
    let mut positions = Vec::with_capacity(len);
    let mut t = 0.0f32;
    positions.push(t);
    for s in speed {
        t += s.max(0.05);
        positions.push(t);
    }
    let scale = (len - 1) as f32 / t;
    let mut out = Vec::with_capacity(x.len());
    for channel in x.chunks(len).take(channels) {
        out.extend(positions.iter().map(|&p| sample_at(channel, p * scale)));
    }
    out
}

/// A random window of at least `min_fraction` of the series (same window for every channel),
/// stretched back to `len` samples.
pub fn crop_resize(
    x: &[f32],
    channels: usize,
    len: usize,
    min_fraction: f32,
    rng: &mut StdRng,
) -> Vec<f32> {
    if len < 3 {
        return x.to_vec();
    }
    let min_len = ((min_fraction.clamp(0.0, 1.0) * len as f32).ceil() as usize).clamp(2, len);
    let window = rng.random_range(min_len..=len);
    let start = rng.random_range(0..=len - window);
    let mut out = Vec::with_capacity(x.len());
    for channel in x.chunks(len).take(channels) {
        out.extend(resample_linear(&channel[start..start + window], len));
    }
    out
}

/// Cuts the series into `2..=max_segments` random-length segments (the same cuts for every
/// channel) and puts them in a random order.
pub fn segment_permutation(
    x: &[f32],
    channels: usize,
    len: usize,
    max_segments: usize,
    rng: &mut StdRng,
) -> Vec<f32> {
    if len < 2 || max_segments < 2 {
        return x.to_vec();
    }
    let segments = rng.random_range(2..=max_segments.min(len));
    let mut cuts: Vec<usize> = rand::seq::index::sample(rng, len - 1, segments - 1)
        .into_iter()
        .map(|c| c + 1)
        .collect();
    cuts.sort_unstable();
    let mut bounds = Vec::with_capacity(segments + 1);
    bounds.push(0);
    bounds.extend(cuts);
    bounds.push(len);
    let mut order: Vec<usize> = (0..segments).collect();
    order.shuffle(rng);
    let mut out = Vec::with_capacity(x.len());
    for channel in x.chunks(len).take(channels) {
        for &s in &order {
            out.extend_from_slice(&channel[bounds[s]..bounds[s + 1]]);
        }
    }
    out
}

/// A Bernoulli(`p`) draw. It is drawn even when `p` is 0 or 1, so changing one step's probability
/// does not shift the random streams of the steps after it.
fn coin(p: f32, rng: &mut StdRng) -> bool {
    rng.random::<f32>() < p
}

/// Which augmentations [`SeriesAugment::apply`] runs (each with probability `*_p`) and how strongly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeriesAugment {
    pub crop_p: f32,
    /// Smallest window kept by the crop, as a fraction of the length.
    pub crop_min_fraction: f32,
    pub time_warp_p: f32,
    pub time_warp_sigma: f32,
    pub time_warp_knots: usize,
    pub permutation_p: f32,
    pub permutation_max_segments: usize,
    pub magnitude_warp_p: f32,
    pub magnitude_warp_sigma: f32,
    pub magnitude_warp_knots: usize,
    pub scaling_p: f32,
    pub scaling_sigma: f32,
    pub jitter_p: f32,
    pub jitter_sigma: f32,
}

impl Default for SeriesAugment {
    /// TS-TCC's "strong" view (permutation of up to 5 segments, then jitter) for z-normalised
    /// series, with occasional crops, warps and scaling for variety.
    fn default() -> Self {
        Self {
            crop_p: 0.3,
            crop_min_fraction: 0.6,
            time_warp_p: 0.3,
            time_warp_sigma: 0.2,
            time_warp_knots: 4,
            permutation_p: 1.0,
            permutation_max_segments: 5,
            magnitude_warp_p: 0.3,
            magnitude_warp_sigma: 0.2,
            magnitude_warp_knots: 4,
            scaling_p: 0.5,
            scaling_sigma: 0.2,
            jitter_p: 1.0,
            jitter_sigma: 0.2,
        }
    }
}

impl SeriesAugment {
    /// TS-TCC's "weak" view: scaling, then jitter.
    pub fn weak() -> Self {
        Self {
            crop_p: 0.0,
            time_warp_p: 0.0,
            permutation_p: 0.0,
            magnitude_warp_p: 0.0,
            scaling_p: 1.0,
            scaling_sigma: 0.1,
            jitter_p: 1.0,
            jitter_sigma: 0.05,
            ..Self::default()
        }
    }

    /// Augments one series with an RNG seeded from `seed` (same seed, same output): crop, time
    /// warp, permutation, magnitude warp, scaling, jitter, each with its probability.
    pub fn apply(&self, x: &[f32], channels: usize, len: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = x.to_vec();
        if coin(self.crop_p, &mut rng) {
            out = crop_resize(&out, channels, len, self.crop_min_fraction, &mut rng);
        }
        if coin(self.time_warp_p, &mut rng) {
            out = time_warp(
                &out,
                channels,
                len,
                self.time_warp_sigma,
                self.time_warp_knots,
                &mut rng,
            );
        }
        if coin(self.permutation_p, &mut rng) {
            out = segment_permutation(&out, channels, len, self.permutation_max_segments, &mut rng);
        }
        if coin(self.magnitude_warp_p, &mut rng) {
            let (sigma, knots) = (self.magnitude_warp_sigma, self.magnitude_warp_knots);
            out = magnitude_warp(&out, channels, len, sigma, knots, &mut rng);
        }
        if coin(self.scaling_p, &mut rng) {
            out = scaling(&out, channels, len, self.scaling_sigma, &mut rng);
        }
        if coin(self.jitter_p, &mut rng) {
            out = jitter(&out, self.jitter_sigma, &mut rng);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    /// Two channels of 50 distinct values.
    fn series() -> Vec<f32> {
        (0..100)
            .map(|i| (i as f32 * 0.37).sin() + i as f32 * 0.01)
            .collect()
    }

    #[test]
    fn every_augmentation_keeps_the_shape() {
        let x = series();
        let r = &mut rng(1);
        let outs = [
            jitter(&x, 0.1, r),
            scaling(&x, 2, 50, 0.1, r),
            magnitude_warp(&x, 2, 50, 0.2, 4, r),
            time_warp(&x, 2, 50, 0.2, 4, r),
            crop_resize(&x, 2, 50, 0.5, r),
            segment_permutation(&x, 2, 50, 5, r),
            SeriesAugment::default().apply(&x, 2, 50, 3),
            SeriesAugment::weak().apply(&x, 2, 50, 3),
        ];
        for (i, o) in outs.iter().enumerate() {
            assert_eq!(o.len(), x.len(), "augmentation {i}");
            assert!(o.iter().all(|v| v.is_finite()), "augmentation {i}");
            assert_ne!(o, &x, "augmentation {i} left the series unchanged");
        }
    }

    #[test]
    fn apply_is_deterministic_per_seed_and_seeds_differ() {
        let x = series();
        let aug = SeriesAugment::default();
        assert_eq!(aug.apply(&x, 2, 50, 7), aug.apply(&x, 2, 50, 7));
        assert_ne!(aug.apply(&x, 2, 50, 7), aug.apply(&x, 2, 50, 8));
    }

    #[test]
    fn jitter_std_matches_sigma() {
        let out = jitter(&vec![0.0; 20_000], 0.3, &mut rng(2));
        let mean = out.iter().sum::<f32>() / out.len() as f32;
        let std = (out.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / out.len() as f32).sqrt();
        assert!(
            mean.abs() < 0.01 && (std - 0.3).abs() < 0.01,
            "mean {mean} std {std}"
        );
    }

    #[test]
    fn scaling_a_constant_series_gives_a_constant_per_channel() {
        let out = scaling(&[2.0; 30], 3, 10, 0.5, &mut rng(3));
        for channel in out.chunks(10) {
            assert!(channel.iter().all(|&v| v == channel[0]));
        }
        assert!(out[0] != out[10] && out[10] != out[20], "{out:?}");
    }

    #[test]
    fn segment_permutation_permutes_values() {
        let x = series();
        for seed in 0..20 {
            let out = segment_permutation(&x, 2, 50, 6, &mut rng(seed));
            let (mut a, mut b) = (x.clone(), out.clone());
            a.sort_by(f32::total_cmp);
            b.sort_by(f32::total_cmp);
            assert_eq!(a, b);
            // Channels move together: channel 0's values stay in channel 0.
            let mut c0 = out[..50].to_vec();
            c0.sort_by(f32::total_cmp);
            let mut x0 = x[..50].to_vec();
            x0.sort_by(f32::total_cmp);
            assert_eq!(c0, x0);
        }
    }

    #[test]
    fn time_warp_of_a_ramp_stays_monotone_with_fixed_ends() {
        let ramp: Vec<f32> = (0..200).map(|i| i as f32).collect();
        for seed in 0..20 {
            let out = time_warp(&ramp, 1, 200, 0.5, 4, &mut rng(seed));
            assert!(out.windows(2).all(|w| w[1] >= w[0]), "seed {seed}");
            assert_eq!(out[0], 0.0);
            assert!((out[199] - 199.0).abs() < 1e-3);
            assert!(
                out.iter().zip(&ramp).any(|(a, b)| (a - b).abs() > 1.0),
                "no warp"
            );
        }
    }

    #[test]
    fn crop_resize_of_a_ramp_is_an_increasing_sub_ramp() {
        let ramp: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let out = crop_resize(&ramp, 1, 100, 0.5, &mut rng(4));
        assert!(out.windows(2).all(|w| w[1] > w[0]));
        assert!(out[99] - out[0] >= 49.0 - 1e-3);
    }

    #[test]
    fn resample_linear_hand_computed() {
        assert_eq!(resample_linear(&[0.0, 2.0], 3), vec![0.0, 1.0, 2.0]);
        assert_eq!(resample_linear(&[0.0, 1.0, 2.0], 2), vec![0.0, 2.0]);
        assert_eq!(resample_linear(&[5.0], 3), vec![5.0; 3]);
    }

    #[test]
    fn nan_stays_local() {
        let mut x = series();
        x[10] = f32::NAN;
        for seed in 0..10 {
            let out = SeriesAugment::default().apply(&x, 2, 50, seed);
            let nans = out.iter().filter(|v| v.is_nan()).count();
            assert!(nans <= 4, "seed {seed}: {nans} NaN values");
        }
    }
}
