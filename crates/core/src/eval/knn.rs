//! Weighted k-nearest-neighbour classifier on cosine similarity (InstDisc / lightly protocol):
//! each of the k most similar bank rows votes for its class with weight `exp(sim / T)`.

use super::Embeddings;
use burn::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Similarities are computed in tiles of `QUERY_CHUNK x BANK_BLOCK` floats (4 MB): top-k reads a
/// tile from cache, and the allocator can recycle it (see [`crate::alloc`]), which it never does
/// for a 1024 x 50k (200 MB) tile.
const QUERY_CHUNK: usize = 256;
const BANK_BLOCK: usize = 4096;

/// What k-NN's cosine similarity compares. The statistics come from the whole (unlabelled) train
/// split, not only its labelled rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum KnnFeatures {
    /// The features as they are (lightly's protocol).
    Raw,
    /// Minus the train mean. Features after a ReLU share a large positive component that makes
    /// all cosines alike; centring removes it (SimpleShot's CL2N, Wang et al. 2019).
    #[cfg_attr(feature = "clap", value(alias = "centered"))]
    Centred,
    /// Each dimension centred and divided by its train deviation, so that a few wide dimensions
    /// do not decide every cosine (MAE's linear probe puts a BatchNorm before its head for the
    /// same reason).
    #[cfg_attr(feature = "clap", value(alias = "standardized"))]
    Standardised,
}

impl KnnFeatures {
    /// `train` and `test` as k-NN compares them.
    pub fn apply(self, train: &Embeddings, test: &Embeddings) -> (Embeddings, Embeddings) {
        match self {
            KnnFeatures::Raw => (train.clone(), test.clone()),
            KnnFeatures::Centred => {
                let mean = train.mean();
                (train.centered(&mean), test.centered(&mean))
            }
            KnnFeatures::Standardised => Embeddings::standardized_pair(train, test),
        }
    }

    /// The name the CLI and the JSON use.
    pub fn name(self) -> &'static str {
        match self {
            KnnFeatures::Raw => "raw",
            KnnFeatures::Centred => "centred",
            KnnFeatures::Standardised => "standardised",
        }
    }
}

/// k-NN settings.
#[derive(Clone, Debug, PartialEq)]
pub struct KnnConfig {
    /// Neighbours that vote (clamped to `1..=bank size`).
    pub k: usize,
    /// Softmax-like temperature of the vote weights `exp(sim / T)`.
    pub temperature: f32,
}

impl Default for KnnConfig {
    fn default() -> Self {
        Self {
            k: 200,
            temperature: 0.1,
        }
    }
}

/// Predicts a class for each query row from its k most cosine-similar bank rows.
///
/// # Panics
/// If `bank_labels.len() != bank.n`, the dimensions differ, the bank is empty while there are
/// queries, a label is `>= num_classes`, or the temperature is not positive: the caller builds these
/// from its own data and checks them.
pub fn knn_predict(
    bank: &Embeddings,
    bank_labels: &[u32],
    num_classes: usize,
    queries: &Embeddings,
    cfg: &KnnConfig,
) -> Vec<u32> {
    assert_eq!(bank_labels.len(), bank.n, "one label per bank row");
    assert_eq!(
        bank.dim, queries.dim,
        "bank and queries must have the same dimension"
    );
    assert!(
        bank_labels.iter().all(|&l| (l as usize) < num_classes),
        "bank labels must be < num_classes ({num_classes})"
    );
    assert!(cfg.temperature > 0.0, "k-NN temperature must be positive");
    if queries.n == 0 {
        return Vec::new();
    }
    assert!(bank.n > 0, "k-NN needs a non-empty bank");
    let k = cfg.k.clamp(1, bank.n);
    let dim = bank.dim;
    let device = Device::flex();
    let bank_norm = l2_normalized(&bank.data, dim);
    // Transposed views [dim, block]: gemm reads strided operands without a copy.
    let blocks: Vec<(usize, Tensor<2>)> = (0..bank.n)
        .step_by(BANK_BLOCK)
        .map(|start| {
            let rows = BANK_BLOCK.min(bank.n - start);
            let data = bank_norm[start * dim..(start + rows) * dim].to_vec();
            let t = Tensor::<2>::from_data(TensorData::new(data, [rows, dim]), &device);
            (start, t.transpose())
        })
        .collect();
    let voter = Voter {
        labels: bank_labels,
        num_classes,
        temperature: cfg.temperature,
    };

    let mut preds = Vec::with_capacity(queries.n);
    let mut states: Vec<TopK> = Vec::new();
    for start in (0..queries.n).step_by(QUERY_CHUNK) {
        let rows = QUERY_CHUNK.min(queries.n - start);
        let q = l2_normalized(&queries.data[start * dim..(start + rows) * dim], dim);
        let q = Tensor::<2>::from_data(TensorData::new(q, [rows, dim]), &device);
        states.resize_with(rows, || TopK::new(k));
        states.iter_mut().for_each(TopK::clear);
        for (offset, block) in &blocks {
            // Borrowing the result avoids copying it out of Flex's (over-aligned) buffer.
            let sims = q.clone().matmul(block.clone()).into_data();
            let sims = sims
                .as_slice::<f32>()
                .expect("a float matmul on flex yields f32");
            let cols = sims.len() / rows;
            sims.par_chunks_exact(cols)
                .zip(states.par_iter_mut())
                .for_each(|(row, state)| state.push(row, *offset as u32));
        }
        let chunk: Vec<u32> = states
            .par_iter_mut()
            .map_init(
                || vec![0f64; num_classes],
                |scores, state| voter.vote(state.finish(), scores),
            )
            .collect();
        preds.extend(chunk);
    }
    preds
}

/// Fraction of positions where `pred` equals `truth` (0 for empty input).
pub fn accuracy(pred: &[u32], truth: &[u32]) -> f64 {
    assert_eq!(pred.len(), truth.len(), "one prediction per label");
    if pred.is_empty() {
        return 0.0;
    }
    let hits = pred.iter().zip(truth).filter(|(p, t)| p == t).count();
    hits as f64 / pred.len() as f64
}

/// Rows scaled to unit L2 norm (all-zero rows stay zero).
fn l2_normalized(data: &[f32], dim: usize) -> Vec<f32> {
    let mut out = data.to_vec();
    if dim == 0 {
        return out;
    }
    out.par_chunks_mut(dim).for_each(|row| {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    });
    out
}

struct Voter<'a> {
    labels: &'a [u32],
    num_classes: usize,
    temperature: f32,
}

impl Voter<'_> {
    /// Class with the largest sum of `exp(sim / T)` over `neighbours` (lowest class on ties).
    fn vote(&self, neighbours: &[(f32, u32)], scores: &mut [f64]) -> u32 {
        scores.iter_mut().for_each(|s| *s = 0.0);
        // Subtracting the best similarity rescales every weight by the same factor (argmax is
        // unchanged) and keeps exp() finite for tiny temperatures.
        let best = neighbours
            .iter()
            .map(|c| c.0)
            .fold(f32::NEG_INFINITY, f32::max);
        for &(sim, idx) in neighbours {
            let w = (((sim - best) / self.temperature) as f64).exp();
            scores[self.labels[idx as usize] as usize] += w;
        }
        let mut arg = 0;
        for c in 1..self.num_classes {
            if scores[c] > scores[arg] {
                arg = c;
            }
        }
        arg as u32
    }
}

/// Running selection of the `k` largest `(sim, index)` pairs over a row fed in pieces.
///
/// Only values above the current k-th best are kept, and the buffer is cut back to k whenever it
/// fills, so most elements cost one comparison. NaNs never pass the comparison and are skipped.
struct TopK {
    k: usize,
    items: Vec<(f32, u32)>,
    threshold: f32,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(Self::capacity(k)),
            threshold: f32::NEG_INFINITY,
        }
    }

    fn capacity(k: usize) -> usize {
        (4 * k).max(1024)
    }

    fn clear(&mut self) {
        self.items.clear();
        self.threshold = f32::NEG_INFINITY;
    }

    /// Offers `sims[j]` as the similarity of bank row `offset + j`.
    fn push(&mut self, sims: &[f32], offset: u32) {
        const LANES: usize = 16;
        let cap = Self::capacity(self.k);
        for (c, chunk) in sims.chunks(LANES).enumerate() {
            // A branch-free max vectorises; once the threshold is high, most chunks stop here.
            let max = chunk
                .iter()
                .fold(f32::NEG_INFINITY, |m, &s| if s > m { s } else { m });
            if max <= self.threshold {
                continue;
            }
            for (j, &s) in chunk.iter().enumerate() {
                if s > self.threshold {
                    self.items.push((s, offset + (c * LANES + j) as u32));
                    if self.items.len() == cap {
                        self.shrink();
                        self.threshold = self.items[self.k - 1].0;
                    }
                }
            }
        }
    }

    fn shrink(&mut self) {
        if self.items.len() > self.k {
            // Larger similarity first; the lower bank index wins ties, so results do not depend on
            // where the buffer happened to be cut.
            self.items
                .select_nth_unstable_by(self.k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            self.items.truncate(self.k);
        }
    }

    /// The k best pairs seen since the last `clear`, in no particular order.
    fn finish(&mut self) -> &[(f32, u32)] {
        self.shrink();
        &self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn emb(rows: &[&[f32]]) -> Embeddings {
        let dim = rows[0].len();
        Embeddings::new(rows.concat(), rows.len(), dim)
    }

    #[test]
    fn standardising_stops_wide_noise_dimensions_deciding_the_neighbours() {
        // Eight narrow dimensions carry the class (+-0.01); two 10^4 times wider are noise. (One
        // wide dimension would not do: the cosine divides its magnitude away.)
        let mut rng = StdRng::seed_from_u64(5);
        let mut make = |n: usize| {
            let mut data = Vec::new();
            let mut labels = Vec::new();
            for i in 0..n {
                let class = (i % 2) as u32;
                let sign = if class == 0 { -0.01 } else { 0.01 };
                data.extend([sign; 8]);
                data.push(100.0 * rng.random_range(-1.0f32..1.0));
                data.push(100.0 * rng.random_range(-1.0f32..1.0));
                labels.push(class);
            }
            (Embeddings::new(data, n, 10), labels)
        };
        let (train, train_labels) = make(200);
        let (test, test_labels) = make(100);
        let cfg = KnnConfig {
            k: 5,
            temperature: 0.1,
        };
        let acc = |features: KnnFeatures| {
            let (bank, queries) = features.apply(&train, &test);
            accuracy(
                &knn_predict(&bank, &train_labels, 2, &queries, &cfg),
                &test_labels,
            )
        };
        assert_eq!(acc(KnnFeatures::Standardised), 1.0);
        let centred = acc(KnnFeatures::Centred);
        assert!(
            centred < 0.8,
            "the noise should decide centred k-NN: {centred}"
        );
        assert!(acc(KnnFeatures::Raw) < 0.8);
    }

    #[test]
    fn top_k_matches_full_sort() {
        let mut rng = StdRng::seed_from_u64(3);
        for &(n, k) in &[(5000usize, 200usize), (300, 7), (10, 10), (2000, 1)] {
            let sims: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut top = TopK::new(k);
            // Fed in uneven pieces, as the bank blocks are.
            let cut = n / 3;
            top.push(&sims[..cut], 0);
            top.push(&sims[cut..], cut as u32);
            let mut got: Vec<u32> = top.finish().iter().map(|c| c.1).collect();
            got.sort();
            let mut order: Vec<u32> = (0..n as u32).collect();
            order.sort_by(|&a, &b| sims[b as usize].total_cmp(&sims[a as usize]));
            let mut want = order[..k].to_vec();
            want.sort();
            assert_eq!(got, want, "n={n} k={k}");
        }
    }

    #[test]
    fn weighted_vote_by_hand() {
        // Query along +x. Bank: two class-1 rows at cos 0.6 and one class-0 row at cos 1.0.
        // k=3, T=0.1: class 0 gets e^10, class 1 gets 2 e^6 -> class 0.
        // T=1.0: class 0 gets e^1 = 2.72, class 1 gets 2 e^0.6 = 3.64 -> class 1.
        let bank = emb(&[&[1.0, 0.0], &[0.6, 0.8], &[0.6, -0.8], &[-1.0, 0.0]]);
        let labels = [0, 1, 1, 0];
        let q = emb(&[&[2.0, 0.0]]);
        let cfg = |t| KnnConfig {
            k: 3,
            temperature: t,
        };
        assert_eq!(knn_predict(&bank, &labels, 2, &q, &cfg(0.1)), vec![0]);
        assert_eq!(knn_predict(&bank, &labels, 2, &q, &cfg(1.0)), vec![1]);
        // k=1 is the nearest neighbour; k larger than the bank is clamped (all 4 vote).
        let nn = KnnConfig {
            k: 1,
            temperature: 1.0,
        };
        assert_eq!(knn_predict(&bank, &labels, 2, &q, &nn), vec![0]);
        let all = KnnConfig {
            k: 1000,
            temperature: 1.0,
        };
        // class 0: e^1 + e^-1 = 3.09, class 1: 3.64 -> 1.
        assert_eq!(knn_predict(&bank, &labels, 2, &q, &all), vec![1]);
        // Tiny temperature must not overflow.
        assert_eq!(knn_predict(&bank, &labels, 2, &q, &cfg(1e-4)), vec![0]);
    }

    #[test]
    fn classifies_gaussian_clusters_across_chunks() {
        let mut rng = StdRng::seed_from_u64(7);
        let (classes, dim) = (5, 16);
        let centers: Vec<Vec<f32>> = (0..classes)
            .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let mut sample = |n: usize| {
            let mut data = Vec::new();
            let mut labels = Vec::new();
            for i in 0..n {
                let c = i % classes;
                data.extend(
                    centers[c]
                        .iter()
                        .map(|m| m + 0.2 * rng.random_range(-1.0f32..1.0)),
                );
                labels.push(c as u32);
            }
            (Embeddings::new(data, n, dim), labels)
        };
        let (bank, bank_labels) = sample(500);
        let (queries, truth) = sample(QUERY_CHUNK + 37);
        let pred = knn_predict(
            &bank,
            &bank_labels,
            classes,
            &queries,
            &KnnConfig::default(),
        );
        assert_eq!(pred.len(), truth.len());
        assert!(
            accuracy(&pred, &truth) > 0.95,
            "{}",
            accuracy(&pred, &truth)
        );
    }

    /// Direct transcription of the protocol: full sort of cosine similarities per query.
    fn naive_predict(
        bank: &Embeddings,
        labels: &[u32],
        classes: usize,
        queries: &Embeddings,
        cfg: &KnnConfig,
    ) -> Vec<u32> {
        let norm = |r: &[f32]| r.iter().map(|v| v * v).sum::<f32>().sqrt();
        (0..queries.n)
            .map(|i| {
                let q = queries.row(i);
                let mut sims: Vec<(f32, usize)> = (0..bank.n)
                    .map(|j| {
                        let b = bank.row(j);
                        let dot: f32 = q.iter().zip(b).map(|(x, y)| x * y).sum();
                        (dot / (norm(q) * norm(b)), j)
                    })
                    .collect();
                sims.sort_by(|a, b| b.0.total_cmp(&a.0));
                let mut scores = vec![0f64; classes];
                for &(s, j) in &sims[..cfg.k.min(bank.n)] {
                    scores[labels[j] as usize] += ((s / cfg.temperature) as f64).exp();
                }
                let best = scores.iter().cloned().fold(f64::MIN, f64::max);
                scores.iter().position(|&s| s == best).unwrap() as u32
            })
            .collect()
    }

    #[test]
    fn matches_naive_reference_across_bank_blocks() {
        let mut rng = StdRng::seed_from_u64(42);
        let (classes, dim) = (3, 8);
        let mut random = |n: usize| {
            let data = (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            Embeddings::new(data, n, dim)
        };
        let bank = random(2 * BANK_BLOCK + 123);
        let queries = random(QUERY_CHUNK + 44);
        let labels: Vec<u32> = (0..bank.n).map(|i| (i * 7 % classes) as u32).collect();
        for cfg in [
            KnnConfig {
                k: 20,
                temperature: 0.1,
            },
            KnnConfig::default(),
        ] {
            let fast = knn_predict(&bank, &labels, classes, &queries, &cfg);
            let slow = naive_predict(&bank, &labels, classes, &queries, &cfg);
            // Random data has near-ties; float rounding of the two dot products may flip a few.
            let differ = fast.iter().zip(&slow).filter(|(a, b)| a != b).count();
            assert!(differ <= 2, "{differ} of {} predictions differ", fast.len());
        }
    }

    #[test]
    fn empty_queries_and_accuracy() {
        let bank = emb(&[&[1.0, 0.0]]);
        let none = Embeddings::new(Vec::new(), 0, 2);
        assert!(knn_predict(&bank, &[0], 1, &none, &KnnConfig::default()).is_empty());
        assert_eq!(accuracy(&[1, 2, 3, 4], &[1, 0, 3, 0]), 0.5);
        assert_eq!(accuracy(&[], &[]), 0.0);
    }
}
