//! Audio's side of the one evaluation suite (`autodidact_core::eval::suite`); so far its
//! classical baseline: each clip summarised by its MFCC statistics, read by the suite's
//! protocols as an encoder's embeddings would be.

use autodidact_core::eval::Embeddings;
use autodidact_core::eval::protocol::Protocol;
use autodidact_core::eval::suite::{
    Baselines, Evaluand, Features, LabelShare, ProtocolFeatures, split_labels,
};

use crate::AudioSet;
use crate::features::{MelConfig, MelSpectrogram, mfcc_statistics};

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
