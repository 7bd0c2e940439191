//! Log-mel spectrograms (Hann-windowed frames, a real FFT from `realfft`, triangular filters on
//! the HTK mel scale) and MFCCs (their orthonormal DCT-II), with the classical baseline's clip
//! summary: each coefficient's mean and deviation over time.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// The floor under the power of a mel band before its logarithm.
pub const POWER_FLOOR: f32 = 1e-10;

/// How a clip becomes a log-mel spectrogram.
#[derive(Clone, Debug, PartialEq)]
pub struct MelConfig {
    pub rate: u32,
    /// FFT size (a frame is zero-padded from `window` to it).
    pub n_fft: usize,
    /// Samples per frame.
    pub window: usize,
    /// Samples between frame starts.
    pub hop: usize,
    pub n_mels: usize,
    pub f_min: f32,
    pub f_max: f32,
}

impl MelConfig {
    /// Speech features: 25 ms frames every 10 ms, 40 bands from 20 Hz to half the rate.
    pub fn speech(rate: u32) -> Self {
        let window = (rate as usize * 25).div_ceil(1000);
        Self {
            rate,
            n_fft: window.next_power_of_two(),
            window,
            hop: (rate as usize * 10).div_ceil(1000),
            n_mels: 40,
            f_min: 20.0,
            f_max: rate as f32 / 2.0,
        }
    }
}

/// A log-mel spectrogram: `frames` rows of `n_mels` values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct LogMel {
    pub values: Vec<f32>,
    pub frames: usize,
    pub n_mels: usize,
}

impl LogMel {
    pub fn frame(&self, t: usize) -> &[f32] {
        &self.values[t * self.n_mels..(t + 1) * self.n_mels]
    }
}

/// Computes log-mel spectrograms of one configuration (the FFT plan and filters made once).
pub struct MelSpectrogram {
    cfg: MelConfig,
    hann: Vec<f32>,
    /// Per band, its first FFT bin and the weights from there on.
    filters: Vec<(usize, Vec<f32>)>,
    fft: Arc<dyn RealToComplex<f32>>,
}

fn hz_to_mel(f: f32) -> f32 {
    2595.0 * (1.0 + f / 700.0).log10()
}

fn mel_to_hz(m: f32) -> f32 {
    700.0 * (10f32.powf(m / 2595.0) - 1.0)
}

impl MelSpectrogram {
    pub fn new(cfg: MelConfig) -> Self {
        let hann = (0..cfg.window)
            .map(|i| {
                let x = std::f32::consts::PI * 2.0 * i as f32 / cfg.window as f32;
                0.5 - 0.5 * x.cos()
            })
            .collect();
        let bins = cfg.n_fft / 2 + 1;
        let bin_hz = cfg.rate as f32 / cfg.n_fft as f32;
        let (lo, hi) = (hz_to_mel(cfg.f_min), hz_to_mel(cfg.f_max));
        let edges: Vec<f32> = (0..cfg.n_mels + 2)
            .map(|i| mel_to_hz(lo + (hi - lo) * i as f32 / (cfg.n_mels + 1) as f32))
            .collect();
        let filters = (0..cfg.n_mels)
            .map(|m| {
                let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
                let weight = |b: usize| {
                    let f = b as f32 * bin_hz;
                    if f <= left || f >= right {
                        0.0
                    } else if f <= centre {
                        (f - left) / (centre - left)
                    } else {
                        (right - f) / (right - centre)
                    }
                };
                let first = (0..bins).find(|&b| weight(b) > 0.0).unwrap_or(0);
                let last = (0..bins).rev().find(|&b| weight(b) > 0.0).unwrap_or(first);
                (first, (first..=last).map(weight).collect())
            })
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(cfg.n_fft);
        Self {
            cfg,
            hann,
            filters,
            fft,
        }
    }

    pub fn config(&self) -> &MelConfig {
        &self.cfg
    }

    /// The windowed DFT as convolution kernels, `[2 * bins, 1, window]`: each bin's cosine, then
    /// each bin's sine, times the Hann window (a frame zero-padded to `n_fft` sees only these
    /// taps), so that the squares of a strided convolution's outputs summed per bin are the power.
    pub fn dft_kernels(&self) -> Vec<f32> {
        let (n_fft, window) = (self.cfg.n_fft, self.cfg.window);
        let bins = n_fft / 2 + 1;
        let mut out = Vec::with_capacity(2 * bins * window);
        for part in [f64::cos, f64::sin] {
            for k in 0..bins {
                out.extend((0..window).map(|n| {
                    let angle = std::f64::consts::TAU * (k * n % n_fft) as f64 / n_fft as f64;
                    (part(angle) * self.hann[n] as f64) as f32
                }));
            }
        }
        out
    }

    /// The mel filters as a dense `[bins, n_mels]` matrix.
    pub fn filter_matrix(&self) -> Vec<f32> {
        let bins = self.cfg.n_fft / 2 + 1;
        let n_mels = self.filters.len();
        let mut out = vec![0.0; bins * n_mels];
        for (m, (first, weights)) in self.filters.iter().enumerate() {
            for (k, &w) in weights.iter().enumerate() {
                out[(first + k) * n_mels + m] = w;
            }
        }
        out
    }

    /// The log-mel spectrogram of `clip`: one frame per hop that starts inside the clip (a clip
    /// shorter than a window gives one zero-padded frame).
    pub fn log_mel(&self, clip: &[f32]) -> LogMel {
        let cfg = &self.cfg;
        let frames = clip.len().saturating_sub(cfg.window).div_ceil(cfg.hop) + 1;
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut values = Vec::with_capacity(frames * cfg.n_mels);
        for t in 0..frames {
            input.fill(0.0);
            let start = t * cfg.hop;
            let end = (start + cfg.window).min(clip.len());
            for (i, (&x, &w)) in clip[start.min(end)..end].iter().zip(&self.hann).enumerate() {
                input[i] = x * w;
            }
            // Sizes come from the plan: the transform cannot fail.
            let _ = self.fft.process(&mut input, &mut spectrum);
            let power = |b: usize| spectrum[b].norm_sqr();
            values.extend(self.filters.iter().map(|(first, weights)| {
                let energy: f32 = weights
                    .iter()
                    .enumerate()
                    .map(|(k, w)| w * power(first + k))
                    .sum();
                energy.max(POWER_FLOOR).ln()
            }));
        }
        LogMel {
            values,
            frames,
            n_mels: cfg.n_mels,
        }
    }
}

/// The first `n` coefficients of the orthonormal DCT-II of each frame of `mel`: `frames` rows of
/// `n` values.
pub fn mfcc(mel: &LogMel, n: usize) -> Vec<f32> {
    let m = mel.n_mels;
    let basis: Vec<f32> = (0..n)
        .flat_map(|k| {
            let scale = if k == 0 {
                (1.0 / m as f32).sqrt()
            } else {
                (2.0 / m as f32).sqrt()
            };
            (0..m).map(move |j| {
                scale * (std::f32::consts::PI * k as f32 * (j as f32 + 0.5) / m as f32).cos()
            })
        })
        .collect();
    (0..mel.frames)
        .flat_map(|t| {
            let frame = mel.frame(t);
            let basis = &basis;
            (0..n).map(move |k| {
                basis[k * m..(k + 1) * m]
                    .iter()
                    .zip(frame)
                    .map(|(b, x)| b * x)
                    .sum()
            })
        })
        .collect()
}

/// The classical clip summary: each of the first `n` MFCCs' mean over the clip's frames, then
/// each one's deviation (`2 n` values).
pub fn mfcc_statistics(mel: &LogMel, n: usize) -> Vec<f32> {
    let c = mfcc(mel, n);
    let frames = mel.frames as f32;
    let mean: Vec<f32> = (0..n)
        .map(|k| (0..mel.frames).map(|t| c[t * n + k]).sum::<f32>() / frames)
        .collect();
    let deviation = (0..n).map(|k| {
        let var = (0..mel.frames)
            .map(|t| (c[t * n + k] - mean[k]).powi(2))
            .sum::<f32>()
            / frames;
        var.sqrt()
    });
    mean.iter().copied().chain(deviation).collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_dft_kernels_and_filter_matrix_give_log_mel_frame_for_frame() {
        let mel = MelSpectrogram::new(MelConfig::speech(8000));
        let cfg = mel.config().clone();
        let clip: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 0.3).collect();
        let want = mel.log_mel(&clip);
        let (kernels, filters) = (mel.dft_kernels(), mel.filter_matrix());
        let bins = cfg.n_fft / 2 + 1;
        for t in 0..want.frames {
            let start = t * cfg.hop;
            let sample = |n: usize| clip.get(start + n).copied().unwrap_or(0.0);
            let power: Vec<f32> = (0..bins)
                .map(|k| {
                    let part = |row: usize| -> f32 {
                        (0..cfg.window)
                            .map(|n| kernels[row * cfg.window + n] * sample(n))
                            .sum()
                    };
                    part(k).powi(2) + part(bins + k).powi(2)
                })
                .collect();
            // Energies agree to float32 rounding of the loudest band (the log magnifies the
            // rounding of bands far below it).
            let got: Vec<f32> = (0..cfg.n_mels)
                .map(|m| {
                    (0..bins)
                        .map(|k| power[k] * filters[k * cfg.n_mels + m])
                        .sum()
                })
                .collect();
            let expected: Vec<f32> = want.frame(t).iter().map(|v| v.exp()).collect();
            let loudest = expected.iter().copied().fold(0.0, f32::max);
            for (m, (g, e)) in got.iter().zip(&expected).enumerate() {
                assert!(
                    (g - e).abs() <= 1e-5 * loudest,
                    "frame {t} band {m}: {g} vs {e}"
                );
            }
        }
    }

    use super::*;

    fn tone(hz: f32, rate: u32, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn frames_follow_the_hop_and_a_tone_lights_the_band_holding_its_pitch() {
        let mel = MelSpectrogram::new(MelConfig::speech(8000));
        let cfg = mel.config().clone();
        assert_eq!((cfg.window, cfg.hop, cfg.n_fft), (200, 80, 256));
        let spec = mel.log_mel(&tone(1000.0, 8000, 8000));
        assert_eq!(spec.frames, (8000 - 200usize).div_ceil(80) + 1);
        // The band whose centre is nearest 1 kHz carries the most energy in every frame.
        let (lo, hi) = (hz_to_mel(cfg.f_min), hz_to_mel(cfg.f_max));
        let centre = |m: usize| mel_to_hz(lo + (hi - lo) * (m + 1) as f32 / 41.0);
        let nearest = (0..40)
            .min_by(|&a, &b| {
                (centre(a) - 1000.0)
                    .abs()
                    .total_cmp(&(centre(b) - 1000.0).abs())
            })
            .unwrap();
        for t in 1..spec.frames - 1 {
            let frame = spec.frame(t);
            let loudest = (0..40)
                .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
                .unwrap();
            assert_eq!(loudest, nearest, "frame {t}");
        }
        // A clip shorter than a window is one padded frame; silence sits at the floor.
        let short = mel.log_mel(&[0.0; 50]);
        assert_eq!(short.frames, 1);
        assert!(short.values.iter().all(|&v| v == POWER_FLOOR.ln()));
    }

    #[test]
    fn the_dct_of_a_flat_spectrum_is_its_first_coefficient_alone() {
        let flat = LogMel {
            values: vec![2.0; 3 * 40],
            frames: 3,
            n_mels: 40,
        };
        let c = mfcc(&flat, 13);
        assert!((c[0] - 2.0 * 40f32.sqrt()).abs() < 1e-4, "{}", c[0]);
        assert!(c[1..13].iter().all(|v| v.abs() < 1e-4), "{c:?}");
        let stats = mfcc_statistics(&flat, 13);
        assert_eq!(stats.len(), 26);
        assert!(
            stats[13..].iter().all(|v| v.abs() < 1e-4),
            "no deviation over time"
        );
        // Two pitches give two summaries.
        let mel = MelSpectrogram::new(MelConfig::speech(8000));
        let a = mfcc_statistics(&mel.log_mel(&tone(300.0, 8000, 4000)), 13);
        let b = mfcc_statistics(&mel.log_mel(&tone(2000.0, 8000, 4000)), 13);
        let distance: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum();
        assert!(distance > 1.0, "{distance}");
    }
}
