//! The pictures `eval` adds to an image run's folder: a t-SNE map of test embeddings coloured by
//! label (`plots/embedding-map.png`) and test images beside their nearest neighbours
//! (`plots/neighbours.png`), both from a seeded sample of the test split.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use autodidact_core::eval::map::{nearest, plot_map, tsne_map};
use autodidact_vision::augment::image::normalise_batch;
use autodidact_vision::data::ImageSet;
use autodidact_vision::encoders::{ImageEncoder, Pooling};
use autodidact_vision::eval::embed::embed_images;
use autodidact_vision::eval::grid::write_image_grid;

/// Test images on the map (all of them when fewer).
const MAP_IMAGES: usize = 2000;
/// Rows of the neighbour grid, and neighbours per row.
const QUERIES: usize = 8;
const NEIGHBOURS: usize = 8;

/// Draws both pictures into `run/plots/` and returns their paths.
pub fn write_image_pictures(
    encoder: &ImageEncoder,
    pooling: Pooling,
    test: &ImageSet,
    size: usize,
    device: &Device,
    run: &Path,
    seed: u64,
) -> anyhow::Result<Vec<PathBuf>> {
    let labels = test.labels.as_deref().unwrap_or_default();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut picked = sample(&mut rng, test.len(), MAP_IMAGES.min(test.len())).into_vec();
    picked.sort_unstable();
    let subset = test.subset(&picked);
    let embeddings = embed_images(encoder, pooling, &subset, size, device);
    let dir = run.join("plots");
    std::fs::create_dir_all(&dir)?;

    let map = dir.join("embedding-map.png");
    let points = tsne_map(&embeddings, seed)?;
    let picked_labels: Vec<u32> = picked
        .iter()
        .map(|&i| labels.get(i).copied().unwrap_or(0))
        .collect();
    let title = format!(
        "t-SNE of {} test embeddings ({} pooling)",
        picked.len(),
        pooling.name()
    );
    plot_map(&map, &points, &picked_labels, &test.class_names, &title)?;

    let grid = dir.join("neighbours.png");
    let rows: Vec<Tensor<4>> = (0..QUERIES.min(picked.len()))
        .map(|q| {
            let mut row = vec![q];
            row.extend(nearest(&embeddings, q, NEIGHBOURS));
            let images: Vec<usize> = row.iter().map(|&r| picked[r]).collect();
            let n = images.len();
            Tensor::from_data(
                TensorData::new(
                    normalise_batch(test, &images, size),
                    [n, test.channels, size, size],
                ),
                &device.clone().without_autodiff(),
            )
        })
        .collect();
    write_image_grid(&grid, &rows)?;
    Ok(vec![map, grid])
}
