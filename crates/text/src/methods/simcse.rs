//! simcse: unsupervised SimCSE (Gao et al. 2021). Each sentence is encoded twice; the two
//! dropout masks are the only difference between the views, which are positives; the batch's
//! other sentences are negatives (InfoNCE on cosine similarities, temperature 0.05). The sentence
//! embedding is the mean of the token states, as evaluation uses it.

use burn::prelude::*;

use serde::{Deserialize, Serialize};

use super::{Method, MethodSettings, StepOutput, TextInput, TextMethod, device_of};
use autodidact_core::losses;
use autodidact_core::train::limits::{self, Settings};
use crate::batch::TokenBatch;
use crate::model::TextEncoder;


#[derive(Module, Debug)]
pub struct SimCse {
    pub encoder: TextEncoder,
    pub temperature: f64,
}

/// simcse's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimCseConfig {
    /// Softmax temperature of the contrastive loss (the paper's 0.05).
    pub temperature: f64,
}

impl Default for SimCseConfig {
    fn default() -> Self {
        Self { temperature: 0.05 }
    }
}

impl MethodSettings for SimCseConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real(
            "method_config.temperature",
            self.temperature,
            limits::TEMPERATURE,
        )
    }
}

impl TextMethod for SimCse {
    type Config = SimCseConfig;

    fn new(cfg: &SimCseConfig, encoder: TextEncoder, _device: &Device) -> Self {
        Self {
            encoder,
            temperature: cfg.temperature,
        }
    }

    fn causal() -> bool {
        false
    }

    fn input() -> TextInput {
        TextInput::Texts
    }
}

impl Method for SimCse {
    type Batch = TokenBatch;
    type Encoder = TextEncoder;

    fn step(&self, batch: TokenBatch, _seed: u64) -> StepOutput {
        let batch = &batch;
        let device = &device_of(self);
        let (ids, valid) = batch.tensors(device);
        // Two passes draw two dropout masks from the step's generator.
        let view = || {
            let hidden = self.encoder.forward(ids.clone(), Some(valid.clone()), true);
            TextEncoder::mean_pool(hidden, valid.clone())
        };
        let (z1, z2) = (view(), view());
        StepOutput::new(losses::info_nce(z1.clone(), z2, self.temperature), z1)
    }

    fn encoder(&self) -> &TextEncoder {
        &self.encoder
    }
}
