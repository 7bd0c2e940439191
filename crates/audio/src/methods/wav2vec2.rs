//! wav2vec 2.0 (Baevski et al. 2020): spans of the waveform's frames are hidden behind a learned
//! vector before the context network; for each hidden frame the network must pick its
//! quantized latent (from the product quantizer, straight-through Gumbel softmax) among
//! distractors drawn from other hidden frames of the same clip. Loss: the contrastive term
//! (cosine similarities over a temperature), the diversity term on the codebook use, and the
//! feature penalty on the feature encoder's output, whose gradient is scaled down as fairseq's.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::{AfterStep, AudioMethod, Method, MethodSettings, StepOutput, device_of};
use crate::batch::{ClipBatch, masked_mean};
use crate::wav2vec2::masking::{sample_distractors, span_mask};
use crate::wav2vec2::model::{Wav2Vec2Encoder, Wav2Vec2Sizes};
use crate::wav2vec2::quantizer::{Quantizer, diversity_loss, perplexities};
use autodidact_core::losses::l2_normalize;
use autodidact_core::train::limits::{self, Settings};

/// Names of the per-group perplexities in `metrics.jsonl` (at most this many groups).
const PERPLEXITY: [&str; 8] = [
    "perplexity_0",
    "perplexity_1",
    "perplexity_2",
    "perplexity_3",
    "perplexity_4",
    "perplexity_5",
    "perplexity_6",
    "perplexity_7",
];
/// Below this share of its entries a group's perplexity is reported as collapsing.
pub const HEALTHY_PERPLEXITY_SHARE: f64 = 0.1;

/// wav2vec 2.0's settings; defaults sized for short clips and two cores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Wav2Vec2Config {
    pub sizes: Wav2Vec2Sizes,
    /// Chance that a frame starts a hidden span (fairseq's `mask_prob`).
    pub mask_prob: f64,
    /// Frames per hidden span (fairseq's 10 is half a short digit; 5 here).
    pub mask_span: usize,
    /// Spans hidden in every clip at least.
    pub min_spans: usize,
    /// Distractors per hidden frame.
    pub distractors: usize,
    /// Temperature of the cosine similarities.
    pub logit_temperature: f64,
    pub codebook_groups: usize,
    pub codebook_entries: usize,
    /// Width of a concatenated codeword.
    pub codeword_dim: usize,
    /// Width both sides are projected to before the similarities.
    pub final_dim: usize,
    /// Weight of the diversity loss (the paper's alpha).
    pub diversity_weight: f64,
    /// Weight of the feature penalty (mean square of the feature encoder's output). fairseq's
    /// base uses 10; at this size and run length any weight from 1 up drove the features to
    /// zero before the LayerNorm within 50 steps, leaving the quantizer pure noise and the
    /// contrastive loss at chance (ln 11), so the default is off.
    pub feature_penalty: f64,
    /// Factor on the gradient that reaches the feature encoder.
    pub feature_grad_scale: f64,
    /// Gumbel temperature: `max(start * decay^step, end)`.
    pub gumbel_start: f64,
    pub gumbel_end: f64,
    pub gumbel_decay: f64,
}

impl Default for Wav2Vec2Config {
    fn default() -> Self {
        Self {
            sizes: Wav2Vec2Sizes::default(),
            mask_prob: 0.1,
            mask_span: 5,
            min_spans: 2,
            distractors: 10,
            logit_temperature: 0.1,
            codebook_groups: 2,
            codebook_entries: 32,
            codeword_dim: 128,
            final_dim: 128,
            diversity_weight: 0.1,
            feature_penalty: 0.0,
            feature_grad_scale: 0.1,
            gumbel_start: 2.0,
            gumbel_end: 0.5,
            // fairseq's 0.999995 spans 400k updates; a CPU run of a few thousand reaches the
            // end temperature after about 1,400.
            gumbel_decay: 0.999,
        }
    }
}

impl MethodSettings for Wav2Vec2Config {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        self.sizes.validate(s)?;
        s.real("method_config.mask_prob", self.mask_prob, limits::SHARE)?;
        s.int("method_config.mask_span", self.mask_span, 1..=1000)?;
        s.int("method_config.min_spans", self.min_spans, 0..=1000)?;
        s.int("method_config.distractors", self.distractors, 1..=1000)?;
        s.real("method_config.logit_temperature", self.logit_temperature, limits::TEMPERATURE)?;
        s.int("method_config.codebook_groups", self.codebook_groups, 1..=PERPLEXITY.len())?;
        s.int("method_config.codebook_entries", self.codebook_entries, 2..=65_536)?;
        s.int("method_config.codeword_dim", self.codeword_dim, limits::WIDTH)?;
        s.int("method_config.final_dim", self.final_dim, limits::WIDTH)?;
        s.real("method_config.diversity_weight", self.diversity_weight, limits::LOSS_WEIGHT)?;
        s.real("method_config.feature_penalty", self.feature_penalty, limits::LOSS_WEIGHT)?;
        s.real("method_config.feature_grad_scale", self.feature_grad_scale, limits::Real::closed(0.0, 1.0))?;
        s.real("method_config.gumbel_start", self.gumbel_start, limits::Real::closed(0.01, 100.0))?;
        s.real("method_config.gumbel_end", self.gumbel_end, limits::Real::closed(0.01, 100.0))?;
        s.real("method_config.gumbel_decay", self.gumbel_decay, limits::MOMENTUM)?;
        if !self.codeword_dim.is_multiple_of(self.codebook_groups) {
            anyhow::bail!(
                "{}: method_config.codeword_dim ({}) must be a multiple of codebook_groups ({})",
                s.source(),
                self.codeword_dim,
                self.codebook_groups
            );
        }
        Ok(())
    }
}

#[derive(Module, Debug)]
pub struct Wav2Vec2 {
    pub encoder: Wav2Vec2Encoder,
    /// What a hidden frame's input becomes, `[D]`.
    pub mask_embedding: Param<Tensor<1>>,
    pub quantizer: Quantizer,
    /// Codewords -> `final_dim`.
    pub project_q: Linear,
    /// Context outputs -> `final_dim`.
    pub final_proj: Linear,
    /// Optimiser steps taken, `[1]`, without gradient (the Gumbel temperature's clock; in the
    /// module so that a resumed run continues the schedule).
    pub updates: Param<Tensor<1>>,
    pub mask_prob: f64,
    pub mask_span: usize,
    pub min_spans: usize,
    pub distractors: usize,
    pub logit_temperature: f64,
    pub diversity_weight: f64,
    pub feature_penalty: f64,
    pub feature_grad_scale: f64,
    pub gumbel: [f64; 3],
}

impl AudioMethod for Wav2Vec2 {
    type Config = Wav2Vec2Config;

    fn build_encoder(cfg: &Wav2Vec2Config, device: &Device) -> Wav2Vec2Encoder {
        Wav2Vec2Encoder::new(&cfg.sizes, device)
    }

    fn new(cfg: &Wav2Vec2Config, encoder: Wav2Vec2Encoder, device: &Device) -> Self {
        let (c, d) = (encoder.feature_dim(), encoder.d_model());
        Self {
            mask_embedding: Param::from_tensor(Tensor::random(
                [d],
                burn::tensor::Distribution::Uniform(0.0, 1.0),
                device,
            )),
            quantizer: Quantizer::new(
                c,
                cfg.codebook_groups,
                cfg.codebook_entries,
                cfg.codeword_dim,
                device,
            ),
            project_q: LinearConfig::new(cfg.codeword_dim, cfg.final_dim).init(device),
            final_proj: LinearConfig::new(d, cfg.final_dim).init(device),
            updates: Param::from_tensor(Tensor::zeros([1], device)).set_require_grad(false),
            encoder,
            mask_prob: cfg.mask_prob,
            mask_span: cfg.mask_span,
            min_spans: cfg.min_spans,
            distractors: cfg.distractors,
            logit_temperature: cfg.logit_temperature,
            diversity_weight: cfg.diversity_weight,
            feature_penalty: cfg.feature_penalty,
            feature_grad_scale: cfg.feature_grad_scale,
            gumbel: [cfg.gumbel_start, cfg.gumbel_end, cfg.gumbel_decay],
        }
    }
}

impl Wav2Vec2 {
    /// The Gumbel temperature after `updates` optimiser steps.
    pub fn gumbel_temperature(&self, updates: f64) -> f64 {
        let [start, end, decay] = self.gumbel;
        (start * decay.powf(updates)).max(end)
    }
}

/// The hidden frames of a batch and the distractors of each.
struct Targets {
    /// Flat `b * T + t` index of every hidden frame, clip by clip.
    hidden: Vec<i64>,
    /// Rows of `hidden` that are scored (their clip has another hidden frame to contrast with).
    scored: Vec<i64>,
    /// `distractors` rows of `hidden` for each scored row.
    negatives: Vec<i64>,
    /// Hidden frames over valid frames.
    hidden_share: f64,
}

impl Targets {
    fn draw(frames: &[usize], t: usize, m: &Wav2Vec2, rng: &mut StdRng) -> Self {
        let (mut hidden, mut scored, mut negatives) = (Vec::new(), Vec::new(), Vec::new());
        for (b, &n) in frames.iter().enumerate() {
            let mask = span_mask(n, m.mask_prob, m.mask_span, m.min_spans, rng);
            let start = hidden.len();
            hidden.extend(
                mask.iter()
                    .enumerate()
                    .filter(|(_, hide)| **hide)
                    .map(|(i, _)| (b * t + i) as i64),
            );
            let count = hidden.len() - start;
            if let Some(draws) = sample_distractors(count, m.distractors, rng) {
                for (i, row) in draws.into_iter().enumerate() {
                    scored.push((start + i) as i64);
                    negatives.extend(row.into_iter().map(|j| (start + j) as i64));
                }
            }
        }
        let valid: usize = frames.iter().sum();
        Self {
            hidden_share: hidden.len() as f64 / valid.max(1) as f64,
            hidden,
            scored,
            negatives,
        }
    }
}

impl Wav2Vec2 {
    /// The contrastive loss of the scored hidden frames and the share whose positive ranks
    /// first. `predicted` and `latents` hold one row per hidden frame; `codes` their codebook
    /// entries (`groups` per row).
    fn contrast(
        &self,
        predicted: Tensor<2>,
        latents: Tensor<2>,
        codes: &[usize],
        targets: &Targets,
    ) -> (Tensor<1>, f64) {
        let device = &predicted.device();
        let (rows, k) = (targets.scored.len(), self.distractors);
        let scored = index(&targets.scored, device);
        let predicted = l2_normalize(predicted.select(0, scored.clone()));
        let positive = l2_normalize(latents.clone().select(0, scored));
        let f = positive.dims()[1];
        let negatives = l2_normalize(latents.select(0, index(&targets.negatives, device)))
            .reshape([rows, k, f]);
        let pos = (predicted.clone() * positive).sum_dim(1);
        let neg = (predicted.reshape([rows, 1, f]) * negatives)
            .sum_dim(2)
            .reshape([rows, k]);
        // A distractor with the positive's codes is the positive's own vector: out of the
        // softmax, as fairseq's `neg_is_pos`.
        let groups = self.quantizer.groups();
        let mut excluded = vec![false; rows * (k + 1)];
        for (row, &r) in targets.scored.iter().enumerate() {
            let own = &codes[r as usize * groups..][..groups];
            for j in 0..k {
                let n = targets.negatives[row * k + j] as usize;
                excluded[row * (k + 1) + 1 + j] = &codes[n * groups..][..groups] == own;
            }
        }
        let excluded =
            Tensor::<2, Bool>::from_data(TensorData::new(excluded, [rows, k + 1]), device);
        let logits = Tensor::cat(vec![pos, neg], 1)
            .div_scalar(self.logit_temperature)
            .mask_fill(excluded, -1e9);
        let values: Vec<f32> = logits.clone().into_data().iter::<f32>().collect();
        let first = values
            .chunks(k + 1)
            .filter(|row| row[1..].iter().all(|&v| v < row[0]))
            .count();
        let loss = log_softmax(logits, 1).narrow(1, 0, 1).mean().neg();
        (loss, first as f64 / rows as f64)
    }
}

fn index(values: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

impl Method for Wav2Vec2 {
    type Batch = ClipBatch;
    type Encoder = Wav2Vec2Encoder;

    fn step(&self, batch: ClipBatch, seed: u64) -> StepOutput {
        let device = &device_of(self);
        let mut rng = StdRng::seed_from_u64(seed);
        let enc = &self.encoder;
        let waves = enc.wave_batch(&batch.clips);
        let features = enc.conv_features(waves.tensor(device));
        let [b, t, c] = features.dims();
        let s = self.feature_grad_scale;
        let features = features.clone().detach() * (1.0 - s) + features * s;
        let frames: Vec<usize> = waves.lengths.iter().map(|&l| enc.frames(l).max(1)).collect();
        let valid = enc.frame_mask(&waves.lengths, t, device);
        let valid3 = valid.clone().reshape([b, t, 1]);
        let penalty = (features.clone().square() * valid3.clone()).sum()
            / (valid.clone().sum() * c as f64).clamp_min(1.0);

        let normalized = enc.normalize(features);
        let targets = Targets::draw(&frames, t, self, &mut rng);
        let mut hide = vec![0.0f32; b * t];
        for &i in &targets.hidden {
            hide[i as usize] = 1.0;
        }
        let hide = Tensor::<3>::from_data(TensorData::new(hide, [b, t, 1]), device);
        let x = enc.project(normalized.clone());
        let d = x.dims()[2];
        let mask_vector = self.mask_embedding.val().reshape([1, 1, d]);
        let x = x * (hide.clone().neg() + 1.0) + hide * mask_vector;
        let states = enc.context(x, valid.clone());
        let context = states.last().expect("at least one block").clone();
        let pooled = masked_mean(context.clone(), valid);

        let hidden = index(&targets.hidden, device);
        let predicted = self
            .final_proj
            .forward(context.reshape([b * t, d]).select(0, hidden.clone()));
        let updates: f64 = self.updates.val().into_scalar::<f32>() as f64;
        let tau = self.gumbel_temperature(updates);
        let quantized = self.quantizer.forward(
            normalized.reshape([b * t, c]).select(0, hidden),
            tau,
            true,
        );
        let latents = self.project_q.forward(quantized.vectors);
        let (contrastive, accuracy) = if targets.scored.is_empty() {
            (Tensor::zeros([1], device), 0.0)
        } else {
            self.contrast(predicted, latents, &quantized.codes, &targets)
        };
        let perplexity: Vec<f32> = perplexities(quantized.mean_probs.clone())
            .into_data()
            .iter::<f32>()
            .collect();
        let diversity = diversity_loss(quantized.mean_probs);
        let loss = contrastive + diversity * self.diversity_weight + penalty * self.feature_penalty;
        let mut out = StepOutput::new(loss, pooled)
            .with_metric("contrastive_accuracy", accuracy)
            .with_metric("chance_accuracy", 1.0 / (self.distractors + 1) as f64)
            .with_metric("hidden_share", targets.hidden_share)
            .with_metric("gumbel_temperature", tau);
        for (g, p) in perplexity.iter().enumerate() {
            out = out.with_metric(PERPLEXITY[g], *p as f64);
        }
        out
    }

    fn after_step(mut self, at: AfterStep, _carry: Vec<Tensor<2>>) -> Self {
        let device = self.updates.val().device();
        self.updates = Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![at.step as f32], [1]),
            &device,
        ))
        .set_require_grad(false);
        self
    }

    fn encoder(&self) -> &Wav2Vec2Encoder {
        &self.encoder
    }

    /// The contrastive task's own features are not expected to spread like an embedding's; the
    /// codebook's use is watched instead ([`Method::health`]).
    fn watches_collapse(&self) -> bool {
        false
    }

    fn health(&self, metrics: &[(&'static str, f64)]) -> Option<String> {
        let entries = self.quantizer.entries() as f64;
        let low: Vec<String> = metrics
            .iter()
            .filter(|(name, value)| {
                name.starts_with("perplexity_") && *value < HEALTHY_PERPLEXITY_SHARE * entries
            })
            .map(|(name, value)| format!("{name} {value:.1}"))
            .collect();
        (!low.is_empty()).then(|| {
            format!(
                "the codebook is collapsing toward one entry per group ({} of {entries} entries; raise method_config.diversity_weight)",
                low.join(", ")
            )
        })
    }
}
