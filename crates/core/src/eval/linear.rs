//! Linear probe: multinomial logistic regression on frozen, standardised features.

use super::Embeddings;
use super::knn::accuracy;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Rows per forward pass at prediction time (bounds memory for large test sets).
const PREDICT_CHUNK: usize = 4096;

/// Linear-probe training settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearProbeConfig {
    /// Optimiser steps (mini-batches), independent of the data size.
    pub steps: usize,
    /// Peak AdamW learning rate, cosine-annealed to 0 over `steps`.
    pub lr: f64,
    /// Decoupled (AdamW) weight decay.
    pub weight_decay: f64,
    /// Mini-batch size (the whole training set when it is smaller).
    pub batch_size: usize,
    /// Seed of the batch order.
    pub seed: u64,
    /// Standardise the features with the labelled samples' own mean and deviation. Off when the
    /// caller has standardised them with better statistics (all of the unlabelled train split:
    /// with a handful of labels the samples' own deviations are mostly noise).
    pub standardize: bool,
}

impl Default for LinearProbeConfig {
    fn default() -> Self {
        Self {
            steps: 1000,
            lr: 3e-3,
            weight_decay: 1e-4,
            batch_size: 256,
            seed: 0,
            standardize: true,
        }
    }
}

/// A trained probe: the standardisation learned on the training set and the linear layer.
#[derive(Debug)]
pub struct LinearClassifier {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    linear: Linear,
    num_classes: usize,
}

impl LinearClassifier {
    /// Predicted class of each row of `x`.
    ///
    /// # Panics
    /// If `x.dim` differs from the training dimension.
    pub fn predict(&self, x: &Embeddings) -> Vec<u32> {
        assert_eq!(
            x.dim,
            self.mean.len(),
            "probe and inputs must have the same dimension"
        );
        let device = Device::flex();
        let mut preds = Vec::with_capacity(x.n);
        for start in (0..x.n).step_by(PREDICT_CHUNK) {
            let rows = PREDICT_CHUNK.min(x.n - start);
            let batch = self.standardize(&x.data[start * x.dim..(start + rows) * x.dim]);
            let input = Tensor::<2>::from_data(TensorData::new(batch, [rows, x.dim]), &device);
            let logits = self.linear.forward(input).into_data();
            let logits = logits
                .as_slice::<f32>()
                .expect("a float forward on flex yields f32");
            preds.extend(logits.chunks_exact(self.num_classes).map(argmax));
        }
        preds
    }

    fn standardize(&self, rows: &[f32]) -> Vec<f32> {
        let dim = self.mean.len();
        let mut out = rows.to_vec();
        for row in out.chunks_exact_mut(dim) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.inv_std) {
                *v = (*v - m) * s;
            }
        }
        out
    }
}

/// Index of the largest value (the first one on ties).
fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// Per-dimension mean and 1/std of `x` (constant dimensions get 1/std = 1).
pub fn moments(x: &Embeddings) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0f64; x.dim];
    let mut sum_sq = vec![0f64; x.dim];
    for i in 0..x.n {
        for ((s, q), &v) in sum.iter_mut().zip(&mut sum_sq).zip(x.row(i)) {
            *s += v as f64;
            *q += (v as f64) * (v as f64);
        }
    }
    let n = x.n.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let inv_std = sum_sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| {
            let std = (q / n - m * m).max(0.0).sqrt();
            if std > 1e-6 { (1.0 / std) as f32 } else { 1.0 }
        })
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), inv_std)
}

/// Trains a probe on `train` (standardised with its own mean/std) with seeded mini-batch AdamW.
///
/// The weights start at zero (the problem is convex), so the seed only drives the batch order.
///
/// # Panics
/// If `train` is empty, `train_labels.len() != train.n`, or a label is `>= num_classes`.
pub fn train_linear(
    train: &Embeddings,
    train_labels: &[u32],
    num_classes: usize,
    cfg: &LinearProbeConfig,
) -> LinearClassifier {
    assert!(train.n > 0, "linear probe needs training samples");
    assert_eq!(train_labels.len(), train.n, "one label per training row");
    assert!(
        train_labels.iter().all(|&l| (l as usize) < num_classes),
        "training labels must be < num_classes ({num_classes})"
    );
    let (mean, inv_std) = if cfg.standardize {
        moments(train)
    } else {
        (vec![0.0; train.dim], vec![1.0; train.dim])
    };
    let device = Device::flex().autodiff();
    let mut probe = LinearClassifier {
        mean,
        inv_std,
        linear: LinearConfig::new(train.dim, num_classes)
            .with_initializer(Initializer::Zeros)
            .init(&device),
        num_classes,
    };
    let x = Tensor::<2>::from_data(
        TensorData::new(probe.standardize(&train.data), [train.n, train.dim]),
        &device,
    );
    let y = Tensor::<1, Int>::from_data(
        TensorData::new(
            train_labels.iter().map(|&l| l as i64).collect::<Vec<_>>(),
            [train.n],
        ),
        &device,
    );
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut optim = AdamWConfig::new()
        .with_weight_decay(cfg.weight_decay as f32)
        .init();
    let batch = cfg.batch_size.clamp(1, train.n);
    let mut batches = BatchOrder::new(train.n, batch, cfg.seed);
    let mut linear = probe.linear;
    for step in 0..cfg.steps {
        let idx = batches.next_batch(&device);
        let loss = batch_loss(&linear, &loss_fn, &x, &y, idx);
        let grads = GradientsParams::from_grads(loss.backward(), &linear);
        let progress = step as f64 / cfg.steps as f64;
        let lr = cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        linear = optim.step(lr, linear, grads);
    }
    probe.linear = linear.valid();
    probe
}

fn batch_loss(
    linear: &Linear,
    loss_fn: &CrossEntropyLoss,
    x: &Tensor<2>,
    y: &Tensor<1, Int>,
    idx: Tensor<1, Int>,
) -> Tensor<1> {
    let xb = x.clone().select(0, idx.clone());
    let yb = y.clone().select(0, idx);
    loss_fn.forward(linear.forward(xb), yb)
}

/// Seeded epochs of shuffled indices, cut into full batches (the tail of an epoch is dropped, so
/// every step sees `batch` samples; it is in the next epoch's shuffle).
struct BatchOrder {
    order: Vec<i64>,
    pos: usize,
    batch: usize,
    rng: StdRng,
}

impl BatchOrder {
    fn new(n: usize, batch: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut order: Vec<i64> = (0..n as i64).collect();
        order.shuffle(&mut rng);
        Self {
            order,
            pos: 0,
            batch,
            rng,
        }
    }

    fn next_batch(&mut self, device: &Device) -> Tensor<1, Int> {
        if self.pos + self.batch > self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.pos = 0;
        }
        let idx = self.order[self.pos..self.pos + self.batch].to_vec();
        self.pos += self.batch;
        Tensor::from_data(TensorData::new(idx, [self.batch]), device)
    }
}

/// Trains a probe on `train` and returns its accuracy on `test`.
///
/// # Panics
/// As [`train_linear`], and if `test_labels.len() != test.n` or the dimensions differ.
pub fn linear_probe(
    train: &Embeddings,
    train_labels: &[u32],
    num_classes: usize,
    test: &Embeddings,
    test_labels: &[u32],
    cfg: &LinearProbeConfig,
) -> f64 {
    assert_eq!(test_labels.len(), test.n, "one label per test row");
    let probe = train_linear(train, train_labels, num_classes, cfg);
    accuracy(&probe.predict(test), test_labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// Gaussian clusters whose means differ in a few of `dim` dimensions, with an arbitrary offset
    /// and scale per dimension (which standardisation must undo).
    struct Clusters {
        centers: Vec<Vec<f32>>,
        offset: Vec<f32>,
        scale: Vec<f32>,
        noise: f32,
    }

    impl Clusters {
        fn new(classes: usize, dim: usize, noise: f32, rng: &mut StdRng) -> Self {
            Self {
                centers: (0..classes)
                    .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
                    .collect(),
                offset: (0..dim).map(|_| rng.random_range(-50.0..50.0)).collect(),
                scale: (0..dim).map(|_| rng.random_range(0.1..20.0)).collect(),
                noise,
            }
        }

        fn sample(&self, n: usize, rng: &mut StdRng) -> (Embeddings, Vec<u32>) {
            let dim = self.offset.len();
            let mut data = Vec::with_capacity(n * dim);
            let mut labels = Vec::with_capacity(n);
            for i in 0..n {
                let c = i % self.centers.len();
                for d in 0..dim {
                    let z: f32 = (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>();
                    let v = self.centers[c][d] + self.noise * z;
                    data.push(self.offset[d] + self.scale[d] * v);
                }
                labels.push(c as u32);
            }
            (Embeddings::new(data, n, dim), labels)
        }
    }

    #[test]
    fn learns_gaussian_clusters_and_is_deterministic() {
        let mut rng = StdRng::seed_from_u64(11);
        let classes = 10;
        let clusters = Clusters::new(classes, 32, 0.8, &mut rng);
        let (train, train_labels) = clusters.sample(100, &mut rng);
        let (test, test_labels) = clusters.sample(2000, &mut rng);
        let cfg = LinearProbeConfig {
            steps: 300,
            ..LinearProbeConfig::default()
        };
        let acc = linear_probe(&train, &train_labels, classes, &test, &test_labels, &cfg);
        // chance is 0.1
        assert!(acc > 0.6, "accuracy {acc}");
        let again = linear_probe(&train, &train_labels, classes, &test, &test_labels, &cfg);
        assert_eq!(acc, again, "same seed, same accuracy");
        let a = train_linear(&train, &train_labels, classes, &cfg).predict(&test);
        let b = train_linear(&train, &train_labels, classes, &cfg).predict(&test);
        assert_eq!(a, b);
    }

    #[test]
    fn learns_with_more_data_than_one_batch() {
        let mut rng = StdRng::seed_from_u64(5);
        let classes = 4;
        let clusters = Clusters::new(classes, 16, 0.6, &mut rng);
        let (train, train_labels) = clusters.sample(3000, &mut rng);
        let (test, test_labels) = clusters.sample(1000, &mut rng);
        let cfg = LinearProbeConfig {
            steps: 200,
            seed: 3,
            ..LinearProbeConfig::default()
        };
        let probe = train_linear(&train, &train_labels, classes, &cfg);
        let train_acc = accuracy(&probe.predict(&train), &train_labels);
        let test_acc = accuracy(&probe.predict(&test), &test_labels);
        assert!(test_acc > 0.8, "test accuracy {test_acc}");
        assert!(train_acc > 0.8, "train accuracy {train_acc}");
    }

    #[test]
    fn separates_two_points_exactly() {
        // Two samples, opposite sides; a constant dimension must not produce NaN.
        let train = Embeddings::new(vec![1.0, 5.0, -1.0, 5.0], 2, 2);
        let cfg = LinearProbeConfig {
            steps: 50,
            ..LinearProbeConfig::default()
        };
        let probe = train_linear(&train, &[1, 0], 2, &cfg);
        let test = Embeddings::new(vec![3.0, 5.0, -2.0, 7.0, 0.5, 5.0], 3, 2);
        assert_eq!(probe.predict(&test), vec![1, 0, 1]);
    }

    #[test]
    fn moments_by_hand() {
        let x = Embeddings::new(vec![1.0, 2.0, 3.0, 2.0], 2, 2);
        let (mean, inv_std) = moments(&x);
        assert_eq!(mean, vec![2.0, 2.0]);
        assert_eq!(inv_std, vec![1.0, 1.0]); // std 1; constant column -> 1
        let x = Embeddings::new(vec![0.0, 4.0], 2, 1);
        assert_eq!(moments(&x), (vec![2.0], vec![0.5]));
    }
}
