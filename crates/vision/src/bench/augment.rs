//! `bench augment`: SimCLR augmentation throughput on 32x32 RGB images, on a fixed number of
//! threads (one by default: the acceptance figure is per core).

use serde_json::json;

use super::{BenchResult, time_repeats};
use crate::augment::image::{AugmentConfig, augment_batch};
use crate::data::ImageSet;

/// Settings of the augmentation benchmark.
#[derive(Clone, Debug)]
pub struct AugmentBench {
    pub images: usize,
    pub image_size: usize,
    pub threads: usize,
    pub warmup: usize,
    pub repeats: usize,
}

impl Default for AugmentBench {
    fn default() -> Self {
        Self {
            images: 2048,
            image_size: 32,
            threads: 1,
            warmup: 1,
            repeats: 5,
        }
    }
}

/// A set of `n` RGB images with smooth random content (blur and crops see realistic values).
fn synthetic_rgb(n: usize, size: usize) -> ImageSet {
    let pixels = super::pseudo_random(n * 3 * size * size, 3)
        .into_iter()
        .map(|v| ((v + 1.0) * 127.5) as u8)
        .collect();
    ImageSet {
        pixels,
        channels: 3,
        height: size,
        width: size,
        labels: None,
        class_names: Vec::new(),
    }
}

/// Measures the workload.
pub fn run(cfg: &AugmentBench) -> anyhow::Result<BenchResult> {
    let set = synthetic_rgb(cfg.images, cfg.image_size);
    let aug = AugmentConfig::simclr(3, cfg.image_size);
    let indices: Vec<usize> = (0..cfg.images).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()?;
    let mut seed = 0;
    let times = pool.install(|| {
        time_repeats(cfg.warmup, cfg.repeats, || {
            seed += 1;
            std::hint::black_box(augment_batch(&set, &indices, &aug, seed));
        })
    });
    Ok(BenchResult::from_times(
        "augment",
        cfg.images,
        &times,
        json!({
            "images": cfg.images,
            "image_size": cfg.image_size,
            "threads": cfg.threads,
            "preset": "simclr rgb",
        }),
    ))
}
