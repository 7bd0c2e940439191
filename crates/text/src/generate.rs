//! Sampling from a next-token model: temperature and top-k, seeded.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::model::TextEncoder;

/// How to sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleConfig {
    /// Tokens to generate.
    pub tokens: usize,
    /// Divides the logits; below 1 sharpens, above 1 flattens; 0 takes the most likely token.
    pub temperature: f64,
    /// Sample among the `top_k` most likely tokens only (0: all).
    pub top_k: usize,
    pub seed: u64,
}

/// Continues `prompt` (token ids, at least one) by `cfg.tokens` sampled tokens; returns only the
/// new tokens. The model sees at most its last `max_len` tokens.
pub fn sample(
    encoder: &TextEncoder,
    prompt: &[u32],
    cfg: &SampleConfig,
    device: &Device,
) -> Vec<u32> {
    let encoder = encoder.valid();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut context: Vec<u32> = prompt.to_vec();
    let mut out = Vec::with_capacity(cfg.tokens);
    for _ in 0..cfg.tokens {
        let window = &context[context.len().saturating_sub(encoder.max_len())..];
        let ids = Tensor::<2, Int>::from_data(
            TensorData::new(
                window.iter().map(|&t| t as i64).collect::<Vec<_>>(),
                [1, window.len()],
            ),
            device,
        );
        let hidden = encoder.forward(ids, None, false);
        let [_, t, d] = hidden.dims();
        let logits = encoder.logits(hidden.narrow(1, t - 1, 1).reshape([1, 1, d]));
        let logits: Vec<f32> = logits
            .flatten::<1>(0, 2)
            .into_data()
            .iter::<f32>()
            .collect();
        let next = pick(&logits, cfg, &mut rng);
        out.push(next);
        context.push(next);
    }
    out
}

/// One token from `logits` under temperature and top-k.
fn pick(logits: &[f32], cfg: &SampleConfig, rng: &mut StdRng) -> u32 {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if cfg.temperature <= 0.0 {
        return order[0] as u32;
    }
    let k = if cfg.top_k == 0 {
        order.len()
    } else {
        cfg.top_k.min(order.len())
    };
    let top = &order[..k];
    let scaled: Vec<f32> = top
        .iter()
        .map(|&i| logits[i] / cfg.temperature as f32)
        .collect();
    let probs = softmax(
        Tensor::<1>::from_data(TensorData::new(scaled, [k]), &Device::flex()),
        0,
    );
    let probs: Vec<f32> = probs.into_data().iter::<f32>().collect();
    let mut u = rng.random::<f32>();
    for (&i, &p) in top.iter().zip(&probs) {
        if u < p {
            return i as u32;
        }
        u -= p;
    }
    top[k - 1] as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_and_temperature_limit_the_choices() {
        let logits = [0.0f32, 5.0, 4.9, -3.0, 1.0];
        let mut rng = StdRng::seed_from_u64(0);
        let greedy = SampleConfig {
            tokens: 1,
            temperature: 0.0,
            top_k: 0,
            seed: 0,
        };
        assert_eq!(pick(&logits, &greedy, &mut rng), 1);
        let top2 = SampleConfig {
            temperature: 1.0,
            top_k: 2,
            ..greedy.clone()
        };
        let mut seen = [0usize; 5];
        for _ in 0..2000 {
            seen[pick(&logits, &top2, &mut rng) as usize] += 1;
        }
        assert_eq!(seen[0] + seen[3] + seen[4], 0, "{seen:?}");
        // exp(0.1) : 1 is about 52.5 : 47.5.
        let share = seen[1] as f64 / 2000.0;
        assert!((share - 0.525).abs() < 0.04, "{seen:?}");
        let hot = SampleConfig {
            temperature: 100.0,
            top_k: 0,
            ..greedy
        };
        let mut seen = [0usize; 5];
        for _ in 0..2000 {
            seen[pick(&logits, &hot, &mut rng) as usize] += 1;
        }
        assert!(
            seen.iter().all(|&c| c > 300),
            "a high temperature flattens: {seen:?}"
        );
    }
}
