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
use std::time::Instant;

use autodidact_core::collective::{
    average_gradients_and, broadcast_module, current, exchanged_values,
};
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

/// What [`run_steps`] measured.
pub struct StepTimes {
    /// The loss of every step (the global batch's mean over the ranks).
    pub losses: Vec<f64>,
    /// Seconds of each step after the warm-up.
    pub times: Vec<f64>,
    /// Seconds of each timed step's gradient exchange (none in one process).
    pub exchange: Vec<f64>,
    /// Bytes each rank contributes to one exchange.
    pub exchange_bytes: usize,
}

/// Runs `steps` SimCLR steps on fixed inputs and returns their losses (the numerics check) along
/// with the per-step times in seconds of all steps after `warmup`. Under MPI each rank takes
/// its slice of the batch (global negatives) and the ranks average their gradients, as in a
/// data-parallel run.
pub fn run_steps(cfg: &SimclrStepBench) -> anyhow::Result<StepTimes> {
    autodidact_kernels::set_fused(!cfg.plain_kernels);
    let world = current();
    let (rank, size) = (world.rank(), world.size());
    if !cfg.batch_size.is_multiple_of(size) {
        anyhow::bail!(
            "--batch-size {} does not split evenly over {size} ranks",
            cfg.batch_size
        );
    }
    let device = cfg.device.device()?.autodiff();
    let model = seeded_init(&device, 0, || reference_model(cfg.encoder, &device));
    let mut model = broadcast_module(model, world.as_ref(), 0)?;
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let s = cfg.image_size;
    let per_rank = cfg.batch_size / size;
    let image = 3 * s * s;
    let shape = [per_rank, 3, s, s];
    let views: Vec<Vec<f32>> = (0..2)
        .map(|v| pseudo_random(cfg.batch_size * image, v))
        .map(|v| v[rank * per_rank * image..(rank + 1) * per_rank * image].to_vec())
        .collect();
    let mut losses = Vec::new();
    let mut exchange = Vec::new();
    let mut failed = None;
    let times = time_repeats(cfg.warmup, cfg.steps, || {
        if failed.is_some() {
            return;
        }
        let inputs = views
            .iter()
            .map(|v| Tensor::<4>::from_data(TensorData::new(v.clone(), shape), &device))
            .collect();
        let out = model.step(inputs, 0);
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        // Reading the loss waits for the step to finish on asynchronous devices.
        let mut loss = [out.loss.into_scalar::<f32>()];
        let started = Instant::now();
        let grads = match average_gradients_and(&model, grads, &mut loss, world.as_ref()) {
            Ok(grads) => grads,
            Err(err) => {
                failed = Some(err);
                return;
            }
        };
        exchange.push(started.elapsed().as_secs_f64());
        model = optim.step(1e-3, model.clone(), grads);
        losses.push(loss[0] as f64);
    });
    if let Some(err) = failed {
        return Err(err.into());
    }
    Ok(StepTimes {
        losses,
        exchange: if size > 1 {
            exchange[exchange.len() - times.len()..].to_vec()
        } else {
            Vec::new()
        },
        exchange_bytes: if size > 1 {
            exchanged_values(&model, 1) * size_of::<f32>()
        } else {
            0
        },
        times,
    })
}

/// Measures the workload.
pub fn run(cfg: &SimclrStepBench) -> anyhow::Result<BenchResult> {
    let StepTimes {
        losses,
        times,
        exchange,
        exchange_bytes,
    } = run_steps(cfg)?;
    if let Some(bad) = losses.iter().find(|l| !l.is_finite()) {
        anyhow::bail!("simclr-step: the loss became {bad}");
    }
    let mut sorted = exchange.clone();
    sorted.sort_by(f64::total_cmp);
    let exchange_ms = sorted.get(sorted.len() / 2).map(|s| s * 1e3);
    Ok(BenchResult::from_times(
        "simclr-step",
        2 * cfg.batch_size,
        &times,
        json!({
            "ranks": current().size(),
            "exchange_ms_median": exchange_ms,
            "exchange_bytes_per_rank": exchange_bytes,
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
