//! `bench vit-step`: one MAE training step of `recipes/mnist-mae.toml` (forward, backward, AdamW
//! at 1e-3 with weight decay 0.05): the tiny ViT (width 128, 4 blocks of 4 heads) on 1x28x28
//! digits cut into 7x7 patches (16 tokens, 4 of them visible), the 64-wide 2-block decoder,
//! the normalised-pixel loss, batches of 128, a fresh mask every step. `bench/reference/bench.py
//! vit-step` times a PyTorch MAE of the same shapes.

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use serde_json::json;

use super::{BenchResult, pseudo_random, time_repeats};
use crate::encoders::{EncoderKind, ImageEncoder};
use crate::methods::mae::{Mae, MaeConfig};
use crate::methods::{ImageMethod, Method};
use crate::train::config::DeviceChoice;
use autodidact_core::train::seed::seeded_init;

/// Settings of the ViT step benchmark.
#[derive(Clone, Debug)]
pub struct VitStepBench {
    pub batch_size: usize,
    pub channels: usize,
    pub image_size: usize,
    pub patch: usize,
    pub warmup: usize,
    pub steps: usize,
    pub device: DeviceChoice,
    /// Burn's own operations instead of autodidact's kernels.
    pub plain_kernels: bool,
}

impl Default for VitStepBench {
    /// The MNIST recipe's shapes.
    fn default() -> Self {
        Self {
            batch_size: 128,
            channels: 1,
            image_size: 28,
            patch: 7,
            warmup: 3,
            steps: 20,
            device: DeviceChoice::Cpu,
            plain_kernels: false,
        }
    }
}

/// Measures the workload.
pub fn run(cfg: &VitStepBench) -> anyhow::Result<BenchResult> {
    if cfg.patch == 0 || !cfg.image_size.is_multiple_of(cfg.patch) {
        anyhow::bail!(
            "vit-step: --patch {} does not tile {}x{} images",
            cfg.patch,
            cfg.image_size,
            cfg.image_size
        );
    }
    autodidact_kernels::set_fused(!cfg.plain_kernels);
    let device = cfg.device.device()?.autodiff();
    let settings = MaeConfig {
        norm_pix_loss: true,
        ..MaeConfig::default()
    };
    let mut model = seeded_init(&device, 0, || {
        let encoder =
            ImageEncoder::with_vit_patch(EncoderKind::Vit, cfg.channels, cfg.patch, &device);
        <Mae as ImageMethod>::new(&settings, encoder, &device)
    });
    let mut optim = AdamWConfig::new()
        .with_weight_decay(0.05)
        .with_epsilon(1e-8)
        .init();
    let s = cfg.image_size;
    let shape = [cfg.batch_size, cfg.channels, s, s];
    let images = pseudo_random(cfg.batch_size * cfg.channels * s * s, 0);
    let mut losses = Vec::new();
    let mut step = 0u64;
    let times = time_repeats(cfg.warmup, cfg.steps, || {
        let x = Tensor::<4>::from_data(TensorData::new(images.clone(), shape), &device);
        let out = model.step(vec![x], step);
        step += 1;
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(1e-3, model.clone(), grads);
        // Reading the loss waits for the step to finish on asynchronous devices.
        losses.push(out.loss.into_scalar::<f32>() as f64);
    });
    if let Some(bad) = losses.iter().find(|l| !l.is_finite()) {
        anyhow::bail!("vit-step: the loss became {bad}");
    }
    Ok(BenchResult::from_times(
        "vit-step",
        cfg.batch_size,
        &times,
        json!({
            "batch_size": cfg.batch_size,
            "image": [cfg.channels, s, s],
            "patch": cfg.patch,
            "mask_ratio": settings.mask_ratio,
            "device": format!("{:?}", cfg.device).to_lowercase(),
            "parameters": model.num_params(),
            "kernels": if cfg.plain_kernels { "burn" } else { "fused" },
            "first_loss": losses.first(),
            "last_loss": losses.last(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_vit_step_bench_reports_its_steps_and_finite_losses() {
        let r = run(&VitStepBench {
            batch_size: 8,
            warmup: 1,
            steps: 3,
            ..Default::default()
        })
        .expect("bench runs");
        assert_eq!(r.repeats, 3);
        assert!(r.images_per_s > 0.0);
        // The normalised-pixel loss of an untrained decoder is about 1 per hidden value.
        let first = r.settings["first_loss"].as_f64().expect("first");
        assert!((0.5..2.0).contains(&first), "first loss {first}");
        assert_eq!(r.settings["image"], serde_json::json!([1, 28, 28]));
    }

    #[test]
    fn a_patch_that_does_not_tile_the_image_is_refused() {
        let err = run(&VitStepBench {
            patch: 5,
            ..Default::default()
        })
        .expect_err("refused");
        assert!(err.to_string().contains("--patch 5"), "{err}");
    }
}
