//! Time series: data sets, augmentations, the dilated-convolution encoder, the series pretexts,
//! their training loop and evaluation the UCR way.

pub mod augment;
pub mod batch;
pub mod data;
pub mod encoder;
pub mod eval;
pub mod methods;
pub mod nn;
#[cfg(test)]
mod shared_data;
pub mod synthetic;
pub mod train;
pub mod ucr;

/// A set of (possibly multivariate, possibly unequal-length) series with optional class labels.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSet {
    /// One entry per series, channel-major: `channels * lengths[i]` values, channel `c` at
    /// `[c * len .. (c + 1) * len]`. Missing values are `NaN`.
    pub values: Vec<Vec<f32>>,
    /// Time steps of each series.
    pub lengths: Vec<usize>,
    /// Channels (dimensions) of every series.
    pub channels: usize,
    /// Class index of each series (into `class_names`), if the set is labelled.
    pub labels: Option<Vec<u32>>,
    /// Class names in index order (from the `.ts` header's `@classLabel`, or sorted CSV labels).
    pub class_names: Vec<String>,
}

impl SeriesSet {
    /// Number of series.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Length of the longest series.
    pub fn max_len(&self) -> usize {
        self.lengths.iter().copied().max().unwrap_or(0)
    }

    /// Channel `c` of series `i`.
    pub fn channel(&self, i: usize, c: usize) -> &[f32] {
        let len = self.lengths[i];
        &self.values[i][c * len..(c + 1) * len]
    }

    /// Number of classes (`class_names.len()`).
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The series at `indices`, in that order (labels and class names kept).
    pub fn subset(&self, indices: &[usize]) -> SeriesSet {
        SeriesSet {
            values: indices.iter().map(|&i| self.values[i].clone()).collect(),
            lengths: indices.iter().map(|&i| self.lengths[i]).collect(),
            channels: self.channels,
            labels: self
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
            class_names: self.class_names.clone(),
        }
    }
}

/// A problem: a train split and, when the data has one, a test split.
#[derive(Clone, Debug)]
pub struct SeriesProblem {
    /// The problem's name (the folder or file stem, e.g. `GunPoint`).
    pub name: String,
    pub train: SeriesSet,
    pub test: Option<SeriesSet>,
}
