//! Exact nearest-neighbour search over sentence embeddings, with an index file so that repeated
//! queries on the same corpus do not embed it again.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::prelude::*;

use super::eval::embed_texts;
use super::model::TextEncoder;
use super::tokenizer::TextTokenizer;
use autodidact_core::eval::Embeddings;
use autodidact_core::eval::npy::{read_npy, write_npy};

/// L2-normalised, centred embeddings of a corpus: cosine similarity is a dot product.
#[derive(Clone, Debug)]
pub struct SearchIndex {
    pub embeddings: Embeddings,
    /// The corpus mean subtracted before normalising (applied to queries too).
    pub mean: Vec<f32>,
}

/// Centres on `mean` and scales every row to unit length.
fn normalise(x: &Embeddings, mean: &[f32]) -> Embeddings {
    let mut out = x.centered(mean);
    for row in out.data.chunks_mut(x.dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    out
}

impl SearchIndex {
    /// Indexes raw sentence embeddings.
    pub fn new(raw: &Embeddings) -> Self {
        let mean = raw.mean();
        Self {
            embeddings: normalise(raw, &mean),
            mean,
        }
    }

    /// The `k` rows most similar to `query` (a raw embedding), best first, with their cosine
    /// similarity; `skip` leaves one row out (a query taken from the corpus itself).
    pub fn nearest(&self, query: &[f32], k: usize, skip: Option<usize>) -> Vec<(usize, f32)> {
        let q = normalise(&Embeddings::new(query.to_vec(), 1, query.len()), &self.mean);
        let mut scored: Vec<(usize, f32)> = (0..self.embeddings.n)
            .filter(|&i| Some(i) != skip)
            .map(|i| {
                let s = self
                    .embeddings
                    .row(i)
                    .iter()
                    .zip(&q.data)
                    .map(|(a, b)| a * b)
                    .sum();
                (i, s)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        scored
    }
}

/// Where the index of `corpus` for the run in `run_dir` lives: keyed by the corpus' path, size
/// and modification time and the encoder's modification time, so a changed corpus or a
/// continued run gets a new one.
pub fn index_path(run_dir: &Path, corpus: &Path) -> anyhow::Result<PathBuf> {
    let stamp = |p: &Path| -> anyhow::Result<(u64, u128)> {
        let meta = std::fs::metadata(p).with_context(|| format!("{}: cannot read", p.display()))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok((meta.len(), mtime))
    };
    let canonical = corpus
        .canonicalize()
        .unwrap_or_else(|_| corpus.to_path_buf());
    let key = format!(
        "{}|{:?}|{:?}",
        canonical.display(),
        stamp(corpus)?,
        stamp(&run_dir.join("encoder.safetensors"))?
    );
    // FNV-1a: a stable name, not a security boundary.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    Ok(run_dir
        .join("search-index")
        .join(format!("{hash:016x}.npy")))
}

/// The raw embeddings of `texts`, read from `index` when it exists and matches, else computed
/// and written there.
pub fn cached_embeddings(
    index: &Path,
    encoder: &TextEncoder,
    tokenizer: &TextTokenizer,
    texts: &[String],
    device: &Device,
) -> anyhow::Result<(Embeddings, bool)> {
    if let Ok((data, shape)) = read_npy(index)
        && shape == [texts.len(), encoder.d_model()]
    {
        return Ok((Embeddings::new(data, shape[0], shape[1]), true));
    }
    let emb = embed_texts(encoder, tokenizer, texts, device);
    if let Some(dir) = index.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    let tmp = index.with_extension("npy.tmp");
    write_npy(&tmp, &emb.data, &[emb.n, emb.dim])
        .with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, index).with_context(|| format!("{}: cannot write", index.display()))?;
    Ok((emb, false))
}

/// Mean share of each item's `k` nearest neighbours (itself left out) that share its label.
pub fn precision_at_k(index: &SearchIndex, raw: &Embeddings, labels: &[u32], k: usize) -> f64 {
    let total: f64 = (0..raw.n)
        .map(|i| {
            let hits = index
                .nearest(raw.row(i), k, Some(i))
                .iter()
                .filter(|(j, _)| labels[*j] == labels[i])
                .count();
            hits as f64 / k as f64
        })
        .sum();
    total / raw.n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rows_come_first_and_the_query_row_can_be_left_out() {
        let raw = Embeddings::new(
            vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0, -1.0, 0.0, 0.1, 0.9],
            5,
            2,
        );
        let index = SearchIndex::new(&raw);
        let hits = index.nearest(raw.row(0), 2, Some(0));
        assert_eq!(hits[0].0, 1, "{hits:?}");
        assert!(hits.iter().all(|(i, _)| *i != 0));
        assert!(hits[0].1 >= hits[1].1);
        let labels = [0, 0, 1, 2, 1];
        let p = precision_at_k(&index, &raw, &labels, 1);
        // 0<->1 and 2<->4 agree; 3 (the opposite of 0) has no same-label neighbour.
        assert!((p - 0.8).abs() < 1e-9, "{p}");
    }
}
