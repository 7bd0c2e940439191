//! The 1-nearest-neighbour Euclidean classifier on raw values: the UCR archive's reference baseline.

use anyhow::bail;
use rayon::prelude::*;

use super::SeriesSet;
use super::augment::resample_linear;

/// Series `i` of `set` with every channel resampled to `len` and missing values set to 0.
///
/// Zero is the mean of a z-normalised series (the UCR archive's series are), so a missing value
/// adds the distance an average value would, rather than none (skipping it would favour train
/// series that are missing a lot) or everything (NaN).
fn dense(set: &SeriesSet, i: usize, len: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(set.channels * len);
    for c in 0..set.channels {
        let channel = set.channel(i, c);
        if channel.len() == len {
            out.extend_from_slice(channel);
        } else {
            out.extend(resample_linear(channel, len));
        }
    }
    out.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = 0.0);
    out
}

/// Accuracy of the 1-NN Euclidean classifier (all channels; unequal lengths resampled by linear
/// interpolation to the longest train length; NaN counted as 0). Ties go to the first train series.
pub fn one_nn_euclidean(train: &SeriesSet, test: &SeriesSet) -> anyhow::Result<f64> {
    let (Some(train_labels), Some(test_labels)) = (&train.labels, &test.labels) else {
        bail!("1-NN accuracy needs labelled train and test sets");
    };
    if train.channels != test.channels {
        bail!(
            "1-NN: train has {} channels but test has {}",
            train.channels,
            test.channels
        );
    }
    if train.class_names != test.class_names {
        bail!(
            "1-NN: train and test class names differ ({:?} vs {:?})",
            train.class_names,
            test.class_names
        );
    }
    if train.is_empty() || test.is_empty() {
        bail!(
            "1-NN: needs at least one train and one test series (found {} and {})",
            train.len(),
            test.len()
        );
    }
    let len = train.max_len();
    let bank: Vec<Vec<f32>> = (0..train.len()).map(|i| dense(train, i, len)).collect();
    let correct = (0..test.len())
        .into_par_iter()
        .filter(|&i| {
            let q = dense(test, i, len);
            let mut best = (f64::INFINITY, 0);
            for (j, b) in bank.iter().enumerate() {
                let d: f64 = q.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
                if d < best.0 {
                    best = (d, j);
                }
            }
            train_labels[best.1] == test_labels[i]
        })
        .count();
    Ok(correct as f64 / test.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: Vec<Vec<f32>>, channels: usize, labels: Vec<u32>) -> SeriesSet {
        let lengths = values.iter().map(|v| v.len() / channels).collect();
        SeriesSet {
            values,
            lengths,
            channels,
            labels: Some(labels),
            class_names: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn hand_made_sets() {
        let train = set(
            vec![vec![0.0, 0.0, 0.0], vec![5.0, 5.0, 5.0]],
            1,
            vec![0, 1],
        );
        // The second query is nearer class 1; the third is nearer class 0 but labelled 1.
        let test = set(
            vec![
                vec![1.0, 0.0, 0.0],
                vec![4.0, 4.0, 6.0],
                vec![1.0, 1.0, 1.0],
            ],
            1,
            vec![0, 1, 1],
        );
        assert!((one_nn_euclidean(&train, &test).unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn unequal_lengths_missing_values_and_channels() {
        // Two channels; train lengths 4 and 2 (the latter stretched to 4).
        let train = set(
            vec![
                vec![0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0],
                vec![3.0, 0.0, 9.0, 9.0],
            ],
            2,
            vec![0, 1],
        );
        // Stretched to length 4, test 0 is [3, 2, 1, 0 | 0, 0, 9, 9] (NaN as 0): nearer train 1.
        let test = set(
            vec![vec![3.0, 0.0, f32::NAN, 9.0], vec![0.0, 3.0, 0.0, 0.0]],
            2,
            vec![1, 0],
        );
        assert_eq!(one_nn_euclidean(&train, &test).unwrap(), 1.0);
    }

    #[test]
    fn errors() {
        let a = set(vec![vec![0.0, 1.0]], 1, vec![0]);
        let mut unlabelled = a.clone();
        unlabelled.labels = None;
        let err = one_nn_euclidean(&a, &unlabelled).unwrap_err().to_string();
        assert!(err.contains("labelled"), "{err}");
        let two = set(vec![vec![0.0, 1.0]], 2, vec![0]);
        let err = one_nn_euclidean(&a, &two).unwrap_err().to_string();
        assert!(err.contains("train has 1 channels but test has 2"), "{err}");
    }

    #[test]
    #[cfg_attr(
        not(shared_data),
        ignore = "needs ../shared/data (or AUTODIDACT_DATA); absent when this crate was built"
    )]
    fn gunpoint_matches_the_ucr_archive() {
        let dir = crate::shared_data::shared_data().join("ucr/GunPoint");
        let p = super::super::data::load_series(&dir).unwrap();
        let acc = one_nn_euclidean(&p.train, p.test.as_ref().unwrap()).unwrap();
        assert!(
            (acc - 0.913).abs() < 0.01,
            "GunPoint 1-NN ED accuracy {acc}"
        );
    }
}
