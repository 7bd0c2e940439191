//! BYOL for Audio (Niizumi et al. 2021): two views of each clip (random crops, mixed with
//! another clip of the batch, gain, noise, then log-mel with time and frequency masks); the
//! online spectrogram CNN, projector and predictor regress the projection of the other view made
//! by a momentum (EMA) target. The loss, the EMA and its cosine schedule are the vision BYOL's
//! (`autodidact_core::{losses, ema}`).

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{AfterStep, AudioMethod, Method, MethodSettings, StepOutput, device_of};
use crate::augment::{add_noise, gain, mask_frequency, mask_time, random_crop};
use crate::batch::{ClipBatch, MelBatch};
use crate::encoder::AudioEncoder;
use crate::features::{LogMel, MelConfig, MelSpectrogram};
use autodidact_core::ema::{cosine_momentum, ema_update, momentum_copy};
use autodidact_core::heads::MlpHead;
use autodidact_core::losses::byol_loss;
use autodidact_core::train::limits::{self, Settings};

/// BYOL-A's settings: the heads, the target's momentum, the views' augmentations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AudioByolConfig {
    pub proj_hidden: usize,
    pub proj_dim: usize,
    pub pred_hidden: usize,
    /// Where the target's cosine momentum schedule starts (it ends at 1).
    pub ema_momentum: f64,
    /// Length of each view's random crop, in seconds.
    pub crop_seconds: f64,
    /// Largest share of another clip mixed into a view (BYOL-A's mixup ratio).
    pub mix_ratio: f64,
    /// Gain drawn uniformly in `[-gain_db, gain_db]`.
    pub gain_db: f64,
    /// Noise drawn at an SNR uniform in `[min_snr_db, 40]` dB.
    pub min_snr_db: f64,
    /// Time masks (count, frames) and frequency masks (count, bands) on each view.
    pub time_masks: usize,
    pub time_mask_frames: usize,
    pub freq_masks: usize,
    pub freq_mask_bands: usize,
}

impl Default for AudioByolConfig {
    fn default() -> Self {
        Self {
            proj_hidden: 512,
            proj_dim: 128,
            pred_hidden: 512,
            ema_momentum: 0.99,
            crop_seconds: 0.8,
            mix_ratio: 0.4,
            gain_db: 6.0,
            min_snr_db: 10.0,
            time_masks: 2,
            time_mask_frames: 8,
            freq_masks: 2,
            freq_mask_bands: 6,
        }
    }
}

impl MethodSettings for AudioByolConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.int("method_config.proj_hidden", self.proj_hidden, limits::WIDTH)?;
        s.int("method_config.proj_dim", self.proj_dim, limits::WIDTH)?;
        s.int("method_config.pred_hidden", self.pred_hidden, limits::WIDTH)?;
        s.real("method_config.ema_momentum", self.ema_momentum, limits::MOMENTUM)?;
        s.real("method_config.crop_seconds", self.crop_seconds, limits::Real::closed(0.05, 60.0))?;
        s.real("method_config.mix_ratio", self.mix_ratio, limits::Real::closed(0.0, 0.5))?;
        s.real("method_config.gain_db", self.gain_db, limits::Real::closed(0.0, 40.0))?;
        s.real("method_config.min_snr_db", self.min_snr_db, limits::Real::closed(-10.0, 40.0))?;
        s.int("method_config.time_masks", self.time_masks, 0..=100)?;
        s.int("method_config.time_mask_frames", self.time_mask_frames, 0..=1000)?;
        s.int("method_config.freq_masks", self.freq_masks, 0..=100)?;
        s.int("method_config.freq_mask_bands", self.freq_mask_bands, 0..=1000)
    }
}

#[derive(Module, Debug)]
pub struct AudioByol {
    pub encoder: AudioEncoder,
    pub projector: MlpHead,
    pub predictor: MlpHead,
    pub target_encoder: AudioEncoder,
    pub target_projector: MlpHead,
    pub base_momentum: f64,
    pub crop_seconds: f64,
    pub mix_ratio: f64,
    pub gain_db: f64,
    pub min_snr_db: f64,
    pub masks: [usize; 4],
}

impl AudioMethod for AudioByol {
    type Config = AudioByolConfig;

    fn build_encoder(_cfg: &AudioByolConfig, device: &Device) -> AudioEncoder {
        AudioEncoder::new(device)
    }

    fn new(cfg: &AudioByolConfig, encoder: AudioEncoder, device: &Device) -> Self {
        let dim = encoder.out_dim();
        let projector = MlpHead::new(&[dim, cfg.proj_hidden, cfg.proj_dim], true, device);
        let predictor = MlpHead::new(&[cfg.proj_dim, cfg.pred_hidden, cfg.proj_dim], true, device);
        Self {
            target_encoder: momentum_copy(&encoder),
            target_projector: momentum_copy(&projector),
            encoder,
            projector,
            predictor,
            base_momentum: cfg.ema_momentum,
            crop_seconds: cfg.crop_seconds,
            mix_ratio: cfg.mix_ratio,
            gain_db: cfg.gain_db,
            min_snr_db: cfg.min_snr_db,
            masks: [
                cfg.time_masks,
                cfg.time_mask_frames,
                cfg.freq_masks,
                cfg.freq_mask_bands,
            ],
        }
    }
}

impl AudioByol {
    /// One augmented view of `clips[i]`, drawn from `rng`.
    fn view(&self, batch: &ClipBatch, i: usize, mel: &MelSpectrogram, rng: &mut StdRng) -> LogMel {
        let len = (self.crop_seconds * batch.rate as f64).round() as usize;
        let mut clip = random_crop(&batch.clips[i], len, rng.random());
        if self.mix_ratio > 0.0 && batch.clips.len() > 1 {
            let other = (i + rng.random_range(1..batch.clips.len())) % batch.clips.len();
            let other = random_crop(&batch.clips[other], clip.len(), rng.random());
            let ratio = rng.random_range(0.0..=self.mix_ratio) as f32;
            for (v, o) in clip.iter_mut().zip(&other) {
                *v = (1.0 - ratio) * *v + ratio * o;
            }
        }
        let db = rng.random_range(-self.gain_db..=self.gain_db) as f32;
        let snr = rng.random_range(self.min_snr_db..=40.0) as f32;
        let clip = add_noise(&gain(&clip, db), snr, rng.random());
        let mut spectrogram = mel.log_mel(&clip);
        let [time_masks, time_frames, freq_masks, freq_bands] = self.masks;
        mask_time(&mut spectrogram, time_masks, time_frames, rng.random());
        mask_frequency(&mut spectrogram, freq_masks, freq_bands, rng.random());
        spectrogram
    }

    fn online(&self, x: Tensor<4>, lengths: &[usize]) -> (Tensor<2>, Tensor<2>) {
        let z = self.projector.forward(self.encoder.forward(x, lengths));
        (z.clone(), self.predictor.forward(z))
    }

    fn target(&self, x: Tensor<4>, lengths: &[usize]) -> Tensor<2> {
        self.target_projector
            .forward(self.target_encoder.forward(x.detach(), lengths))
            .detach()
    }
}

impl Method for AudioByol {
    type Batch = ClipBatch;
    type Encoder = AudioEncoder;

    fn step(&self, batch: ClipBatch, seed: u64) -> StepOutput {
        let device = &device_of(self);
        let mut rng = StdRng::seed_from_u64(seed);
        let mel = MelSpectrogram::new(MelConfig::speech(batch.rate));
        let mut views = [Vec::new(), Vec::new()];
        for i in 0..batch.clips.len() {
            for view in views.iter_mut() {
                view.push(self.view(&batch, i, &mel, &mut rng));
            }
        }
        let [v1, v2] = views.map(|v| MelBatch::new(&v));
        let (x1, x2) = (v1.tensor(device), v2.tensor(device));
        let (z1, p1) = self.online(x1.clone(), &v1.lengths);
        let (_, p2) = self.online(x2.clone(), &v2.lengths);
        let (t1, t2) = (self.target(x1, &v1.lengths), self.target(x2, &v2.lengths));
        let loss = byol_loss(p1, t2) + byol_loss(p2, t1);
        StepOutput::new(loss, z1)
    }

    fn encoder(&self) -> &AudioEncoder {
        &self.encoder
    }

    fn after_step(mut self, at: AfterStep, _carry: Vec<Tensor<2>>) -> Self {
        let m = cosine_momentum(self.base_momentum, at.progress);
        self.target_encoder = ema_update(self.target_encoder, &self.encoder, m);
        self.target_projector = ema_update(self.target_projector, &self.projector, m);
        self
    }
}
