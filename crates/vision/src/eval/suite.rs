//! The evaluation suite: embed once, then each protocol at each label budget, beside the
//! supervised baseline trained on the same labelled samples.

use burn::prelude::*;

use super::baseline::{BaselineConfig, supervised_baseline};
use super::embed::embed_images;
use crate::data::ImageSet;
use crate::encoders::{ImageEncoder, Pooling};
use autodidact_core::eval::knn::{KnnConfig, KnnFeatures, accuracy, knn_predict};
use autodidact_core::eval::linear::{LinearProbeConfig, linear_probe};
pub use autodidact_core::eval::protocol::{Protocol, parse_protocols};
use autodidact_core::eval::report::EvalResult;
use autodidact_core::eval::svm::{SvmConfig, svm_predict};
use autodidact_core::split::{LabelBudget, sample_per_class};

/// Most labelled samples the SVM protocol accepts (its kernel matrix grows with their square).
const MAX_SVM_SAMPLES: usize = 5000;

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct SuiteConfig {
    pub budgets: Vec<LabelBudget>,
    pub protocols: Vec<Protocol>,
    /// Train the supervised baseline too.
    pub baseline: Option<BaselineConfig>,
    /// How the encoder's feature map becomes the representation.
    pub pooling: Pooling,
    pub knn: KnnConfig,
    /// What k-NN's cosine similarity compares.
    pub knn_features: KnnFeatures,
    pub linear: LinearProbeConfig,
    /// Seed of the label sampling.
    pub seed: u64,
}

/// Runs the suite for a pre-trained `encoder` (input side `size`).
pub fn evaluate(
    encoder: &ImageEncoder,
    size: usize,
    train: &ImageSet,
    test: &ImageSet,
    cfg: &SuiteConfig,
    device: &Device,
    log: &dyn Fn(&str),
) -> anyhow::Result<Vec<EvalResult>> {
    let (Some(train_labels), Some(test_labels)) = (&train.labels, &test.labels) else {
        anyhow::bail!("evaluation needs labelled train and test splits");
    };
    if train.channels != test.channels {
        anyhow::bail!(
            "train images have {} channels but test images have {}",
            train.channels,
            test.channels
        );
    }
    let num_classes = train.num_classes().max(test.num_classes());
    let depth = encoder.vit_depth().map_or(String::new(), |k| {
        format!(" of the tokens after {k} ViT blocks")
    });
    log(&format!(
        "embedding {} train and {} test images ({} pooling{depth}, {} values each; k-NN on {} features)",
        train.len(),
        test.len(),
        format!("{:?}", cfg.pooling).to_lowercase(),
        cfg.pooling.dim(encoder.out_dim()),
        cfg.knn_features.name()
    ));
    let train_emb = embed_images(encoder, cfg.pooling, train, size, device);
    let test_emb = embed_images(encoder, cfg.pooling, test, size, device);
    let (knn_train, knn_test) = cfg.knn_features.apply(&train_emb, &test_emb);

    let mut results = Vec::new();
    for &budget in &cfg.budgets {
        let idx = sample_per_class(train_labels, budget, cfg.seed);
        let labels: Vec<u32> = idx.iter().map(|&i| train_labels[i]).collect();
        let baseline_accuracy = match &cfg.baseline {
            Some(b) => {
                log(&format!(
                    "training the supervised baseline on {} labelled images ({budget} per class)",
                    idx.len()
                ));
                Some(supervised_baseline(
                    encoder,
                    &train.subset(&idx),
                    test,
                    size,
                    b,
                    device,
                )?)
            }
            None => None,
        };
        for &protocol in &cfg.protocols {
            let ssl_accuracy = match protocol {
                Protocol::Knn => {
                    let bank = knn_train.select(&idx);
                    let pred = knn_predict(&bank, &labels, num_classes, &knn_test, &cfg.knn);
                    accuracy(&pred, test_labels)
                }
                Protocol::Linear => linear_probe(
                    &train_emb.select(&idx),
                    &labels,
                    num_classes,
                    &test_emb,
                    test_labels,
                    &cfg.linear,
                ),
                Protocol::Svm => {
                    if idx.len() > MAX_SVM_SAMPLES {
                        anyhow::bail!(
                            "the svm protocol fits a kernel matrix of the labelled samples; {} is \
                             more than {MAX_SVM_SAMPLES}: use it with fewer labels per class",
                            idx.len()
                        );
                    }
                    accuracy(
                        &svm_predict(
                            &train_emb.select(&idx),
                            &labels,
                            num_classes,
                            &test_emb,
                            &SvmConfig::default(),
                        ),
                        test_labels,
                    )
                }
            };
            log(&format!(
                "{} at {budget} labels per class: {:.2}%",
                protocol.name(),
                100.0 * ssl_accuracy
            ));
            results.push(EvalResult {
                protocol: protocol.name().to_string(),
                labels_per_class: Some(budget),
                labels_fraction: None,
                ssl_accuracy,
                baseline_accuracy,
            });
        }
    }
    Ok(results)
}
