//! Evaluation the UCR way: pre-train on the train split without labels, fit a classifier on the
//! frozen representation of (a share of) the train labels, report test accuracy; beside it the
//! same encoder trained from scratch on the same labels.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;

use super::SeriesSet;
use super::batch::{Scaler, SeriesBatch};
use super::encoder::{SeriesEncoder, SeriesEncoderConfig};
use super::train::{SeriesRunConfig, batch_indices};
use autodidact_core::eval::Embeddings;
use autodidact_core::eval::knn::{KnnConfig, accuracy, knn_predict};
use autodidact_core::eval::linear::{LinearProbeConfig, linear_probe};
use autodidact_core::eval::protocol::Protocol;
use autodidact_core::eval::report::EvalResult;
use autodidact_core::eval::svm::{SvmConfig, svm_predict};
use autodidact_core::split::sample_fraction;
use autodidact_core::train::seed::mix;
use autodidact_core::train::seed::seeded_init;

/// Stream of the baseline's dropout masks.
const DROPOUT_STREAM: u64 = 0x4452_4f50;
/// Series per forward pass when embedding.
const EMBED_BATCH: usize = 64;

/// The instance representations of every series of `set`, `[N, out_dim]`.
pub fn embed_series(
    encoder: &SeriesEncoder,
    set: &SeriesSet,
    scaler: &Scaler,
    device: &Device,
) -> Embeddings {
    let encoder = encoder.valid();
    let dim = encoder.out_dim();
    let mut data = Vec::with_capacity(set.len() * dim);
    let all: Vec<usize> = (0..set.len()).collect();
    for chunk in all.chunks(EMBED_BATCH) {
        let (x, valid) = SeriesBatch::gather(set, chunk, scaler).tensors(device);
        let z = encoder.forward(x, valid);
        data.extend(z.into_data().iter::<f32>());
    }
    Embeddings::new(data, set.len(), dim)
}

/// The supervised baseline: the same encoder with a linear classifier on its pooled output,
/// trained from scratch with cross-entropy on the labelled series only.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesBaselineConfig {
    /// Optimiser steps (AdamW, constant rate).
    pub steps: usize,
    pub lr: f64,
    pub batch_size: usize,
    pub seed: u64,
}

impl Default for SeriesBaselineConfig {
    /// As much optimisation as a pre-training run gets (TS2Vec's 200 to 600 steps of batch 8):
    /// 600 steps, enough for a few labelled series to be fitted exactly.
    fn default() -> Self {
        Self {
            steps: 600,
            lr: 1e-3,
            batch_size: 8,
            seed: 0,
        }
    }
}

impl SeriesBaselineConfig {
    pub fn describe(&self) -> String {
        format!(
            "supervised baseline: the same encoder from scratch + linear classifier, {} AdamW steps \
             at lr {} on batches of up to {} labelled series",
            self.steps, self.lr, self.batch_size
        )
    }
}

#[derive(Module, Debug)]
struct Classifier {
    encoder: SeriesEncoder,
    head: Linear,
}

/// Test accuracy of the baseline trained on `train` (labelled).
pub fn supervised_series_baseline(
    encoder_cfg: &SeriesEncoderConfig,
    scaler: &Scaler,
    train: &SeriesSet,
    test: &SeriesSet,
    cfg: &SeriesBaselineConfig,
    device: &Device,
) -> anyhow::Result<f64> {
    let (Some(labels), Some(test_labels)) = (&train.labels, &test.labels) else {
        anyhow::bail!("the supervised baseline needs labelled train and test series");
    };
    let classes = train.num_classes().max(test.num_classes());
    let eval_device = device;
    let device = device.clone().autodiff();
    let mut model = seeded_init(&device, cfg.seed, || Classifier {
        encoder: SeriesEncoder::new(train.channels, encoder_cfg, &device),
        head: LinearConfig::new(encoder_cfg.out_dim, classes).init(&device),
    });
    let mut optim = AdamWConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let batch = cfg.batch_size.clamp(1, train.len());
    for step in 0..cfg.steps {
        let idx = batch_indices(train.len(), batch, cfg.seed, step);
        let (x, valid) = SeriesBatch::gather(train, &idx, scaler).tensors(&device);
        let y: Vec<i64> = idx.iter().map(|&i| labels[i] as i64).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [idx.len()]), &device);
        let steps = model.encoder.training_steps(
            x,
            valid.clone(),
            None,
            mix(cfg.seed ^ DROPOUT_STREAM, step as u64),
        );
        let logits = model.head.forward(SeriesEncoder::pool(steps, valid));
        let loss = loss_fn.forward(logits, y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(cfg.lr, model, grads);
    }
    let model = model.valid();
    let mut predictions = Vec::with_capacity(test.len());
    let all: Vec<usize> = (0..test.len()).collect();
    for chunk in all.chunks(EMBED_BATCH) {
        let (x, valid) = SeriesBatch::gather(test, chunk, scaler).tensors(eval_device);
        let logits = model.head.forward(model.encoder.forward(x, valid));
        predictions.extend(logits.argmax(1).into_data().iter::<i64>().map(|p| p as u32));
    }
    Ok(accuracy(&predictions, test_labels))
}

/// The baseline's test accuracy when it may see `fraction` of the train labels (the same
/// stratified sample the protocols get for that share and seed).
pub fn baseline_at(
    run: &SeriesRunConfig,
    train: &SeriesSet,
    test: &SeriesSet,
    fraction: f64,
    cfg: &SeriesBaselineConfig,
    seed: u64,
    device: &Device,
) -> anyhow::Result<f64> {
    let Some(labels) = &train.labels else {
        anyhow::bail!("the supervised baseline needs labelled train series");
    };
    let idx = sample_fraction(labels, fraction, seed);
    supervised_series_baseline(
        &run.encoder,
        &run.scaler,
        &train.subset(&idx),
        test,
        cfg,
        device,
    )
}

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct SeriesSuiteConfig {
    pub protocols: Vec<Protocol>,
    /// Shares of the train labels (stratified, at least one per class).
    pub fractions: Vec<f64>,
    pub baseline: Option<SeriesBaselineConfig>,
    pub knn: KnnConfig,
    pub linear: LinearProbeConfig,
    pub svm: SvmConfig,
    /// Seed of the label sampling.
    pub seed: u64,
}

impl Default for SeriesSuiteConfig {
    /// TS2Vec's protocol (the RBF SVM) and the linear probe, on all the train labels, beside
    /// the supervised baseline.
    fn default() -> Self {
        Self {
            protocols: vec![Protocol::Svm, Protocol::Linear],
            fractions: vec![1.0],
            baseline: Some(SeriesBaselineConfig::default()),
            knn: KnnConfig::default(),
            linear: LinearProbeConfig::default(),
            svm: SvmConfig::default(),
            seed: 0,
        }
    }
}

/// Runs every protocol at every label share for a pre-trained `encoder`.
pub fn evaluate_series(
    encoder: &SeriesEncoder,
    run: &SeriesRunConfig,
    train: &SeriesSet,
    test: &SeriesSet,
    cfg: &SeriesSuiteConfig,
    device: &Device,
    log: &dyn Fn(&str),
) -> anyhow::Result<Vec<EvalResult>> {
    let (Some(train_labels), Some(test_labels)) = (&train.labels, &test.labels) else {
        anyhow::bail!("evaluation needs labelled train and test series");
    };
    if train.channels != test.channels || train.channels != encoder.channels() {
        anyhow::bail!(
            "channel counts differ: train {}, test {}, encoder {}",
            train.channels,
            test.channels,
            encoder.channels()
        );
    }
    let classes = train.num_classes().max(test.num_classes());
    let train_emb = embed_series(encoder, train, &run.scaler, device);
    let test_emb = embed_series(encoder, test, &run.scaler, device);
    // The linear probe standardises with the whole (unlabelled) train split's statistics.
    let (train_std, test_std) = Embeddings::standardized_pair(&train_emb, &test_emb);
    let mut results = Vec::new();
    for &fraction in &cfg.fractions {
        let idx = sample_fraction(train_labels, fraction, cfg.seed);
        let labels: Vec<u32> = idx.iter().map(|&i| train_labels[i]).collect();
        let bank = train_emb.select(&idx);
        let baseline_accuracy = match &cfg.baseline {
            Some(b) => {
                log(&format!(
                    "training the supervised baseline on {} labelled series ({}% of the labels)",
                    idx.len(),
                    fraction * 100.0
                ));
                Some(baseline_at(
                    run, train, test, fraction, b, cfg.seed, device,
                )?)
            }
            None => None,
        };
        for &protocol in &cfg.protocols {
            let ssl_accuracy = match protocol {
                Protocol::Svm => accuracy(
                    &svm_predict(&bank, &labels, classes, &test_emb, &cfg.svm),
                    test_labels,
                ),
                Protocol::Linear => linear_probe(
                    &train_std.select(&idx),
                    &labels,
                    classes,
                    &test_std,
                    test_labels,
                    &LinearProbeConfig {
                        standardize: false,
                        ..cfg.linear.clone()
                    },
                ),
                Protocol::Knn => {
                    let mean = bank.mean();
                    let pred = knn_predict(
                        &bank.centered(&mean),
                        &labels,
                        classes,
                        &test_emb.centered(&mean),
                        &cfg.knn,
                    );
                    accuracy(&pred, test_labels)
                }
            };
            let result =
                EvalResult::at_fraction(protocol.name(), fraction, ssl_accuracy, baseline_accuracy);
            log(&result.line());
            results.push(result);
        }
    }
    Ok(results)
}
