//! `bench forward`: encoder inference throughput (eval mode, no autodiff) on RGB images.

use burn::prelude::*;
use serde_json::json;

use super::{BenchResult, pseudo_random, time_repeats};
use crate::encoders::{EncoderKind, ImageEncoder};
use crate::train::config::DeviceChoice;
use autodidact_core::train::seed::seeded_init;

/// Settings of the forward benchmark.
#[derive(Clone, Debug)]
pub struct ForwardBench {
    pub encoder: EncoderKind,
    pub batch_size: usize,
    pub image_size: usize,
    pub warmup: usize,
    pub repeats: usize,
    pub device: DeviceChoice,
    /// Burn's own layers instead of the hand-written kernels.
    pub plain_kernels: bool,
}

impl Default for ForwardBench {
    fn default() -> Self {
        Self {
            encoder: EncoderKind::Cnn,
            batch_size: 256,
            image_size: 32,
            warmup: 3,
            repeats: 20,
            device: DeviceChoice::Cpu,
            plain_kernels: false,
        }
    }
}

/// Measures the workload.
pub fn run(cfg: &ForwardBench) -> anyhow::Result<BenchResult> {
    autodidact_kernels::set_fused(!cfg.plain_kernels);
    let device = cfg.device.device()?;
    let encoder = seeded_init(&device, 0, || ImageEncoder::new(cfg.encoder, 3, &device)).valid();
    let s = cfg.image_size;
    let input = pseudo_random(cfg.batch_size * 3 * s * s, 1);
    let shape = [cfg.batch_size, 3, s, s];
    let times = time_repeats(cfg.warmup, cfg.repeats, || {
        let x = Tensor::<4>::from_data(TensorData::new(input.clone(), shape), &device);
        // Reading the result back waits for asynchronous devices and is part of inference.
        let out = encoder.forward(x).into_data();
        std::hint::black_box(out);
    });
    Ok(BenchResult::from_times(
        "forward",
        cfg.batch_size,
        &times,
        json!({
            "encoder": format!("{:?}", cfg.encoder).to_lowercase(),
            "batch_size": cfg.batch_size,
            "image_size": cfg.image_size,
            "device": format!("{:?}", cfg.device).to_lowercase(),
        }),
    ))
}
