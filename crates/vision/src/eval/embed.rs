//! Images -> embedding matrix with a frozen encoder.

use burn::prelude::*;

use super::Embeddings;
use crate::augment::image::normalise_batch;
use crate::data::ImageSet;
use crate::encoders::{ImageEncoder, Pooling};

/// Images per forward pass when embedding.
const EMBED_BATCH: usize = 500;

/// Embeds every image of `set` (resized to `size` if needed) with `encoder` in eval mode,
/// pooled by `pooling`; `device` is the encoder's device (autodiff or not; the forward runs
/// without autodiff).
pub fn embed_images(
    encoder: &ImageEncoder,
    pooling: Pooling,
    set: &ImageSet,
    size: usize,
    device: &Device,
) -> Embeddings {
    let encoder = encoder.valid();
    let device = device.clone().without_autodiff();
    let dim = pooling.dim(encoder.out_dim());
    let mut data = Vec::with_capacity(set.len() * dim);
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(EMBED_BATCH) {
        let pixels = normalise_batch(set, chunk, size);
        let x = Tensor::<4>::from_data(
            TensorData::new(pixels, [chunk.len(), set.channels, size, size]),
            &device,
        );
        let z = encoder.represent(x, pooling);
        data.extend(
            z.into_data()
                .try_into_vec_as::<f32>()
                .expect("encoder output is f32"),
        );
    }
    Embeddings::new(data, set.len(), dim)
}
