//! A data-parallel rank's part of the global batch. The global batch of a step is the one a
//! single process would draw (the same samples, augmented with the same per-sample seeds); rank
//! `r` of `n` trains on its `r`-th contiguous slice of samples.

use std::ops::Range;

use burn::prelude::*;

/// A batch that splits along its samples.
pub trait Shard: Sized {
    /// How many samples the batch holds.
    fn samples(&self) -> usize;

    /// The samples at `range` (within `0..samples()`), in order.
    fn slice_samples(self, range: Range<usize>) -> Self;
}

/// The samples of `batch` that rank `rank` of `size` trains on; the batch must split evenly.
pub fn part_of<B: Shard>(batch: B, rank: usize, size: usize) -> anyhow::Result<B> {
    if size == 1 {
        return Ok(batch);
    }
    let n = batch.samples();
    if !n.is_multiple_of(size) {
        anyhow::bail!(
            "a batch of {n} samples does not split evenly over {size} ranks; choose a --batch-size that is a multiple of {size}"
        );
    }
    let per_rank = n / size;
    Ok(batch.slice_samples(rank * per_rank..(rank + 1) * per_rank))
}

/// The rows `range` of a flat row-major buffer with `row` values per sample.
pub fn rows<T: Clone>(values: &[T], row: usize, range: Range<usize>) -> Vec<T> {
    values[range.start * row..range.end * row].to_vec()
}

impl<const D: usize> Shard for Tensor<D> {
    fn samples(&self) -> usize {
        self.dims()[0]
    }

    fn slice_samples(self, range: Range<usize>) -> Self {
        self.narrow(0, range.start, range.len())
    }
}

/// Views of the same samples (augmented image views): each view is split the same way.
impl<const D: usize> Shard for Vec<Tensor<D>> {
    fn samples(&self) -> usize {
        self.first().map_or(0, |t| t.dims()[0])
    }

    fn slice_samples(self, range: Range<usize>) -> Self {
        self.into_iter()
            .map(|t| t.slice_samples(range.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rank_takes_its_contiguous_slice_of_every_view() {
        let device = Device::flex();
        let view = |offset: f32| {
            let v: Vec<f32> = (0..6).map(|i| i as f32 + offset).collect();
            Tensor::<2>::from_data(TensorData::new(v, [6, 1]), &device)
        };
        let batch = vec![view(0.0), view(10.0)];
        let part = part_of(batch.clone(), 1, 3).unwrap();
        let got: Vec<Vec<f32>> = part
            .into_iter()
            .map(|t| t.into_data().try_to_vec::<f32>().unwrap())
            .collect();
        assert_eq!(got, vec![vec![2.0, 3.0], vec![12.0, 13.0]]);
        let err = part_of(batch, 0, 4).unwrap_err().to_string();
        assert!(
            err.contains("6 samples") && err.contains("4 ranks"),
            "{err}"
        );
        assert_eq!(rows(&[1, 2, 3, 4, 5, 6], 2, 1..3), vec![3, 4, 5, 6]);
    }
}
