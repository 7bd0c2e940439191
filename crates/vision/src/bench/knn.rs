//! `bench knn`: weighted k-NN of 10,000 queries against 50,000 stored 256-d embeddings (k = 200).

use serde_json::json;

use super::{BenchResult, pseudo_random, time_repeats};
use autodidact_core::eval::Embeddings;
use autodidact_core::eval::knn::{KnnConfig, knn_predict};

/// Settings of the k-NN benchmark.
#[derive(Clone, Debug)]
pub struct KnnBench {
    pub queries: usize,
    pub bank: usize,
    pub dim: usize,
    pub classes: usize,
    pub warmup: usize,
    pub repeats: usize,
}

impl Default for KnnBench {
    fn default() -> Self {
        Self {
            queries: 10_000,
            bank: 50_000,
            dim: 256,
            classes: 10,
            warmup: 1,
            repeats: 3,
        }
    }
}

/// Measures the workload; `images_per_s` counts queries.
pub fn run(cfg: &KnnBench) -> anyhow::Result<BenchResult> {
    let bank = Embeddings::new(pseudo_random(cfg.bank * cfg.dim, 11), cfg.bank, cfg.dim);
    let queries = Embeddings::new(
        pseudo_random(cfg.queries * cfg.dim, 12),
        cfg.queries,
        cfg.dim,
    );
    let labels: Vec<u32> = (0..cfg.bank).map(|i| (i % cfg.classes) as u32).collect();
    let knn = KnnConfig::default();
    let times = time_repeats(cfg.warmup, cfg.repeats, || {
        std::hint::black_box(knn_predict(&bank, &labels, cfg.classes, &queries, &knn));
    });
    Ok(BenchResult::from_times(
        "knn",
        cfg.queries,
        &times,
        json!({
            "queries": cfg.queries,
            "bank": cfg.bank,
            "dim": cfg.dim,
            "k": knn.k,
            "temperature": knn.temperature,
        }),
    ))
}
