//! The pictures `eval` adds to a run's folder: a t-SNE map of test embeddings coloured by label
//! (`plots/embedding-map.png`, image, series and audio runs) and, for images, test images beside
//! their nearest neighbours (`plots/neighbours.png`), both from a seeded sample of the test split.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use autodidact_audio::AudioSet;
use autodidact_audio::eval::embed_run;
use autodidact_audio::train::AudioRunConfig;
use autodidact_core::eval::Embeddings;
use autodidact_core::eval::map::{nearest, plot_map, tsne_map};
use autodidact_series::SeriesSet;
use autodidact_series::batch::Scaler;
use autodidact_series::encoder::SeriesEncoder;
use autodidact_series::eval::embed_series;
use autodidact_vision::augment::image::normalise_batch;
use autodidact_vision::data::ImageSet;
use autodidact_vision::encoders::{ImageEncoder, Pooling};
use autodidact_vision::eval::embed::embed_images;
use autodidact_vision::eval::grid::write_image_grid;

/// Test samples on the map (all of them when fewer).
const MAP_SAMPLES: usize = 2000;
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
    let picked = map_sample(test.len(), seed);
    let subset = test.subset(&picked);
    let embeddings = embed_images(encoder, pooling, &subset, size, device);
    let what = format!("test embeddings ({} pooling)", pooling.name());
    let map = write_map(
        run,
        &embeddings,
        &subset.labels,
        &test.class_names,
        &what,
        seed,
    )?;
    let dir = run.join("plots");

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

/// Up to [`MAP_SAMPLES`] of `n` test samples, seeded, in order.
fn map_sample(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut picked = sample(&mut rng, n, MAP_SAMPLES.min(n)).into_vec();
    picked.sort_unstable();
    picked
}

/// Draws `run/plots/embedding-map.png`: the t-SNE map of `embeddings` coloured by `labels`.
fn write_map(
    run: &Path,
    embeddings: &Embeddings,
    labels: &Option<Vec<u32>>,
    class_names: &[String],
    what: &str,
    seed: u64,
) -> anyhow::Result<PathBuf> {
    let dir = run.join("plots");
    std::fs::create_dir_all(&dir)?;
    let map = dir.join("embedding-map.png");
    let points = tsne_map(embeddings, seed)?;
    let labels = labels.clone().unwrap_or_else(|| vec![0; embeddings.n]);
    let title = format!("t-SNE of {} {what}", embeddings.n);
    plot_map(&map, &points, &labels, class_names, &title)?;
    Ok(map)
}

/// The map of a series run's test series.
pub fn write_series_map(
    encoder: &SeriesEncoder,
    scaler: &Scaler,
    test: &SeriesSet,
    device: &Device,
    run: &Path,
    seed: u64,
) -> anyhow::Result<PathBuf> {
    let subset = test.subset(&map_sample(test.len(), seed));
    let embeddings = embed_series(encoder, &subset, scaler, device);
    let labels = subset.labels.clone();
    write_map(
        run,
        &embeddings,
        &labels,
        &test.class_names,
        "test series",
        seed,
    )
}

/// The map of an audio run's test clips.
pub fn write_audio_map(
    config: &AudioRunConfig,
    test: &AudioSet,
    run: &Path,
    seed: u64,
) -> anyhow::Result<PathBuf> {
    let subset = test.subset(&map_sample(test.len(), seed));
    let embeddings = embed_run(config, run, &subset)?;
    let labels = subset.labels.clone();
    write_map(
        run,
        &embeddings,
        &labels,
        &test.class_names,
        "test clips",
        seed,
    )
}

/// Says which pictures were drawn, or warns: the figures stand without them (too few test
/// samples for a map, say).
pub fn report_drawn(drawn: anyhow::Result<Vec<PathBuf>>) {
    match drawn {
        Ok(paths) => paths.iter().for_each(|p| println!("wrote {}", p.display())),
        Err(err) => eprintln!("warning: no embedding pictures: {err:#}"),
    }
}
