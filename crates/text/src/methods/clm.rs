//! clm: GPT's next-token prediction with a causal Transformer; the loss is the mean cross-entropy
//! of every position's next token (nats per token).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;

use serde::{Deserialize, Serialize};

use super::{Method, MethodSettings, StepOutput, TextInput, TextMethod, device_of};
use autodidact_core::train::limits::Settings;
use crate::batch::TokenBatch;
use crate::model::TextEncoder;


#[derive(Module, Debug)]
pub struct Clm {
    pub encoder: TextEncoder,
}

/// Mean next-token cross-entropy of `batch` (windows of a stream) under `encoder`.
pub fn next_token_loss(
    encoder: &TextEncoder,
    batch: &TokenBatch,
    train: bool,
    device: &Device,
) -> (Tensor<1>, Tensor<3>) {
    let (ids, _) = batch.tensors(device);
    let hidden = encoder.forward(ids, None, train);
    let [b, t, _] = hidden.dims();
    let logits = encoder.logits(hidden.clone());
    let vocab = logits.dims()[2];
    let loss = CrossEntropyLossConfig::new()
        .init(device)
        .forward(logits.reshape([b * t, vocab]), batch.next_tensor(device));
    (loss, hidden)
}

/// clm's settings: none of its own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClmConfig {}

impl MethodSettings for ClmConfig {
    fn validate(&self, _: &Settings) -> anyhow::Result<()> {
        Ok(())
    }
}

impl TextMethod for Clm {
    type Config = ClmConfig;

    fn new(_cfg: &ClmConfig, encoder: TextEncoder, _device: &Device) -> Self {
        Self { encoder }
    }

    fn causal() -> bool {
        true
    }

    fn input() -> TextInput {
        TextInput::Stream
    }
}

impl Method for Clm {
    type Batch = TokenBatch;
    type Encoder = TextEncoder;

    /// A language model's pooled states have a low uncentred spread by construction and it
    /// cannot collapse to a constant (it must predict different tokens).
    fn watches_collapse(&self) -> bool {
        false
    }

    fn step(&self, batch: TokenBatch, _seed: u64) -> StepOutput {
        let batch = &batch;
        let device = &device_of(self);
        let (loss, hidden) = next_token_loss(&self.encoder, batch, true, device);
        let [b, t, d] = hidden.dims();
        StepOutput::new(loss, hidden.narrow(1, t - 1, 1).reshape([b, d]))
    }

    fn encoder(&self) -> &TextEncoder {
        &self.encoder
    }
}
