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
use autodidact_core::eval::knn::accuracy;
use autodidact_core::eval::protocol::Protocol;
use autodidact_core::eval::suite::{
    Baselines, Evaluand, Features, LabelShare, ProtocolFeatures, SuiteConfig, split_labels,
};
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

/// How series read the frozen protocols: k-NN on centred embeddings, the linear probe on
/// embeddings standardised with the whole train split's statistics, the SVM on the embeddings as
/// they are (TS2Vec's protocol).
pub const SERIES_FEATURES: ProtocolFeatures = ProtocolFeatures {
    knn: Features::Centred,
    linear: Features::Standardised,
    svm: Features::Raw,
};

/// The series suite's defaults: TS2Vec's protocol (the RBF SVM) and the linear probe, on all
/// the train labels, beside the supervised baseline; `seed` draws the labels and seeds the
/// classifiers.
pub fn series_suite(seed: u64) -> SuiteConfig {
    SuiteConfig::new(
        vec![Protocol::Svm, Protocol::Linear],
        vec![LabelShare::Fraction(1.0)],
        SERIES_FEATURES,
        seed,
    )
}

/// A pre-trained series encoder with its labelled train and test series.
pub struct SeriesEvaluand<'a> {
    encoder: &'a SeriesEncoder,
    run: &'a SeriesRunConfig,
    train: &'a SeriesSet,
    test: &'a SeriesSet,
    train_labels: &'a [u32],
    test_labels: &'a [u32],
    baseline: SeriesBaselineConfig,
    device: &'a Device,
}

impl<'a> SeriesEvaluand<'a> {
    /// `encoder` (of `run`) on labelled `train` and `test` of its channel count; `baseline` is
    /// trained when the suite asks for it.
    pub fn new(
        encoder: &'a SeriesEncoder,
        run: &'a SeriesRunConfig,
        train: &'a SeriesSet,
        test: &'a SeriesSet,
        baseline: SeriesBaselineConfig,
        device: &'a Device,
    ) -> anyhow::Result<Self> {
        let (train_labels, test_labels) =
            split_labels(train.labels.as_deref(), test.labels.as_deref(), "series")?;
        if train.channels != test.channels || train.channels != encoder.channels() {
            anyhow::bail!(
                "channel counts differ: train {}, test {}, encoder {}",
                train.channels,
                test.channels,
                encoder.channels()
            );
        }
        Ok(Self {
            encoder,
            run,
            train,
            test,
            train_labels,
            test_labels,
            baseline,
            device,
        })
    }
}

impl Evaluand for SeriesEvaluand<'_> {
    fn train_labels(&self) -> &[u32] {
        self.train_labels
    }

    fn test_labels(&self) -> &[u32] {
        self.test_labels
    }

    fn embed(&self, _log: &dyn Fn(&str)) -> anyhow::Result<(Embeddings, Embeddings)> {
        let embed = |set| embed_series(self.encoder, set, &self.run.scaler, self.device);
        Ok((embed(self.train), embed(self.test)))
    }

    fn baselines(
        &self,
        labelled: &[usize],
        share: LabelShare,
        protocols: &[Protocol],
        log: &dyn Fn(&str),
    ) -> anyhow::Result<Baselines> {
        log(&format!(
            "training the supervised baseline on {} labelled series ({share})",
            labelled.len()
        ));
        let accuracy = supervised_series_baseline(
            &self.run.encoder,
            &self.run.scaler,
            &self.train.subset(labelled),
            self.test,
            &self.baseline,
            self.device,
        )?;
        Ok(protocols.iter().map(|&p| (p, accuracy)).collect())
    }
}
