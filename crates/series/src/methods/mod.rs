//! The series methods and their one registration point, the list in
//! [`autodidact_core::method_registry!`] below: a method is a file here and one line there.

use burn::prelude::*;

use crate::batch::SeriesBatch;
use crate::encoder::SeriesEncoder;
pub use autodidact_core::method::{AfterStep, Method, MethodSettings, StepOutput, device_of};

/// A self-supervised method on series: a [`Method`] whose batch is a padded, standardised
/// [`SeriesBatch`] and whose encoder is the dilated convolutional [`SeriesEncoder`]. It draws its
/// own randomness (crops, shuffles, masks) from the step's seed.
pub trait SeriesMethod: Method<Batch = SeriesBatch, Encoder = SeriesEncoder> {
    /// The method's own hyper-parameters (`[method_config]`).
    type Config: MethodSettings;
    /// Builds the method's heads around `encoder`.
    fn new(cfg: &Self::Config, encoder: SeriesEncoder, device: &Device) -> Self;
}

autodidact_core::method_registry! {
    /// The registered series methods.
    pub enum SeriesMethodKind: SeriesMethod;
    TsOrder = "ts-order" => ts_order::TsOrder, "Order restoration: cut a series into segments, shuffle them, predict each one's place.";
    TsMask = "ts-mask" => ts_mask::TsMask, "Masked modelling: hide spans of time steps, reconstruct their values.";
    TsContrast = "ts-contrast" => ts_contrast::TsContrast, "Contrast: TS2Vec's hierarchical contrastive loss over two overlapping crops.";
}
