//! Evaluation on plain embedding matrices, whatever the modality: k-NN, linear probe, RBF SVM,
//! the report (table, JSON, plots) and `.npy` files.

pub mod knn;
pub mod linear;
#[cfg(feature = "plot")]
pub mod map;
pub mod npy;
#[cfg(feature = "plot")]
pub mod plot;
pub mod protocol;
pub mod report;
pub mod suite;
pub mod svm;

/// A row-major `n x dim` matrix of embeddings.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    pub data: Vec<f32>,
    pub n: usize,
    pub dim: usize,
}

impl Embeddings {
    /// Wraps `data` (length `n * dim`).
    pub fn new(data: Vec<f32>, n: usize, dim: usize) -> Self {
        assert_eq!(
            data.len(),
            n * dim,
            "embedding buffer must hold n * dim values"
        );
        Self { data, n, dim }
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Embeddings {
        let mut data = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Embeddings::new(data, indices.len(), self.dim)
    }

    /// Column means.
    pub fn mean(&self) -> Vec<f32> {
        let mut mean = vec![0.0f64; self.dim];
        for i in 0..self.n {
            for (m, &v) in mean.iter_mut().zip(self.row(i)) {
                *m += v as f64;
            }
        }
        mean.iter()
            .map(|&m| (m / self.n.max(1) as f64) as f32)
            .collect()
    }

    /// A copy with `offset` subtracted from every row.
    pub fn centered(&self, offset: &[f32]) -> Embeddings {
        assert_eq!(
            offset.len(),
            self.dim,
            "offset must have one value per dimension"
        );
        let mut data = self.data.clone();
        for row in data.chunks_mut(self.dim) {
            for (v, &o) in row.iter_mut().zip(offset) {
                *v -= o;
            }
        }
        Embeddings::new(data, self.n, self.dim)
    }

    /// `train` and `test` both standardised by `train`'s mean and deviation (computed once).
    pub fn standardized_pair(train: &Embeddings, test: &Embeddings) -> (Embeddings, Embeddings) {
        let (mean, inv_std) = linear::moments(train);
        (
            train.standardized_with(&mean, &inv_std),
            test.standardized_with(&mean, &inv_std),
        )
    }

    fn standardized_with(&self, mean: &[f32], inv_std: &[f32]) -> Embeddings {
        let mut out = self.centered(mean);
        for row in out.data.chunks_mut(self.dim) {
            for (v, &s) in row.iter_mut().zip(inv_std) {
                *v *= s;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardising_by_a_reference_uses_its_mean_and_deviation() {
        let reference = Embeddings::new(vec![0.0, 10.0, 2.0, 10.0, 4.0, 10.0], 3, 2);
        let x = Embeddings::new(vec![2.0, 12.0, 4.0 + 8f32.sqrt(), 10.0], 2, 2);
        let (_, z) = Embeddings::standardized_pair(&reference, &x);
        // Column 0: mean 2, std sqrt(8/3); column 1 is constant (deviation taken as 1).
        let s = (8.0f32 / 3.0).sqrt();
        let want = [0.0, 2.0, (2.0 + 8f32.sqrt()) / s, 0.0];
        for (g, w) in z.data.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{:?} vs {want:?}", z.data);
        }
    }
}
