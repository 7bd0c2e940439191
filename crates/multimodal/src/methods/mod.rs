//! The pair methods and their one registration point, the list in
//! [`autodidact_core::method_registry!`] below: a method is a file here and one line there.

use burn::prelude::*;

use crate::batch::PairBatch;
use crate::towers::Towers;
pub use autodidact_core::method::{AfterStep, Method, MethodSettings, StepOutput, device_of};

/// A method that aligns two towers from pairs alone: a [`Method`] whose batch is images beside
/// one partner each and whose exported encoder is both towers.
pub trait PairMethod: Method<Batch = PairBatch, Encoder = Towers> {
    /// The method's own hyper-parameters (`[method_config]`).
    type Config: MethodSettings;
    /// Builds the method's learnable loss parameters around `towers`.
    fn new(cfg: &Self::Config, towers: Towers, device: &Device) -> Self;
}

/// The unit embeddings of a batch's images and partners, `([B, D], [B, D])`.
pub fn embed_batch(towers: &Towers, batch: &PairBatch) -> (Tensor<2>, Tensor<2>) {
    let device = device_of(towers);
    let images = towers.embed_images(batch.image_tensor(&device));
    let partners = towers.embed_partners(&batch.partners, &device, true);
    (images, partners)
}

/// Share of a batch's images whose own partner scores highest among the batch's partners (and
/// the same for partners): what "right" means at Recall@1 inside a batch. Read off the graph.
pub fn batch_accuracy(images: &Tensor<2>, partners: &Tensor<2>) -> f64 {
    let similarity = images
        .clone()
        .detach()
        .matmul(partners.clone().detach().transpose());
    let [n, _] = similarity.dims();
    let device = similarity.device();
    let truth = Tensor::<1, Int>::arange(0..n as i64, &device);
    let rows = similarity
        .clone()
        .argmax(1)
        .flatten::<1>(0, 1)
        .equal(truth.clone())
        .int()
        .sum()
        .into_scalar::<i64>();
    let cols = similarity
        .clone()
        .argmax(0)
        .flatten::<1>(0, 1)
        .equal(truth)
        .int()
        .sum()
        .into_scalar::<i64>();
    (rows + cols) as f64 / (2 * n) as f64
}

autodidact_core::method_registry! {
    /// The registered pair methods.
    pub enum PairMethodKind: PairMethod;
    Clip = "clip" => clip::Clip, "CLIP: symmetric InfoNCE between a batch's images and their partners, learnable temperature.";
    Siglip = "siglip" => siglip::Siglip, "SigLIP: every image-partner pair of the batch is a binary question (pair or not), sigmoid loss with learnable scale and bias.";
}
