//! The image side of the one evaluation suite (`autodidact_core::eval::suite`): an encoder's
//! pooled embeddings of both splits, and the supervised baseline trained on the same labelled
//! images.

use burn::prelude::*;

use super::baseline::{BaselineConfig, supervised_baseline};
use super::embed::embed_images;
use crate::data::ImageSet;
use crate::encoders::{ImageEncoder, Pooling};
use autodidact_core::eval::Embeddings;
pub use autodidact_core::eval::protocol::{Protocol, parse_protocols};
pub use autodidact_core::eval::suite::{
    Baselines, Evaluand, Features, LabelShare, ProtocolFeatures, SuiteConfig, evaluate,
    split_labels,
};

/// How images read the frozen protocols: k-NN on `knn` (the method's default,
/// [`crate::methods::MethodKind::knn_features`]), the linear probe and the SVM on the pooled
/// embeddings as they are (the probe standardises with its labelled samples' statistics).
pub fn image_features(knn: Features) -> ProtocolFeatures {
    ProtocolFeatures {
        knn,
        linear: Features::Raw,
        svm: Features::Raw,
    }
}

/// A pre-trained image encoder with its labelled train and test images.
pub struct ImageEvaluand<'a> {
    encoder: &'a ImageEncoder,
    /// Side of the square network input.
    size: usize,
    train: &'a ImageSet,
    test: &'a ImageSet,
    train_labels: &'a [u32],
    test_labels: &'a [u32],
    pooling: Pooling,
    baseline: BaselineConfig,
    device: &'a Device,
}

impl<'a> ImageEvaluand<'a> {
    /// `encoder` (input side `size`) read through `pooling` on `train` and `test`, both
    /// labelled and of one channel count; `baseline` is trained when the suite asks for it.
    pub fn new(
        encoder: &'a ImageEncoder,
        size: usize,
        train: &'a ImageSet,
        test: &'a ImageSet,
        pooling: Pooling,
        baseline: BaselineConfig,
        device: &'a Device,
    ) -> anyhow::Result<Self> {
        let (train_labels, test_labels) =
            split_labels(train.labels.as_deref(), test.labels.as_deref(), "splits")?;
        if train.channels != test.channels {
            anyhow::bail!(
                "train images have {} channels but test images have {}",
                train.channels,
                test.channels
            );
        }
        Ok(Self {
            encoder,
            size,
            train,
            test,
            train_labels,
            test_labels,
            pooling,
            baseline,
            device,
        })
    }
}

impl Evaluand for ImageEvaluand<'_> {
    fn train_labels(&self) -> &[u32] {
        self.train_labels
    }

    fn test_labels(&self) -> &[u32] {
        self.test_labels
    }

    fn embed(&self, log: &dyn Fn(&str)) -> anyhow::Result<(Embeddings, Embeddings)> {
        let depth = self.encoder.vit_depth().map_or(String::new(), |k| {
            format!(" of the tokens after {k} ViT blocks")
        });
        log(&format!(
            "embedding {} train and {} test images ({} pooling{depth}, {} values each)",
            self.train.len(),
            self.test.len(),
            self.pooling.name(),
            self.pooling.dim(self.encoder.out_dim()),
        ));
        let embed = |set| embed_images(self.encoder, self.pooling, set, self.size, self.device);
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
            "training the supervised baseline on {} labelled images ({share})",
            labelled.len()
        ));
        let accuracy = supervised_baseline(
            self.encoder,
            &self.train.subset(labelled),
            self.test,
            self.size,
            &self.baseline,
            self.device,
        )?;
        Ok(protocols.iter().map(|&p| (p, accuracy)).collect())
    }
}
