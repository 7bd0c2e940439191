//! `bench wav2vec2-step`: one wav2vec 2.0 pre-training step (forward, backward, AdamW at 1e-3)
//! of the default small model on a batch of 1 s clips at 8 kHz, the same masks and distractors
//! every step, as `bench/reference/bench.py wav2vec2-step` times Hugging Face's
//! `Wav2Vec2ForPreTraining` of the same configuration.

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use serde_json::json;

use crate::batch::ClipBatch;
use crate::methods::wav2vec2::{Wav2Vec2, Wav2Vec2Config};
use crate::methods::{AudioMethod, Method};
use autodidact_core::bench::{BenchResult, pseudo_random, time_repeats};
use autodidact_core::train::seed::seeded_init;
use autodidact_core::train::settings::DeviceChoice;

/// Settings of the step benchmark.
#[derive(Clone, Debug)]
pub struct Wav2Vec2StepBench {
    pub batch_size: usize,
    pub seconds: f64,
    pub rate: u32,
    pub warmup: usize,
    pub steps: usize,
    pub device: DeviceChoice,
}

impl Default for Wav2Vec2StepBench {
    fn default() -> Self {
        Self {
            batch_size: 8,
            seconds: 1.0,
            rate: 8000,
            warmup: 3,
            steps: 20,
            device: DeviceChoice::Cpu,
        }
    }
}

/// Measures the workload.
pub fn run(cfg: &Wav2Vec2StepBench) -> anyhow::Result<BenchResult> {
    let device = cfg.device.device()?.autodiff();
    let settings = Wav2Vec2Config::default();
    let mut model = seeded_init(&device, 0, || {
        Wav2Vec2::new(
            &settings,
            Wav2Vec2::build_encoder(&settings, &device),
            &device,
        )
    });
    let mut optim = AdamWConfig::new()
        .with_weight_decay(0.01)
        .with_epsilon(1e-8)
        .init();
    let samples = (cfg.seconds * cfg.rate as f64).round() as usize;
    let batch = ClipBatch {
        clips: (0..cfg.batch_size)
            .map(|i| pseudo_random(samples, i as u64))
            .collect(),
        rate: cfg.rate,
    };
    let mut losses = Vec::new();
    let times = time_repeats(cfg.warmup, cfg.steps, || {
        let out = model.step(batch.clone(), 0);
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(1e-3, model.clone(), grads);
        losses.push(out.loss.into_scalar::<f32>() as f64);
    });
    if let Some(bad) = losses.iter().find(|l| !l.is_finite()) {
        anyhow::bail!("wav2vec2-step: the loss became {bad}");
    }
    Ok(BenchResult::from_times(
        "wav2vec2-step",
        cfg.batch_size,
        &times,
        json!({
            "unit": "clips",
            "batch_size": cfg.batch_size,
            "seconds": cfg.seconds,
            "rate": cfg.rate,
            "frames": settings.sizes.frames(samples),
            "device": format!("{:?}", cfg.device).to_lowercase(),
            "parameters": model.num_params(),
            "first_loss": losses.first(),
            "last_loss": losses.last(),
        }),
    ))
}
