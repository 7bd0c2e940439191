//! The evaluation suite every modality runs: embed both splits once, then each protocol at each
//! share of the train labels, beside the supervised baseline the modality trains on the same
//! labelled samples.
//!
//! A protocol means one thing here whatever the modality: k-NN, the linear probe and the SVM read
//! the frozen embeddings through [`Features`] (fitted on the whole, unlabelled train split), and
//! a modality that can train its encoder with a classifier (text) adds `finetune` and `prompt`
//! through [`Evaluand::train_classifier`]. What differs between modalities is only their
//! defaults, and those are named in the suite's settings.

use std::fmt;

use super::Embeddings;
pub use super::knn::KnnFeatures as Features;
use super::knn::{KnnConfig, accuracy, knn_predict};
use super::linear::{LinearProbeConfig, linear_probe};
use super::protocol::Protocol;
use super::report::EvalResult;
use super::svm::{SvmConfig, svm_predict};
use crate::split::{LabelBudget, sample_fraction, sample_per_class};

/// Most labelled samples the SVM protocol accepts (its kernel matrix grows with their square).
pub const MAX_SVM_SAMPLES: usize = 5000;

/// How many of the train labels a classifier may see.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LabelShare {
    /// Up to this many samples of each class (`--labels-per-class`).
    PerClass(LabelBudget),
    /// This share of the train split, stratified by class, at least one per class
    /// (`--labels-fraction`).
    Fraction(f64),
}

impl LabelShare {
    /// The train samples whose labels the classifiers see, drawn with `seed`.
    pub fn sample(self, labels: &[u32], seed: u64) -> Vec<usize> {
        match self {
            LabelShare::PerClass(budget) => sample_per_class(labels, budget, seed),
            LabelShare::Fraction(fraction) => sample_fraction(labels, fraction, seed),
        }
    }

    /// The report's row of `protocol` at this share.
    pub fn result(self, protocol: Protocol, ssl: f64, baseline: Option<f64>) -> EvalResult {
        let (labels_per_class, labels_fraction) = match self {
            LabelShare::PerClass(budget) => (Some(budget), None),
            LabelShare::Fraction(fraction) => (None, Some(fraction)),
        };
        EvalResult {
            protocol: protocol.name().to_string(),
            labels_per_class,
            labels_fraction,
            ssl_accuracy: ssl,
            baseline_accuracy: baseline,
            references: Default::default(),
        }
    }
}

impl fmt::Display for LabelShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelShare::PerClass(budget) => write!(f, "{budget} per class"),
            LabelShare::Fraction(fraction) => write!(f, "{}% of the labels", fraction * 100.0),
        }
    }
}

/// What each frozen protocol reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProtocolFeatures {
    pub knn: Features,
    pub linear: Features,
    pub svm: Features,
}

/// What to evaluate, and how.
#[derive(Clone, Debug)]
pub struct SuiteConfig {
    pub protocols: Vec<Protocol>,
    pub shares: Vec<LabelShare>,
    /// Train the supervised baseline on the same labelled samples too.
    pub baseline: bool,
    pub knn: KnnConfig,
    pub linear: LinearProbeConfig,
    pub svm: SvmConfig,
    pub features: ProtocolFeatures,
    /// Seed of the label sampling.
    pub seed: u64,
}

impl SuiteConfig {
    /// `protocols` at `shares` beside the baseline, with k-NN, the probe and the SVM at their
    /// defaults seeded by `seed`, reading `features`. The probe standardises with its labelled
    /// samples' statistics only when it reads raw features (standardised ones already are).
    pub fn new(
        protocols: Vec<Protocol>,
        shares: Vec<LabelShare>,
        features: ProtocolFeatures,
        seed: u64,
    ) -> Self {
        Self {
            protocols,
            shares,
            baseline: true,
            knn: KnnConfig::default(),
            linear: LinearProbeConfig {
                standardize: features.linear == Features::Raw,
                seed,
                ..LinearProbeConfig::default()
            },
            svm: SvmConfig {
                seed,
                ..SvmConfig::default()
            },
            features,
            seed,
        }
    }
}

/// The supervised baselines of one label share: one accuracy per protocol that has one.
pub type Baselines = Vec<(Protocol, f64)>;

/// What a modality brings to the suite: its encoder's embeddings, the labels of both splits,
/// its supervised baseline and, where it has them, protocols that train the encoder.
pub trait Evaluand {
    /// Labels of the train split (the classifiers see those the share samples).
    fn train_labels(&self) -> &[u32];
    /// Labels of the test split.
    fn test_labels(&self) -> &[u32];
    /// The embeddings of every train and every test sample; called once, and only when a
    /// frozen protocol is asked for.
    fn embed(&self, log: &dyn Fn(&str)) -> anyhow::Result<(Embeddings, Embeddings)>;
    /// The baselines' test accuracies after training on the train samples `labelled` (`share`
    /// of the labels) for `protocols`; called only when the suite asks for baselines.
    fn baselines(
        &self,
        labelled: &[usize],
        share: LabelShare,
        protocols: &[Protocol],
        log: &dyn Fn(&str),
    ) -> anyhow::Result<Baselines>;
    /// The protocols beyond the frozen ones this modality can run ([`Protocol::Finetune`],
    /// [`Protocol::Prompt`]).
    fn trained_protocols(&self) -> &[Protocol] {
        &[]
    }
    /// Test accuracy of the encoder trained with a classifier on `labelled` under `protocol`
    /// (one of [`Evaluand::trained_protocols`]).
    fn train_classifier(
        &self,
        protocol: Protocol,
        _labelled: &[usize],
        _share: LabelShare,
        _log: &dyn Fn(&str),
    ) -> anyhow::Result<f64> {
        anyhow::bail!("protocol `{}` is not available here", protocol.name())
    }
}

/// Embeddings computed elsewhere (a reference implementation's, a tower's) with their labels:
/// the frozen protocols only, no baseline.
pub struct Precomputed {
    pub train: Embeddings,
    pub test: Embeddings,
    pub train_labels: Vec<u32>,
    pub test_labels: Vec<u32>,
}

impl Evaluand for Precomputed {
    fn train_labels(&self) -> &[u32] {
        &self.train_labels
    }

    fn test_labels(&self) -> &[u32] {
        &self.test_labels
    }

    fn embed(&self, _: &dyn Fn(&str)) -> anyhow::Result<(Embeddings, Embeddings)> {
        Ok((self.train.clone(), self.test.clone()))
    }

    fn baselines(
        &self,
        _: &[usize],
        _: LabelShare,
        _: &[Protocol],
        _: &dyn Fn(&str),
    ) -> anyhow::Result<Baselines> {
        Ok(Vec::new())
    }
}

/// The labels of a labelled train and a labelled test split of `what` (images, series, clips),
/// or the error an evaluation without them gives.
pub fn split_labels<'a>(
    train: Option<&'a [u32]>,
    test: Option<&'a [u32]>,
    what: &str,
) -> anyhow::Result<(&'a [u32], &'a [u32])> {
    match (train, test) {
        (Some(train), Some(test)) => Ok((train, test)),
        _ => anyhow::bail!("evaluation needs labelled train and test {what}"),
    }
}

/// Runs every protocol of `cfg` at every share for `evaluand`, logging each result as it comes.
pub fn evaluate(
    evaluand: &dyn Evaluand,
    cfg: &SuiteConfig,
    log: &dyn Fn(&str),
) -> anyhow::Result<Vec<EvalResult>> {
    for &protocol in &cfg.protocols {
        if !protocol.is_frozen() && !evaluand.trained_protocols().contains(&protocol) {
            anyhow::bail!(
                "--protocol {}: not available for this run's encoder (knn, linear and svm are)",
                protocol.name()
            );
        }
    }
    let (train_labels, test_labels) = (evaluand.train_labels(), evaluand.test_labels());
    if train_labels.is_empty() || test_labels.is_empty() {
        anyhow::bail!("evaluation needs labelled train and test splits");
    }
    let classes = train_labels
        .iter()
        .chain(test_labels)
        .max()
        .map_or(0, |&c| c as usize + 1);
    let frozen = if cfg.protocols.iter().any(|p| p.is_frozen()) {
        let (train, test) = evaluand.embed(log)?;
        let f = &cfg.features;
        log(&format!(
            "k-NN reads {} embeddings, the linear probe {}, the SVM {}",
            f.knn.name(),
            f.linear.name(),
            f.svm.name()
        ));
        Some(FrozenViews::new(&train, &test, f, &cfg.protocols))
    } else {
        None
    };
    let mut results = Vec::new();
    for &share in &cfg.shares {
        let idx = share.sample(train_labels, cfg.seed);
        let labels: Vec<u32> = idx.iter().map(|&i| train_labels[i]).collect();
        let baselines = if cfg.baseline {
            evaluand.baselines(&idx, share, &cfg.protocols, log)?
        } else {
            Vec::new()
        };
        for &protocol in &cfg.protocols {
            let view = frozen.as_ref().and_then(|views| views.of(protocol));
            let ssl = match (view, protocol) {
                (Some((train, test)), Protocol::Knn) => {
                    let pred = knn_predict(&train.select(&idx), &labels, classes, test, &cfg.knn);
                    accuracy(&pred, test_labels)
                }
                (Some((train, test)), Protocol::Linear) => {
                    let train = train.select(&idx);
                    linear_probe(&train, &labels, classes, test, test_labels, &cfg.linear)
                }
                (Some((train, test)), Protocol::Svm) => {
                    if idx.len() > MAX_SVM_SAMPLES {
                        anyhow::bail!(
                            "the svm protocol fits a kernel matrix of the labelled samples; {} is \
                             more than {MAX_SVM_SAMPLES}: use it with fewer labels",
                            idx.len()
                        );
                    }
                    let pred = svm_predict(&train.select(&idx), &labels, classes, test, &cfg.svm);
                    accuracy(&pred, test_labels)
                }
                _ => evaluand.train_classifier(protocol, &idx, share, log)?,
            };
            let baseline = baselines
                .iter()
                .find(|(p, _)| *p == protocol)
                .map(|&(_, a)| a);
            let result = share.result(protocol, ssl, baseline);
            log(&result.line());
            results.push(result);
        }
    }
    Ok(results)
}

/// The train and test embeddings as each frozen protocol asked for reads them.
struct FrozenViews {
    knn: Option<(Embeddings, Embeddings)>,
    linear: Option<(Embeddings, Embeddings)>,
    svm: Option<(Embeddings, Embeddings)>,
}

impl FrozenViews {
    fn new(
        train: &Embeddings,
        test: &Embeddings,
        features: &ProtocolFeatures,
        protocols: &[Protocol],
    ) -> Self {
        let view = |p: Protocol, f: Features| protocols.contains(&p).then(|| f.apply(train, test));
        Self {
            knn: view(Protocol::Knn, features.knn),
            linear: view(Protocol::Linear, features.linear),
            svm: view(Protocol::Svm, features.svm),
        }
    }

    /// The view `protocol` reads, if it is a frozen protocol that was asked for.
    fn of(&self, protocol: Protocol) -> Option<&(Embeddings, Embeddings)> {
        match protocol {
            Protocol::Knn => self.knn.as_ref(),
            Protocol::Linear => self.linear.as_ref(),
            Protocol::Svm => self.svm.as_ref(),
            Protocol::Finetune | Protocol::Prompt => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Two well separated classes in two dimensions; the baseline answers a fixed accuracy and
    /// counts its calls, fine-tuning answers 1.
    struct Blobs {
        train: Vec<u32>,
        test: Vec<u32>,
        baseline_calls: Cell<usize>,
        embed_calls: Cell<usize>,
    }

    impl Blobs {
        fn new() -> Self {
            Self {
                train: (0..40).map(|i| i % 2).collect(),
                test: (0..20).map(|i| i % 2).collect(),
                baseline_calls: Cell::new(0),
                embed_calls: Cell::new(0),
            }
        }
        fn points(labels: &[u32], jitter: f32) -> Embeddings {
            let data = labels
                .iter()
                .enumerate()
                .flat_map(|(i, &c)| {
                    let j = jitter * ((i * 7 % 5) as f32 - 2.0);
                    if c == 0 {
                        [5.0 + j, 1.0 - j]
                    } else {
                        [1.0 - j, 5.0 + j]
                    }
                })
                .collect();
            Embeddings::new(data, labels.len(), 2)
        }
    }

    impl Evaluand for Blobs {
        fn train_labels(&self) -> &[u32] {
            &self.train
        }
        fn test_labels(&self) -> &[u32] {
            &self.test
        }
        fn embed(&self, _: &dyn Fn(&str)) -> anyhow::Result<(Embeddings, Embeddings)> {
            self.embed_calls.set(self.embed_calls.get() + 1);
            Ok((
                Self::points(&self.train, 0.1),
                Self::points(&self.test, 0.2),
            ))
        }
        fn baselines(
            &self,
            labelled: &[usize],
            _: LabelShare,
            protocols: &[Protocol],
            _: &dyn Fn(&str),
        ) -> anyhow::Result<Baselines> {
            self.baseline_calls.set(self.baseline_calls.get() + 1);
            let accuracy = labelled.len() as f64 / 100.0;
            Ok(protocols.iter().map(|&p| (p, accuracy)).collect())
        }
        fn trained_protocols(&self) -> &[Protocol] {
            &[Protocol::Finetune]
        }
        fn train_classifier(
            &self,
            _: Protocol,
            _: &[usize],
            _: LabelShare,
            _: &dyn Fn(&str),
        ) -> anyhow::Result<f64> {
            Ok(1.0)
        }
    }

    fn config(protocols: Vec<Protocol>) -> SuiteConfig {
        SuiteConfig {
            protocols,
            shares: vec![
                LabelShare::PerClass(LabelBudget::PerClass(2)),
                LabelShare::Fraction(0.5),
            ],
            baseline: true,
            knn: KnnConfig::default(),
            linear: LinearProbeConfig::default(),
            svm: SvmConfig::default(),
            features: ProtocolFeatures {
                knn: Features::Centred,
                linear: Features::Raw,
                svm: Features::Standardised,
            },
            seed: 0,
        }
    }

    #[test]
    fn every_protocol_at_every_share_beside_its_baseline() {
        let blobs = Blobs::new();
        let cfg = config(vec![
            Protocol::Knn,
            Protocol::Linear,
            Protocol::Svm,
            Protocol::Finetune,
        ]);
        let lines = std::cell::RefCell::new(Vec::new());
        let results =
            evaluate(&blobs, &cfg, &|l| lines.borrow_mut().push(l.to_string())).expect("evaluates");
        assert_eq!(results.len(), 8);
        assert_eq!(blobs.embed_calls.get(), 1, "embedded once");
        assert_eq!(blobs.baseline_calls.get(), 2, "one baseline call per share");
        for r in &results {
            assert!(r.ssl_accuracy > 0.9, "{r:?}");
        }
        // 2 per class of 2 classes, then half of 40.
        assert_eq!(results[0].labels_per_class, Some(LabelBudget::PerClass(2)));
        assert_eq!(results[0].baseline_accuracy, Some(0.04));
        assert_eq!(results[4].labels_fraction, Some(0.5));
        assert_eq!(results[4].baseline_accuracy, Some(0.2));
        let results_logged = lines.borrow().iter().filter(|l| l.ends_with('%')).count();
        assert_eq!(results_logged, 8, "{:?}", lines.borrow());
    }

    #[test]
    fn only_trained_protocols_skip_the_embeddings_and_unknown_ones_are_refused() {
        let blobs = Blobs::new();
        let results =
            evaluate(&blobs, &config(vec![Protocol::Finetune]), &|_| {}).expect("evaluates");
        assert_eq!(results.len(), 2);
        assert_eq!(blobs.embed_calls.get(), 0);
        let err = evaluate(&blobs, &config(vec![Protocol::Prompt]), &|_| {}).unwrap_err();
        assert!(err.to_string().contains("prompt"), "{err}");
    }
}
