//! Seeded augmentations of a clip (crop, gain, time shift, additive noise) and of its log-mel
//! spectrogram (time and frequency masks, as SpecAugment). Each draws from its own seed, so a
//! batch stays a pure function of the run's seed and the step, as the image augmentations do.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::features::LogMel;

/// A window of `len` samples at a random start (the whole clip when it is not longer).
pub fn random_crop(clip: &[f32], len: usize, seed: u64) -> Vec<f32> {
    if clip.len() <= len {
        return clip.to_vec();
    }
    let start = StdRng::seed_from_u64(seed).random_range(0..=clip.len() - len);
    clip[start..start + len].to_vec()
}

/// The clip scaled by `db` decibels.
pub fn gain(clip: &[f32], db: f32) -> Vec<f32> {
    let scale = 10f32.powf(db / 20.0);
    clip.iter().map(|v| v * scale).collect()
}

/// The clip moved `shift` samples later (earlier when negative), zeros entering at the edge.
pub fn time_shift(clip: &[f32], shift: isize) -> Vec<f32> {
    let n = clip.len() as isize;
    (0..n)
        .map(|i| {
            let from = i - shift;
            if (0..n).contains(&from) {
                clip[from as usize]
            } else {
                0.0
            }
        })
        .collect()
}

/// The clip plus white noise `snr_db` decibels below the clip's own power (a silent clip is
/// left silent).
pub fn add_noise(clip: &[f32], snr_db: f32, seed: u64) -> Vec<f32> {
    let power = clip.iter().map(|v| v * v).sum::<f32>() / clip.len().max(1) as f32;
    // Uniform noise on [-a, a] has power a^2 / 3.
    let amplitude = (3.0 * power / 10f32.powf(snr_db / 10.0)).sqrt();
    let mut rng = StdRng::seed_from_u64(seed);
    clip.iter()
        .map(|v| v + amplitude * rng.random_range(-1.0f32..=1.0))
        .collect()
}

/// Sets `count` runs of up to `width` frames (time) to the spectrogram's mean.
pub fn mask_time(mel: &mut LogMel, count: usize, width: usize, seed: u64) {
    let fill = mean(mel);
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..count {
        let (from, to) = span(&mut rng, mel.frames, width);
        mel.values[from * mel.n_mels..to * mel.n_mels].fill(fill);
    }
}

/// Sets `count` runs of up to `width` mel bands (frequency) to the spectrogram's mean.
pub fn mask_frequency(mel: &mut LogMel, count: usize, width: usize, seed: u64) {
    let fill = mean(mel);
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..count {
        let (from, to) = span(&mut rng, mel.n_mels, width);
        for frame in mel.values.chunks_mut(mel.n_mels) {
            frame[from..to].fill(fill);
        }
    }
}

fn mean(mel: &LogMel) -> f32 {
    mel.values.iter().sum::<f32>() / mel.values.len().max(1) as f32
}

/// A run of `0..=width` positions inside `0..len`, SpecAugment's way: the width first, then
/// where it starts.
fn span(rng: &mut StdRng, len: usize, width: usize) -> (usize, usize) {
    let w = rng.random_range(0..=width.min(len));
    let from = rng.random_range(0..=len - w);
    (from, from + w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32 / n as f32).collect()
    }

    #[test]
    fn crops_are_windows_drawn_from_the_seed() {
        let clip = ramp(1000);
        let a = random_crop(&clip, 200, 1);
        assert_eq!(a.len(), 200);
        let start = clip.iter().position(|&v| v == a[0]).unwrap();
        assert_eq!(a, clip[start..start + 200]);
        assert_eq!(a, random_crop(&clip, 200, 1));
        assert_ne!(a, random_crop(&clip, 200, 2));
        assert_eq!(random_crop(&clip[..100], 200, 1), clip[..100]);
    }

    #[test]
    fn gain_and_shift_do_what_they_say() {
        let clip = ramp(10);
        let louder = gain(&clip, 20.0);
        assert!(
            louder
                .iter()
                .zip(&clip)
                .all(|(a, b)| (a - 10.0 * b).abs() < 1e-5)
        );
        let later = time_shift(&clip, 3);
        assert_eq!(later[..3], [0.0; 3]);
        assert_eq!(later[3..], clip[..7]);
        let earlier = time_shift(&clip, -2);
        assert_eq!(earlier[..8], clip[2..]);
        assert_eq!(earlier[8..], [0.0; 2]);
    }

    #[test]
    fn noise_sits_at_the_requested_signal_to_noise_ratio() {
        let clip: Vec<f32> = (0..40_000).map(|i| (i as f32 * 0.05).sin()).collect();
        let noisy = add_noise(&clip, 10.0, 7);
        let signal: f32 = clip.iter().map(|v| v * v).sum();
        let noise: f32 = noisy.iter().zip(&clip).map(|(a, b)| (a - b).powi(2)).sum();
        let snr = 10.0 * (signal / noise).log10();
        assert!((snr - 10.0).abs() < 0.3, "{snr} dB");
        assert_eq!(noisy, add_noise(&clip, 10.0, 7));
        assert_eq!(add_noise(&[0.0; 8], 10.0, 7), [0.0; 8]);
    }

    #[test]
    fn masks_fill_whole_runs_with_the_mean() {
        let values: Vec<f32> = (0..20 * 8).map(|i| i as f32).collect();
        let original = LogMel {
            values,
            frames: 20,
            n_mels: 8,
        };
        let fill = mean(&original);
        let mut time = original.clone();
        mask_time(&mut time, 1, 5, 3);
        let masked: Vec<usize> = (0..20)
            .filter(|&t| time.frame(t).iter().all(|&v| v == fill))
            .collect();
        assert!(masked.len() <= 5);
        assert!(masked.windows(2).all(|w| w[1] == w[0] + 1), "{masked:?}");
        let unchanged = (0..20)
            .filter(|&t| time.frame(t) == original.frame(t))
            .count();
        assert_eq!(unchanged + masked.len(), 20);
        let mut freq = original.clone();
        mask_frequency(&mut freq, 2, 3, 4);
        let changed = |t: usize| -> Vec<usize> {
            (0..8)
                .filter(|&m| freq.frame(t)[m] != original.frame(t)[m])
                .collect()
        };
        let bands = changed(0);
        assert!(bands.len() <= 6);
        for t in 0..20 {
            // The same bands in every frame, each set to the mean.
            assert_eq!(changed(t), bands);
            assert!(bands.iter().all(|&m| freq.frame(t)[m] == fill));
        }
    }
}
