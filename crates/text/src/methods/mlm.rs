//! mlm: BERT's masked language modelling. 15% of each text's tokens are selected (80% of them
//! replaced by `[MASK]`, 10% by a random token, 10% kept), the bidirectional Transformer
//! predicts the selected tokens; the loss counts only them. Texts are packed into full rows (each
//! attending only to itself), as RoBERTa packs sentences, so short texts do not waste a batch on
//! padding.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use serde::{Deserialize, Serialize};

use super::{Method, MethodSettings, StepOutput, TextInput, TextMethod, device_of};
use autodidact_core::train::limits::{self, Settings};
use crate::batch::TokenBatch;
use crate::masking::mlm_mask;
use crate::model::TextEncoder;


#[derive(Module, Debug)]
pub struct Mlm {
    pub encoder: TextEncoder,
    /// Share of the tokens selected for prediction.
    pub select: f64,
    pub vocab: usize,
}

/// The masked inputs of `batch` and, for the selected positions, their row-major indices and
/// original tokens.
pub fn mask_batch(
    batch: &TokenBatch,
    vocab: usize,
    select: f64,
    seed: u64,
) -> (TokenBatch, Vec<i64>, Vec<i64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut masked = batch.clone();
    let (mut positions, mut targets) = (Vec::new(), Vec::new());
    for b in 0..batch.batch {
        let row = b * batch.len;
        let n = batch.valid[row..row + batch.len]
            .iter()
            .filter(|&&v| v > 0.0)
            .count();
        let tokens: Vec<u32> = batch.ids[row..row + n].iter().map(|&t| t as u32).collect();
        let (inputs, target) = mlm_mask(&tokens, vocab, select, &mut rng);
        for (t, (&input, &target)) in inputs.iter().zip(&target).enumerate() {
            masked.ids[row + t] = input as i64;
            if target >= 0 {
                positions.push((row + t) as i64);
                targets.push(target);
            }
        }
    }
    (masked, positions, targets)
}

/// mlm's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MlmConfig {
    /// Share of the tokens selected for prediction (BERT's 15%).
    pub mask_ratio: f64,
}

impl Default for MlmConfig {
    fn default() -> Self {
        Self { mask_ratio: 0.15 }
    }
}

impl MethodSettings for MlmConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real("method_config.mask_ratio", self.mask_ratio, limits::SHARE)
    }
}

impl TextMethod for Mlm {
    type Config = MlmConfig;

    fn new(cfg: &MlmConfig, encoder: TextEncoder, _device: &Device) -> Self {
        let vocab = encoder.vocab_size();
        Self {
            encoder,
            select: cfg.mask_ratio,
            vocab,
        }
    }

    fn causal() -> bool {
        false
    }

    fn input() -> TextInput {
        TextInput::Packed
    }
}

impl Method for Mlm {
    type Batch = TokenBatch;
    type Encoder = TextEncoder;

    /// A language model's pooled states have a low uncentred spread by construction and it
    /// cannot collapse to a constant (it must predict different tokens).
    fn watches_collapse(&self) -> bool {
        false
    }

    fn step(&self, batch: TokenBatch, seed: u64) -> StepOutput {
        let batch = &batch;
        let device = &device_of(self);
        let (masked, positions, targets) = mask_batch(batch, self.vocab, self.select, seed);
        let (ids, valid) = masked.tensors(device);
        let hidden = match masked.packing(device) {
            Some((positions, bias)) => self.encoder.forward_with(ids, positions, bias, true),
            None => self.encoder.forward(ids, Some(valid.clone()), true),
        };
        let [b, t, d] = hidden.dims();
        let n = positions.len();
        let picked = hidden.clone().reshape([b * t, d]).select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(positions, [n]), device),
        );
        let logits = self
            .encoder
            .logits(picked.unsqueeze::<3>())
            .reshape([n, self.vocab]);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), device);
        let loss = CrossEntropyLossConfig::new()
            .init(device)
            .forward(logits, targets);
        StepOutput::new(loss, TextEncoder::mean_pool(hidden, valid))
    }

    fn encoder(&self) -> &TextEncoder {
        &self.encoder
    }
}
