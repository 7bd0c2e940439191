//! Audio's side of the one evaluation suite (`autodidact_core::eval::suite`): a run's frozen
//! encoder (beside the same architecture trained from scratch on the same labels, and
//! fine-tuned), and the classical baseline, each clip summarised by its MFCC statistics and read
//! by the suite's protocols as an encoder's embeddings would be.

use std::path::Path;

use burn::prelude::*;

use autodidact_core::eval::Embeddings;
use autodidact_core::eval::protocol::Protocol;
use autodidact_core::eval::suite::{
    Baselines, Evaluand, Features, LabelShare, ProtocolFeatures, split_labels,
};

use crate::AudioSet;
use crate::encoder::AudioEncoding;
use crate::features::{MelConfig, MelSpectrogram, mfcc_statistics};
use crate::methods::AudioMethod;
use crate::supervised::{SupervisedConfig, train_and_test};
use crate::train::{AudioRunConfig, FreshEncoder, with_fresh_encoder};
use autodidact_core::eval::report::EvalResult;
use autodidact_core::eval::suite::{SuiteConfig, evaluate};
use autodidact_core::train::checkpoint::load_run_encoder;
use autodidact_core::train::seed::seeded_init;

/// Clips per forward pass when embedding.
const EMBED_BATCH: usize = 32;

/// MFCCs per frame of the classical baseline (their means and deviations make 26 values).
pub const MFCC_COEFFICIENTS: usize = 13;

/// How audio reads the frozen protocols: every protocol on values standardised with the whole
/// train split's statistics (MFCC statistics span very different scales).
pub const AUDIO_FEATURES: ProtocolFeatures = ProtocolFeatures {
    knn: Features::Standardised,
    linear: Features::Standardised,
    svm: Features::Standardised,
};

/// The MFCC statistics of every clip of `set`, `[N, 2 x MFCC_COEFFICIENTS]`.
pub fn mfcc_embeddings(set: &AudioSet) -> Embeddings {
    let mel = MelSpectrogram::new(MelConfig::speech(set.rate));
    let dim = 2 * MFCC_COEFFICIENTS;
    let data = set
        .clips
        .iter()
        .flat_map(|clip| mfcc_statistics(&mel.log_mel(clip), MFCC_COEFFICIENTS))
        .collect();
    Embeddings::new(data, set.len(), dim)
}

/// The classical baseline as an evaluand: MFCC statistics of labelled train and test clips.
pub struct MfccEvaluand<'a> {
    train: &'a AudioSet,
    test: &'a AudioSet,
    train_labels: &'a [u32],
    test_labels: &'a [u32],
}

impl<'a> MfccEvaluand<'a> {
    pub fn new(train: &'a AudioSet, test: &'a AudioSet) -> anyhow::Result<Self> {
        let (train_labels, test_labels) =
            split_labels(train.labels.as_deref(), test.labels.as_deref(), "clips")?;
        if train.rate != test.rate {
            anyhow::bail!(
                "train clips at {} Hz, test clips at {} Hz",
                train.rate,
                test.rate
            );
        }
        Ok(Self {
            train,
            test,
            train_labels,
            test_labels,
        })
    }
}

impl Evaluand for MfccEvaluand<'_> {
    fn train_labels(&self) -> &[u32] {
        self.train_labels
    }

    fn test_labels(&self) -> &[u32] {
        self.test_labels
    }

    fn embed(&self, log: &dyn Fn(&str)) -> anyhow::Result<(Embeddings, Embeddings)> {
        log(&format!(
            "MFCC statistics ({MFCC_COEFFICIENTS} coefficients' means and deviations) of {} train and {} test clips",
            self.train.len(),
            self.test.len()
        ));
        Ok((mfcc_embeddings(self.train), mfcc_embeddings(self.test)))
    }

    /// The MFCC features are themselves the baseline: there is none beside them.
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

/// The embeddings of every clip of `set` by a frozen `encoder`, `[N, dim]`.
pub fn embed_clips<E: AudioEncoding>(encoder: &E, set: &AudioSet) -> Embeddings {
    let encoder = encoder.valid();
    let dim = encoder.dim();
    let mut data = Vec::with_capacity(set.len() * dim);
    for chunk in set.clips.chunks(EMBED_BATCH) {
        data.extend(encoder.embed(chunk, set.rate).into_data().iter::<f32>());
    }
    Embeddings::new(data, set.len(), dim)
}

/// A pre-trained run's encoder as an evaluand: frozen embeddings for k-NN, the probe and the SVM;
/// `finetune` trains it with a linear head; the baseline is a fresh encoder of the same
/// architecture trained the same way.
pub struct EncoderEvaluand<'a, E: AudioEncoding> {
    fresh: &'a dyn Fn(&Device) -> E,
    run_dir: &'a Path,
    train: &'a AudioSet,
    test: &'a AudioSet,
    train_labels: &'a [u32],
    test_labels: &'a [u32],
    supervised: SupervisedConfig,
}

impl<E: AudioEncoding> EncoderEvaluand<'_, E> {
    fn pretrained(&self, device: &Device) -> anyhow::Result<E> {
        load_run_encoder(self.run_dir, (self.fresh)(device))
    }
}

impl<E: AudioEncoding> Evaluand for EncoderEvaluand<'_, E> {
    fn train_labels(&self) -> &[u32] {
        self.train_labels
    }

    fn test_labels(&self) -> &[u32] {
        self.test_labels
    }

    fn embed(&self, log: &dyn Fn(&str)) -> anyhow::Result<(Embeddings, Embeddings)> {
        let encoder = self.pretrained(&Device::flex())?;
        log(&format!(
            "embedding {} train and {} test clips with {}",
            self.train.len(),
            self.test.len(),
            self.run_dir.display()
        ));
        Ok((
            embed_clips(&encoder, self.train),
            embed_clips(&encoder, self.test),
        ))
    }

    fn baselines(
        &self,
        labelled: &[usize],
        share: LabelShare,
        protocols: &[Protocol],
        log: &dyn Fn(&str),
    ) -> anyhow::Result<Baselines> {
        log(&format!(
            "training the same encoder from scratch on {} labelled clips ({share})",
            labelled.len()
        ));
        let device = Device::flex().autodiff();
        let encoder = seeded_init(&device, self.supervised.seed, || (self.fresh)(&device));
        let accuracy = train_and_test(encoder, self.train, labelled, self.test, &self.supervised)?;
        Ok(protocols.iter().map(|&p| (p, accuracy)).collect())
    }

    fn trained_protocols(&self) -> &[Protocol] {
        &[Protocol::Finetune]
    }

    fn train_classifier(
        &self,
        _protocol: Protocol,
        labelled: &[usize],
        share: LabelShare,
        log: &dyn Fn(&str),
    ) -> anyhow::Result<f64> {
        log(&format!(
            "fine-tuning the pre-trained encoder on {} labelled clips ({share})",
            labelled.len()
        ));
        let device = Device::flex().autodiff();
        let encoder = self.pretrained(&device)?;
        train_and_test(encoder, self.train, labelled, self.test, &self.supervised)
    }
}

/// Runs the suite `suite` on the encoder of the run in `run_dir` (its config `run`) with the
/// labelled `train` and `test` clips.
pub fn evaluate_run(
    run: &AudioRunConfig,
    run_dir: &Path,
    train: &AudioSet,
    test: &AudioSet,
    suite: &SuiteConfig,
    supervised: SupervisedConfig,
    log: &dyn Fn(&str),
) -> anyhow::Result<Vec<EvalResult>> {
    struct Run<'a> {
        run_dir: &'a Path,
        train: &'a AudioSet,
        test: &'a AudioSet,
        suite: &'a SuiteConfig,
        supervised: SupervisedConfig,
        log: &'a dyn Fn(&str),
    }
    impl FreshEncoder for Run<'_> {
        type Output = anyhow::Result<Vec<EvalResult>>;
        fn visit<M: AudioMethod>(self, fresh: &dyn Fn(&Device) -> M::Encoder) -> Self::Output {
            let (train_labels, test_labels) = split_labels(
                self.train.labels.as_deref(),
                self.test.labels.as_deref(),
                "clips",
            )?;
            let evaluand = EncoderEvaluand {
                fresh,
                run_dir: self.run_dir,
                train: self.train,
                test: self.test,
                train_labels,
                test_labels,
                supervised: self.supervised,
            };
            evaluate(&evaluand, self.suite, self.log)
        }
    }
    if train.rate != run.rate || test.rate != run.rate {
        anyhow::bail!(
            "clips at {} Hz; the run learnt from {} Hz",
            train.rate,
            run.rate
        );
    }
    with_fresh_encoder(
        run,
        Run {
            run_dir,
            train,
            test,
            suite,
            supervised,
            log,
        },
    )?
}

/// The embeddings of every clip of `set` by the run in `run_dir` (its config `run`).
pub fn embed_run(
    run: &AudioRunConfig,
    run_dir: &Path,
    set: &AudioSet,
) -> anyhow::Result<Embeddings> {
    struct Embed<'a>(&'a AudioSet);
    impl crate::train::EncoderVisitor for Embed<'_> {
        type Output = Embeddings;
        fn visit<E: AudioEncoding>(self, encoder: E) -> Embeddings {
            embed_clips(&encoder, self.0)
        }
    }
    crate::train::with_run_encoder(run, run_dir, &Device::flex(), Embed(set))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::load_audio;
    use crate::synthetic::write_tones;
    use autodidact_core::eval::suite::{SuiteConfig, evaluate};
    use autodidact_core::split::LabelBudget;

    #[test]
    fn mfcc_statistics_tell_pitched_tones_apart() {
        let dir = tempfile::tempdir().unwrap();
        write_tones(dir.path(), 4, 6).unwrap();
        let data = load_audio(dir.path(), 8000).unwrap();
        let test = data.test.as_ref().unwrap();
        let mfcc = MfccEvaluand::new(&data.train, test).unwrap();
        let cfg = SuiteConfig::new(
            vec![Protocol::Knn, Protocol::Linear],
            vec![LabelShare::PerClass(LabelBudget::PerClass(2))],
            AUDIO_FEATURES,
            0,
        );
        let results = evaluate(&mfcc, &cfg, &|_| {}).unwrap();
        assert_eq!(results.len(), 2);
        for r in &results {
            assert!(r.ssl_accuracy > 0.9, "{r:?}");
            assert_eq!(r.baseline_accuracy, None);
        }
        assert_eq!(mfcc_embeddings(test).dim, 26);
    }
}
