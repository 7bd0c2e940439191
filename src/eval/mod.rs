//! Evaluation on plain embedding matrices, whatever the modality: k-NN, linear probe, the supervised
//! baseline, and the report (table, JSON, plots).

pub mod baseline;
pub mod embed;
pub mod knn;
pub mod linear;
pub mod npy;
pub mod plot;
pub mod report;
pub mod suite;

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
}
