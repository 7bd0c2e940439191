//! What an encoder learnt, at a glance: a seeded 2-D t-SNE map of embeddings (exact t-SNE of the
//! `bhtsne` crate: its Barnes-Hut tree picks vantage points from an unseeded generator) drawn coloured by label, and each query's nearest neighbours by cosine
//! similarity (the modality draws them: images as a grid).

use std::path::Path;

use anyhow::bail;
use plotters::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::Embeddings;
use super::plot::{PALETTE, padded_range, render};

/// t-SNE's perplexity and iterations (van der Maaten's defaults, bhtsne's learning rate).
const PERPLEXITY: f32 = 30.0;
const EPOCHS: usize = 1000;

/// The rows of `e` placed in 2-D by t-SNE (Euclidean distances of the L2-normalised rows, so
/// that neighbours are those of cosine similarity), `[n][2]`; the same for the same `seed`.
/// Needs more rows than three times the perplexity (91).
pub fn tsne_map(e: &Embeddings, seed: u64) -> anyhow::Result<Vec<[f32; 2]>> {
    let min = 3 * PERPLEXITY as usize + 1;
    if e.n < min {
        bail!("a t-SNE map needs at least {min} embeddings, got {}", e.n);
    }
    let rows: Vec<Vec<f32>> = (0..e.n).map(|i| unit(e.row(i))).collect();
    let points: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    // A small random start, as t-SNE's own, but from our seed.
    let start: Vec<f32> = (0..2 * e.n)
        .map(|_| rng.random_range(-1e-4..1e-4))
        .collect();
    // One thread: bhtsne's parallel sums change with the scheduling, and a map must not.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let embedding = pool.install(|| {
        let mut tsne = bhtsne::tSNE::new(&points);
        tsne.embedding_dim(2)
            .perplexity(PERPLEXITY)
            .epochs(EPOCHS)
            .initial_embedding(start)
            .exact(|a: &&[f32], b: &&[f32]| {
                a.iter()
                    .zip(b.iter())
                    .map(|(x, y)| (x - y) * (x - y))
                    .sum::<f32>()
                    .sqrt()
            });
        tsne.embedding()
    });
    Ok(embedding.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
}

fn unit(row: &[f32]) -> Vec<f32> {
    let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    row.iter().map(|v| v / norm).collect()
}

/// The `k` rows of `e` most cosine-similar to row `query` (itself excluded), most similar first.
pub fn nearest(e: &Embeddings, query: usize, k: usize) -> Vec<usize> {
    let q = unit(e.row(query));
    let mut scored: Vec<(f32, usize)> = (0..e.n)
        .filter(|&i| i != query)
        .map(|i| {
            let r = unit(e.row(i));
            (q.iter().zip(&r).map(|(a, b)| a * b).sum(), i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, i)| i).collect()
}

/// Draws `points` coloured by `labels` (named by `names`, one per label value) to `path`.
pub fn plot_map(
    path: &Path,
    points: &[[f32; 2]],
    labels: &[u32],
    names: &[String],
    title: &str,
) -> anyhow::Result<()> {
    if points.is_empty() || points.len() != labels.len() {
        bail!(
            "{}: {} points and {} labels to draw",
            path.display(),
            points.len(),
            labels.len()
        );
    }
    let x = padded_range(points.iter().map(|p| p[0] as f64));
    let y = padded_range(points.iter().map(|p| p[1] as f64));
    render(path, |area| {
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 26))
            .margin(15)
            .build_cartesian_2d(x, y)?;
        let classes = labels.iter().copied().max().unwrap_or(0) as usize + 1;
        for class in 0..classes {
            let colour = PALETTE[class % PALETTE.len()];
            let dots = points
                .iter()
                .zip(labels)
                .filter(|(_, l)| **l as usize == class)
                .map(|(p, _)| Circle::new((p[0] as f64, p[1] as f64), 2, colour.filled()));
            let name = names
                .get(class)
                .cloned()
                .unwrap_or_else(|| class.to_string());
            chart
                .draw_series(dots)?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated clusters of 40 noisy points each in 8 dimensions.
    fn clusters() -> (Embeddings, Vec<u32>) {
        let mut rng = StdRng::seed_from_u64(5);
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for c in 0..3u32 {
            for _ in 0..40 {
                for j in 0..8 {
                    let centre = if j == c as usize { 5.0 } else { 0.0 };
                    data.push(centre + rng.random_range(-0.5..0.5f32));
                }
                labels.push(c);
            }
        }
        (Embeddings::new(data, 120, 8), labels)
    }

    #[test]
    fn the_map_is_seeded_and_keeps_clusters_apart() {
        let (e, labels) = clusters();
        let a = tsne_map(&e, 3).unwrap();
        assert_eq!(a, tsne_map(&e, 3).unwrap(), "the same seed, the same map");
        // Each point's nearest point on the map has its label.
        let same = (0..a.len())
            .filter(|&i| {
                let d = |j: usize| (a[i][0] - a[j][0]).powi(2) + (a[i][1] - a[j][1]).powi(2);
                let j = (0..a.len())
                    .filter(|&j| j != i)
                    .min_by(|&x, &y| d(x).total_cmp(&d(y)));
                j.is_some_and(|j| labels[j] == labels[i])
            })
            .count();
        assert!(
            same >= 115,
            "{same} of 120 points sit beside their own class"
        );
        assert!(tsne_map(&Embeddings::new(vec![0.0; 80], 10, 8), 0).is_err());
    }

    #[test]
    fn nearest_ranks_by_cosine_and_leaves_the_query_out() {
        let e = Embeddings::new(vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 2.0, 0.1], 4, 2);
        assert_eq!(nearest(&e, 0, 2), vec![3, 1]);
        assert_eq!(nearest(&e, 2, 1), vec![1]);
    }

    #[test]
    fn the_map_is_drawn() {
        let (e, labels) = clusters();
        let points = tsne_map(&e, 1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.png");
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        plot_map(&path, &points, &labels, &names, "test").unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        let coloured = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
        assert!(coloured > 500, "{coloured} coloured pixels");
        assert!(plot_map(&path, &points, &labels[1..], &names, "x").is_err());
    }
}
