//! Images -> embedding matrix with a frozen encoder.

use burn::prelude::*;

use super::Embeddings;
use crate::augment::image::normalise_batch;
use crate::data::ImageSet;
use crate::encoders::ImageEncoder;

/// Images per forward pass when embedding.
const EMBED_BATCH: usize = 500;

/// Embeds every image of `set` (resized to `size` if needed) with `encoder` in eval mode;
/// `device` is the encoder's device (autodiff or not; the forward runs without autodiff).
pub fn embed_images(
    encoder: &ImageEncoder,
    set: &ImageSet,
    size: usize,
    device: &Device,
) -> Embeddings {
    let encoder = encoder.valid();
    let device = device.clone().without_autodiff();
    let dim = encoder.out_dim();
    let mut data = Vec::with_capacity(set.len() * dim);
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(EMBED_BATCH) {
        let pixels = normalise_batch(set, chunk, size);
        let x = Tensor::<4>::from_data(
            TensorData::new(pixels, [chunk.len(), set.channels, size, size]),
            &device,
        );
        let z = encoder.forward(x);
        data.extend(
            z.into_data()
                .try_into_vec_as::<f32>()
                .expect("encoder output is f32"),
        );
    }
    Embeddings::new(data, set.len(), dim)
}
