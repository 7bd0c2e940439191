//! An audio encoder trained with a linear classifier on labelled clips: the supervised baseline
//! (a fresh encoder of the run's architecture, from scratch) and the `finetune` protocol (the
//! pre-trained encoder), one routine for both so they differ only in where they start.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::AudioSet;
use crate::augment::random_crop;
use crate::encoder::AudioEncoding;
use crate::train::batch_indices;
use autodidact_core::eval::knn::accuracy;
use autodidact_core::train::optim::{OptimizerConfig, build_optimizer};
use autodidact_core::train::seed::{mix, seeded_init};
use burn::optim::GradientsParams;

/// Clips per forward pass when predicting.
const PREDICT_BATCH: usize = 32;
/// Stream of the training crops.
const CROP_STREAM: u64 = 0x0053_5550_4552;

/// How the encoder and its classifier train: AdamW at a constant rate, `epochs` passes over the
/// labelled clips (between `min_steps` and `max_steps` optimiser steps), crops of at most
/// `max_seconds`.
#[derive(Clone, Debug, PartialEq)]
pub struct SupervisedConfig {
    pub epochs: usize,
    pub min_steps: usize,
    pub max_steps: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub max_seconds: f64,
    pub seed: u64,
}

impl Default for SupervisedConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            min_steps: 200,
            max_steps: 1000,
            batch_size: 16,
            lr: 1e-3,
            max_seconds: 1.0,
            seed: 0,
        }
    }
}

impl SupervisedConfig {
    /// Optimiser steps for `n` labelled clips.
    pub fn steps(&self, n: usize) -> usize {
        let per_epoch = n.div_ceil(self.batch_size.max(1));
        (self.epochs * per_epoch).clamp(self.min_steps, self.max_steps)
    }

    pub fn describe(&self) -> String {
        format!(
            "supervised training (baseline from scratch, finetune from the run): AdamW {} for {} epochs of batch {} ({}..{} steps), crops of at most {} s",
            self.lr, self.epochs, self.batch_size, self.min_steps, self.max_steps, self.max_seconds
        )
    }
}

#[derive(Module, Debug)]
struct Classifier<E: Module> {
    encoder: E,
    head: Linear,
}

/// Trains `encoder` (on an autodiff device) with a fresh linear head on the clips `labelled` of
/// `train`, and returns its accuracy on `test`.
pub fn train_and_test<E: AudioEncoding>(
    encoder: E,
    train: &AudioSet,
    labelled: &[usize],
    test: &AudioSet,
    cfg: &SupervisedConfig,
) -> anyhow::Result<f64> {
    let (Some(labels), Some(test_labels)) = (&train.labels, &test.labels) else {
        anyhow::bail!("supervised training needs labelled train and test clips");
    };
    if labelled.is_empty() {
        anyhow::bail!("supervised training needs at least one labelled clip");
    }
    let classes = train.num_classes().max(test.num_classes());
    let device = autodidact_core::method::device_of(&encoder);
    let dim = encoder.dim();
    let mut model = Classifier {
        head: seeded_init(&device, cfg.seed, || {
            LinearConfig::new(dim, classes).init(&device)
        }),
        encoder,
    };
    let mut optim = build_optimizer(&OptimizerConfig {
        lr: cfg.lr,
        weight_decay: 0.01,
        warmup_fraction: 0.0,
        ..OptimizerConfig::default()
    });
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let batch = cfg.batch_size.clamp(1, labelled.len());
    let max_len = (cfg.max_seconds * train.rate as f64).round() as usize;
    for step in 0..cfg.steps(labelled.len()) {
        let idx: Vec<usize> = batch_indices(labelled.len(), batch, cfg.seed, step)
            .into_iter()
            .map(|i| labelled[i])
            .collect();
        let crops = mix(cfg.seed ^ CROP_STREAM, step as u64);
        let clips: Vec<Vec<f32>> = idx
            .iter()
            .enumerate()
            .map(|(i, &c)| random_crop(&train.clips[c], max_len, mix(crops, i as u64)))
            .collect();
        let y: Vec<i64> = idx.iter().map(|&i| labels[i] as i64).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [idx.len()]), &device);
        let logits = model.head.forward(model.encoder.embed(&clips, train.rate));
        let loss = loss_fn.forward(logits, y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(cfg.lr, model, grads);
    }
    let model = model.valid();
    let mut predictions = Vec::with_capacity(test.len());
    for chunk in test.clips.chunks(PREDICT_BATCH) {
        let logits = model.head.forward(model.encoder.embed(chunk, test.rate));
        predictions.extend(logits.argmax(1).into_data().iter::<i64>().map(|p| p as u32));
    }
    Ok(accuracy(&predictions, test_labels))
}
