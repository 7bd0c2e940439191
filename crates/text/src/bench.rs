//! `bench text-step` and `bench mlm-step`: one training step (forward, backward, AdamW at 1e-3)
//! of the text Transformer at a recipe's real shapes, on fixed token ids, as
//! `bench/reference/bench.py` times a PyTorch model of the same shapes.
//!
//! - `text-step`: `recipes/tinyshakespeare-clm.toml`'s causal LM (`mini`, 4 x 192, 4 heads,
//!   context 128, batch 32, 65 characters), every position's next token.
//! - `mlm-step`: `recipes/sst2-mlm.toml`'s masked LM (`mini`, context 64, batch 64 rows, 8,000
//!   WordPiece pieces), each row packed with texts of the lengths in [`PACKED_LENGTHS`] (SST-2's
//!   sentences run about 13 pieces), a token attending only to its own text; BERT's 15% selection
//!   and the loss on the selected tokens only.
//!
//! Tokens per second go in the `images_per_s` field.

use burn::optim::{AdamWConfig, GradientsParams};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::batch::TokenBatch;
use crate::methods::clm::Clm;
use crate::methods::mlm::Mlm;
use crate::methods::{Method, StepOutput};
use crate::model::{TextEncoder, TransformerConfig};
use autodidact_core::bench::{BenchResult, time_repeats};
use autodidact_core::train::seed::seeded_init;
use autodidact_core::train::settings::DeviceChoice;

/// Which objective the step trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextObjective {
    /// Next-token prediction, causal attention (`text-step`).
    Clm,
    /// Masked language modelling on packed rows (`mlm-step`).
    Mlm,
}

/// The lengths of the texts packed into each `mlm-step` row, in turn (the last one of a row is
/// cut at the row's end).
pub const PACKED_LENGTHS: [usize; 6] = [12, 9, 20, 15, 8, 14];

/// Settings of the step benchmark.
#[derive(Clone, Debug)]
pub struct TextStepBench {
    pub objective: TextObjective,
    /// A size preset of [`TransformerConfig::preset`].
    pub model: String,
    pub batch_size: usize,
    pub context: usize,
    pub vocab: usize,
    pub warmup: usize,
    pub steps: usize,
    pub device: DeviceChoice,
    /// Burn's own operations instead of autodidact's kernels (attention, GELU).
    pub plain_kernels: bool,
}

impl TextStepBench {
    /// The recipe's shapes for `objective`.
    pub fn recipe(objective: TextObjective) -> Self {
        let (batch_size, context, vocab) = match objective {
            TextObjective::Clm => (32, 128, 65),
            TextObjective::Mlm => (64, 64, 8000),
        };
        Self {
            objective,
            model: "mini".into(),
            batch_size,
            context,
            vocab,
            warmup: 3,
            steps: 20,
            device: DeviceChoice::Cpu,
            plain_kernels: false,
        }
    }

    fn name(&self) -> &'static str {
        match self.objective {
            TextObjective::Clm => "text-step",
            TextObjective::Mlm => "mlm-step",
        }
    }
}

/// Token ids in `first..vocab`, fixed by `seed` (ids below `first` are the special pieces).
fn token_ids(len: usize, first: usize, vocab: usize, seed: u64) -> Vec<i64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len)
        .map(|_| rng.random_range(first..vocab) as i64)
        .collect()
}

/// A causal-LM batch: `batch` windows of `len` ids with their next ids.
pub fn stream_batch(batch: usize, len: usize, vocab: usize) -> TokenBatch {
    let ids = token_ids(batch * (len + 1), 0, vocab, 1);
    let rows: Vec<&[i64]> = ids.chunks(len + 1).collect();
    TokenBatch {
        ids: rows.iter().flat_map(|r| r[..len].to_vec()).collect(),
        next: rows.iter().flat_map(|r| r[1..].to_vec()).collect(),
        valid: vec![1.0; batch * len],
        segments: Vec::new(),
        batch,
        len,
    }
}

/// Full rows of `len` ids, each packed with texts of [`PACKED_LENGTHS`] in turn.
pub fn packed_batch(batch: usize, len: usize, vocab: usize) -> TokenBatch {
    let mut segments = Vec::with_capacity(batch * len);
    let mut next_length = PACKED_LENGTHS.iter().cycle();
    for _ in 0..batch {
        let (mut filled, mut segment) = (0, 0u32);
        while filled < len {
            let n = (*next_length.next().expect("cycle")).min(len - filled);
            segment += 1;
            segments.extend(std::iter::repeat_n(segment, n));
            filled += n;
        }
    }
    TokenBatch {
        // The special pieces (padding, [CLS], [SEP], [MASK], unknown) stay out of the inputs.
        ids: token_ids(batch * len, 5.min(vocab - 1), vocab, 1),
        next: Vec::new(),
        valid: vec![1.0; batch * len],
        segments,
        batch,
        len,
    }
}

/// Measures the workload.
pub fn run(cfg: &TextStepBench) -> anyhow::Result<BenchResult> {
    let name = cfg.name();
    autodidact_kernels::set_fused(!cfg.plain_kernels);
    let mut sizes = TransformerConfig::preset(&cfg.model)
        .ok_or_else(|| anyhow::anyhow!("{name}: no model size {:?}", cfg.model))?;
    sizes.max_len = cfg.context;
    let device = cfg.device.device()?.autodiff();
    let causal = cfg.objective == TextObjective::Clm;
    let encoder = || TextEncoder::new(cfg.vocab, &sizes, causal, &device);
    let batch = match cfg.objective {
        TextObjective::Clm => stream_batch(cfg.batch_size, cfg.context, cfg.vocab),
        TextObjective::Mlm => packed_batch(cfg.batch_size, cfg.context, cfg.vocab),
    };
    let (losses, times, parameters) = match cfg.objective {
        TextObjective::Clm => {
            let model = seeded_init(&device, 0, || Clm { encoder: encoder() });
            train_steps(model, &batch, cfg)
        }
        TextObjective::Mlm => {
            let model = seeded_init(&device, 0, || Mlm {
                encoder: encoder(),
                select: 0.15,
                vocab: cfg.vocab,
            });
            train_steps(model, &batch, cfg)
        }
    };
    if let Some(bad) = losses.iter().find(|l| !l.is_finite()) {
        anyhow::bail!("{name}: the loss became {bad}");
    }
    Ok(BenchResult::from_times(
        name,
        cfg.batch_size * cfg.context,
        &times,
        json!({
            "model": cfg.model,
            "batch_size": cfg.batch_size,
            "context": cfg.context,
            "vocab": cfg.vocab,
            "device": format!("{:?}", cfg.device).to_lowercase(),
            "parameters": parameters,
            "unit": "tokens",
            "kernels": if cfg.plain_kernels { "burn" } else { "fused" },
            "first_loss": losses.first(),
            "last_loss": losses.last(),
        }),
    ))
}

/// Trains `model` on `batch` for the warm-up and timed steps: the losses, the timed steps'
/// seconds and the parameter count. Each step draws its own masks (MLM), as in training.
fn train_steps<M: Method<Batch = TokenBatch>>(
    mut model: M,
    batch: &TokenBatch,
    cfg: &TextStepBench,
) -> (Vec<f64>, Vec<f64>, usize) {
    let mut optim = AdamWConfig::new()
        .with_weight_decay(0.01)
        .with_epsilon(1e-8)
        .init();
    let mut losses = Vec::new();
    let mut step = 0u64;
    let times = time_repeats(cfg.warmup, cfg.steps, || {
        let out: StepOutput = model.step(batch.clone(), step);
        step += 1;
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(1e-3, model.clone(), grads);
        // Reading the loss waits for the step to finish on asynchronous devices.
        losses.push(out.loss.into_scalar::<f32>() as f64);
    });
    (losses, times, burn::module::Module::num_params(&model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_rows_fill_the_context_with_texts_of_the_listed_lengths() {
        let b = packed_batch(2, 40, 100);
        assert_eq!(b.ids.len(), 80);
        assert!(b.ids.iter().all(|&t| (5..100).contains(&t)));
        let row = &b.segments[..40];
        // 12 + 9 + 19 (20 cut at the row's end)
        assert_eq!(row.iter().filter(|&&s| s == 1).count(), 12);
        assert_eq!(row.iter().filter(|&&s| s == 2).count(), 9);
        assert_eq!(row.iter().filter(|&&s| s == 3).count(), 19);
        // The next row goes on with the next length (15).
        assert_eq!(b.segments[40..].iter().filter(|&&s| s == 1).count(), 15);
    }

    #[test]
    fn stream_batch_targets_are_the_inputs_shifted_by_one() {
        let b = stream_batch(3, 10, 65);
        for row in 0..3 {
            assert_eq!(
                b.ids[row * 10 + 1..row * 10 + 10],
                b.next[row * 10..row * 10 + 9]
            );
        }
        assert!(b.ids.iter().all(|&t| (0..65).contains(&t)));
    }

    fn short(objective: TextObjective) -> BenchResult {
        run(&TextStepBench {
            model: "tiny".into(),
            batch_size: 4,
            context: 24,
            vocab: 40,
            warmup: 0,
            steps: 8,
            ..TextStepBench::recipe(objective)
        })
        .expect("bench runs")
    }

    #[test]
    fn a_short_clm_bench_learns_its_fixed_batch() {
        let r = short(TextObjective::Clm);
        let first = r.settings["first_loss"].as_f64().expect("first loss");
        let last = r.settings["last_loss"].as_f64().expect("last loss");
        assert!(last < first, "{first} -> {last}");
        assert_eq!((r.repeats, r.bench.as_str()), (8, "text-step"));
    }

    #[test]
    fn a_short_mlm_bench_starts_near_the_uniform_loss() {
        // A fresh mask every step, so the loss need not fall in 8 steps; it starts near ln 40.
        let r = short(TextObjective::Mlm);
        let first = r.settings["first_loss"].as_f64().expect("first loss");
        assert!((first - 40f64.ln()).abs() < 0.5, "first loss {first}");
        assert_eq!((r.repeats, r.bench.as_str()), (8, "mlm-step"));
        assert!(r.images_per_s > 0.0);
    }
}
