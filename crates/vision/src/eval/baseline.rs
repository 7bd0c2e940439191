//! The supervised-from-scratch baseline: the same encoder architecture, randomly initialised,
//! trained with labels on exactly the labelled samples the SSL evaluation gets.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::augment::image::{AugmentConfig, augment_batch, normalise_batch};
use crate::data::ImageSet;
use crate::encoders::ImageEncoder;
use autodidact_core::train::optim::{OptimizerConfig, OptimizerKind, build_optimizer};
use autodidact_core::train::seed::mix;
use autodidact_core::train::seed::seeded_init;

/// The fixed training budget of the baseline, the same for every label budget.
#[derive(Clone, Debug, PartialEq)]
pub struct BaselineConfig {
    /// Epochs over the labelled samples ...
    pub epochs: usize,
    /// ... but no more optimiser steps than this (large label sets on a CPU).
    pub max_steps: usize,
    /// Largest mini-batch (smaller label sets train full-batch).
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    pub seed: u64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            max_steps: 3000,
            batch_size: 64,
            optimizer: OptimizerConfig {
                kind: OptimizerKind::Adamw,
                lr: 2e-3,
                weight_decay: 5e-4,
                momentum: 0.9,
                warmup_fraction: 0.05,
            },
            seed: 0,
        }
    }
}

impl BaselineConfig {
    /// Optimiser steps and batch size for `n` labelled samples.
    pub fn schedule(&self, n: usize) -> (usize, usize) {
        let batch = self.batch_size.min(n).max(1);
        let steps = (self.epochs * n).div_ceil(batch);
        (steps.clamp(1, self.max_steps), batch)
    }

    /// One line for reports: what the baseline was given.
    pub fn describe(&self) -> String {
        format!(
            "supervised baseline: same encoder from scratch + linear head, trained on the same \
             labelled images with the same SimCLR augmentations for {} epochs (at most {} steps, \
             batch <= {}), AdamW lr {} wd {}",
            self.epochs,
            self.max_steps,
            self.batch_size,
            self.optimizer.lr,
            self.optimizer.weight_decay,
        )
    }
}

#[derive(Module, Debug)]
struct Classifier {
    encoder: ImageEncoder,
    head: Linear,
}

impl Classifier {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.encoder.forward(x))
    }
}

/// Trains the baseline, a fresh encoder of `like`'s architecture and a linear head, on `train`
/// (all labelled) and returns its accuracy on `test`.
pub fn supervised_baseline(
    like: &ImageEncoder,
    train: &ImageSet,
    test: &ImageSet,
    size: usize,
    cfg: &BaselineConfig,
    device: &Device,
) -> anyhow::Result<f64> {
    let (Some(train_labels), Some(test_labels)) = (&train.labels, &test.labels) else {
        anyhow::bail!("the supervised baseline needs labelled train and test images");
    };
    let num_classes = train.num_classes().max(test.num_classes());
    let device = device.clone().autodiff();
    let mut model = seeded_init(&device, cfg.seed, || {
        let encoder = like.untrained(train.channels, &device);
        let head = LinearConfig::new(encoder.out_dim(), num_classes).init(&device);
        Classifier { encoder, head }
    });
    let mut optim = build_optimizer(&cfg.optimizer);
    let aug = AugmentConfig::simclr(train.channels, size);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);

    let n = train.len();
    let (steps, batch) = cfg.schedule(n);
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = Vec::new();
    for step in 0..steps {
        if order.len() < batch {
            let mut epoch: Vec<usize> = (0..n).collect();
            epoch.shuffle(&mut rng);
            order.extend(epoch);
        }
        let idx: Vec<usize> = order.drain(..batch).collect();
        let pixels = augment_batch(train, &idx, &aug, mix(cfg.seed, step as u64));
        let x = Tensor::<4>::from_data(
            TensorData::new(pixels, [batch, train.channels, size, size]),
            &device,
        );
        let y = Tensor::<1, Int>::from_data(
            TensorData::new(
                idx.iter()
                    .map(|&i| train_labels[i] as i64)
                    .collect::<Vec<_>>(),
                [batch],
            ),
            &device,
        );
        let loss = loss_fn.forward(model.forward(x), y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = cfg.optimizer.lr_at(step, Some(steps));
        model = optim.step(lr, model, grads);
    }

    let model = model.valid();
    let plain = device.without_autodiff();
    let mut correct = 0usize;
    let all: Vec<usize> = (0..test.len()).collect();
    for chunk in all.chunks(500) {
        let x = Tensor::<4>::from_data(
            TensorData::new(
                normalise_batch(test, chunk, size),
                [chunk.len(), test.channels, size, size],
            ),
            &plain,
        );
        let pred = model.forward(x).argmax(1).into_data();
        let pred = pred
            .try_into_vec_as::<i64>()
            .expect("argmax gives integers");
        correct += chunk
            .iter()
            .zip(pred)
            .filter(|&(&i, p)| test_labels[i] as i64 == p)
            .count();
    }
    Ok(correct as f64 / test.len().max(1) as f64)
}
