//! `bench simclr-step`: the issue-3 reference workload. One SimCLR step on a batch of RGB 32x32
//! images (two views, so 2 x batch images through the encoder), head Linear 256->256, ReLU,
//! Linear 256->128 (no BatchNorm, as in the PyTorch reference), NT-Xent at T = 0.5, Adam lr 1e-3.

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use serde_json::json;

use super::{BenchResult, pseudo_random, time_repeats};
use crate::encoders::{EncoderKind, ImageEncoder};
use crate::methods::Method;
use crate::methods::simclr::SimClr;
use crate::train::config::DeviceChoice;
use autodidact_core::heads::MlpHead;
use autodidact_core::train::seed::seeded_init;

/// Settings of the SimCLR step benchmark.
#[derive(Clone, Debug)]
pub struct SimclrStepBench {
    pub encoder: EncoderKind,
    pub batch_size: usize,
    pub image_size: usize,
    pub warmup: usize,
    pub steps: usize,
    pub device: DeviceChoice,
    /// Burn's own layers instead of the hand-written kernels.
    pub plain_kernels: bool,
}

impl Default for SimclrStepBench {
    fn default() -> Self {
        Self {
            encoder: EncoderKind::Cnn,
            batch_size: 128,
            image_size: 32,
            warmup: 3,
            steps: 20,
            device: DeviceChoice::Cpu,
            plain_kernels: false,
        }
    }
}

/// The reference model: the encoder, the BatchNorm-free head of the PyTorch script, T = 0.5.
pub fn reference_model(encoder: EncoderKind, device: &Device) -> SimClr {
    let encoder = ImageEncoder::new(encoder, 3, device);
    let projector = MlpHead::new(&[encoder.out_dim(), 256, 128], false, device);
    SimClr {
        encoder,
        projector,
        temperature: 0.5,
    }
}

/// Runs `steps` SimCLR steps on fixed inputs and returns their losses (the numerics check) along
/// with the per-step times in seconds of all steps after `warmup`.
pub fn run_steps(cfg: &SimclrStepBench) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    autodidact_kernels::set_fused(!cfg.plain_kernels);
    let device = cfg.device.device()?.autodiff();
    let mut model = seeded_init(&device, 0, || reference_model(cfg.encoder, &device));
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let s = cfg.image_size;
    let shape = [cfg.batch_size, 3, s, s];
    let views: Vec<Vec<f32>> = (0..2)
        .map(|v| pseudo_random(cfg.batch_size * 3 * s * s, v))
        .collect();
    let mut losses = Vec::new();
    let times = time_repeats(cfg.warmup, cfg.steps, || {
        let inputs = views
            .iter()
            .map(|v| Tensor::<4>::from_data(TensorData::new(v.clone(), shape), &device))
            .collect();
        let out = model.step(inputs, 0);
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(1e-3, model.clone(), grads);
        // Reading the loss waits for the step to finish on asynchronous devices.
        losses.push(out.loss.into_scalar::<f32>() as f64);
    });
    Ok((losses, times))
}

/// Measures the workload.
pub fn run(cfg: &SimclrStepBench) -> anyhow::Result<BenchResult> {
    let (losses, times) = run_steps(cfg)?;
    if let Some(bad) = losses.iter().find(|l| !l.is_finite()) {
        anyhow::bail!("simclr-step: the loss became {bad}");
    }
    Ok(BenchResult::from_times(
        "simclr-step",
        2 * cfg.batch_size,
        &times,
        json!({
            "encoder": format!("{:?}", cfg.encoder).to_lowercase(),
            "batch_size": cfg.batch_size,
            "image_size": cfg.image_size,
            "device": format!("{:?}", cfg.device).to_lowercase(),
            "kernels": if cfg.plain_kernels { "burn" } else { "fused" },
            "first_loss": losses.first(),
            "last_loss": losses.last(),
        }),
    ))
}
