//! autodidact's audio: clips read from WAV files (a folder of class folders or a manifest),
//! resampled to one rate, and the features methods and baselines read (log-mel spectrograms,
//! MFCC statistics).

pub mod augment;
pub mod batch;
pub mod bench;
pub mod data;
pub mod encoder;
pub mod eval;
pub mod features;
pub mod methods;
pub mod supervised;
pub mod synthetic;
pub mod train;
pub mod wav;
pub mod wav2vec2;

/// Mono clips at one sample rate, each of its own length, with optional labels.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioSet {
    /// Samples per second of every clip.
    pub rate: u32,
    /// Each clip's samples in `[-1, 1]`.
    pub clips: Vec<Vec<f32>>,
    /// One class index per clip, or `None` for unlabelled audio.
    pub labels: Option<Vec<u32>>,
    /// Class names indexed by label.
    pub class_names: Vec<String>,
}

impl AudioSet {
    pub fn len(&self) -> usize {
        self.clips.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }

    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The clips at `indices`, in that order, with their labels.
    pub fn subset(&self, indices: &[usize]) -> AudioSet {
        AudioSet {
            rate: self.rate,
            clips: indices.iter().map(|&i| self.clips[i].clone()).collect(),
            labels: self
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
            class_names: self.class_names.clone(),
        }
    }
}

/// A data set's train split and, where it has one, its test split.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioData {
    pub train: AudioSet,
    pub test: Option<AudioSet>,
}
