//! Masked-region inpainting for convolutional encoders (after Pathak et al.'s context encoders):
//! 1 to 3 random rectangles covering about 25-50% of each image are set to 0 (mid-gray after
//! normalisation); the encoder's last feature map goes through a small decoder (stride-2
//! transposed convolutions halving the width each time, then a 3x3 convolution to the image's
//! channels) back to full resolution; the loss is the mean squared error on the hidden pixels,
//! plus `inpaint_visible_weight` (default 0) times that on the visible ones.

use std::path::Path;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use super::masking::{box_mask, vit_patches_tile};
use super::{ImageMethod, Method, MethodSettings, StepOutput};
use crate::augment::image::AugmentConfig;
use crate::encoders::{EncoderKind, ImageEncoder, Pooling};
use crate::eval::grid::write_image_grid;
use autodidact_core::eval::knn::KnnFeatures;
use autodidact_core::train::limits::{self, Settings};

/// Seed of the rectangles drawn for `reconstruction.png`.
const GRID_SEED: u64 = 0x696e_7061;
/// Narrowest decoder stage.
const MIN_WIDTH: usize = 32;

/// Upsamples a `[B, D, h, w]` feature map by `2^k` to `[B, C, 2^k h, 2^k w]`.
#[derive(Module, Debug)]
pub struct UpDecoder {
    ups: Vec<ConvTranspose2d>,
    out: Conv2d,
}

impl UpDecoder {
    /// `stages` transposed convolutions (kernel 4, stride 2, padding 1: exactly 2x) from
    /// `in_dim` channels, each halving the width (at least 32), then a 3x3 convolution to
    /// `channels`.
    pub fn new(in_dim: usize, stages: usize, channels: usize, device: &Device) -> Self {
        let mut ups = Vec::new();
        let mut width = in_dim;
        for _ in 0..stages {
            let next = (width / 2).max(MIN_WIDTH);
            ups.push(
                ConvTranspose2dConfig::new([width, next], [4, 4])
                    .with_stride([2, 2])
                    .with_padding([1, 1])
                    .init(device),
            );
            width = next;
        }
        Self {
            ups,
            out: Conv2dConfig::new([width, channels], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
        }
    }

    pub fn forward(&self, features: Tensor<4>) -> Tensor<4> {
        let x = self.ups.iter().fold(features, |x, up| relu(up.forward(x)));
        self.out.forward(x)
    }
}

/// Mean squared error over hidden pixels (`hidden = 1`, `[B, 1, H, W]`, broadcast over channels)
/// plus `visible_weight` times the mean over visible ones.
pub fn inpaint_loss(
    pred: Tensor<4>,
    target: Tensor<4>,
    hidden: Tensor<4>,
    visible_weight: f64,
) -> Tensor<1> {
    let [_, c, _, _] = pred.dims();
    let err = (pred - target).powf_scalar(2.0);
    let visible = hidden.clone().neg() + 1.0;
    let hidden_loss =
        (err.clone() * hidden.clone()).sum() / (hidden.sum() * c as f64).clamp_min(1.0);
    if visible_weight == 0.0 {
        return hidden_loss;
    }
    let visible_loss = (err * visible.clone()).sum() / (visible.sum() * c as f64).clamp_min(1.0);
    hidden_loss + visible_loss * visible_weight
}

/// One masked forward pass.
struct InpaintOutput {
    loss: Tensor<1>,
    /// `[B, 1, H, W]`, 1 on hidden pixels.
    hidden: Tensor<4>,
    masked: Tensor<4>,
    pred: Tensor<4>,
    /// The feature map's spatial mean, `[B, D]`.
    pooled: Tensor<2>,
}

#[derive(Module, Debug)]
pub struct Inpaint {
    pub encoder: ImageEncoder,
    pub decoder: UpDecoder,
    pub visible_weight: f64,
}

impl Inpaint {
    /// `[B, 1, H, W]` rectangle mask on `device`.
    fn mask(batch: usize, h: usize, w: usize, seed: u64, device: &Device) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(box_mask(batch, h, w, seed), [batch, 1, h, w]),
            device,
        )
    }

    /// The prediction for the masked images, cropped to their size, and the pooled features.
    pub fn predict(&self, masked: Tensor<4>) -> (Tensor<4>, Tensor<2>) {
        let [b, c, h, w] = masked.dims();
        let features = self.encoder.feature_map(masked);
        let [_, d, _, _] = features.dims();
        let pooled = features.clone().mean_dim(3).mean_dim(2).reshape([b, d]);
        // The padded convolutions cover ceil(H / 8) cells: the decoder's output is at least
        // H x W and aligned at the top left (methods::check_encoder keeps the ViT exact).
        let pred = self
            .decoder
            .forward(features)
            .slice([0..b, 0..c, 0..h, 0..w]);
        (pred, pooled)
    }

    /// The loss on `x` with rectangles drawn from `seed`; also the masked input and prediction.
    fn run(&self, x: Tensor<4>, seed: u64) -> InpaintOutput {
        let [b, _, h, w] = x.dims();
        let hidden = Self::mask(b, h, w, seed, &x.device());
        let masked = x.clone() * (hidden.clone().neg() + 1.0);
        let (pred, pooled) = self.predict(masked.clone());
        let loss = inpaint_loss(pred.clone(), x, hidden.clone(), self.visible_weight);
        InpaintOutput {
            loss,
            hidden,
            masked,
            pred,
            pooled,
        }
    }
}

/// Inpainting's settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InpaintConfig {
    /// Weight of the visible pixels' error relative to the hidden ones' (0: only the hidden
    /// pixels count).
    pub inpaint_visible_weight: f64,
}

impl MethodSettings for InpaintConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real(
            "method_config.inpaint_visible_weight",
            self.inpaint_visible_weight,
            limits::LOSS_WEIGHT,
        )
    }
}

impl ImageMethod for Inpaint {
    type Config = InpaintConfig;
    const POOLING: Pooling = Pooling::Grid;
    const KNN_FEATURES: KnnFeatures = KnnFeatures::Standardised;

    fn encoder_problem(encoder: EncoderKind, vit_patch: usize, size: usize) -> Option<String> {
        vit_patches_tile("inpaint", encoder, vit_patch, size)
    }

    fn new(cfg: &InpaintConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let stages = encoder.feature_stride().trailing_zeros() as usize;
        let decoder = UpDecoder::new(encoder.out_dim(), stages, encoder.in_channels(), device);
        Self {
            encoder,
            decoder,
            visible_weight: cfg.inpaint_visible_weight,
        }
    }

    fn views(_: &InpaintConfig, channels: usize, size: usize) -> Vec<AugmentConfig> {
        vec![AugmentConfig::masked_modelling(channels, size)]
    }

    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }

    fn write_artifacts(&self, batch: &[Tensor<4>], run_dir: &Path) -> anyhow::Result<()> {
        let Some(x) = batch.first() else {
            return Ok(());
        };
        let out = self.run(x.clone(), GRID_SEED);
        // Visible pixels from the input, hidden ones from the prediction.
        let recon = out.masked.clone() + out.pred * out.hidden;
        write_image_grid(
            &run_dir.join("reconstruction.png"),
            &[x.clone(), out.masked, recon],
        )
    }
}

impl Method for Inpaint {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, seed: u64) -> StepOutput {
        let [x]: [Tensor<4>; 1] = views.try_into().expect("inpainting takes one view");
        let out = self.run(x, seed);
        StepOutput::new(out.loss, out.pooled)
    }

    fn watches_collapse(&self) -> bool {
        false
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders::EncoderKind;
    use burn::tensor::Distribution;

    #[test]
    fn inpaint_loss_ignores_visible_pixels_unless_weighted() {
        let device = Device::flex();
        let target = Tensor::<4>::zeros([1, 2, 2, 2], &device);
        // Hidden: the top row of each 2x2 image (both channels).
        let hidden = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 1.0, 0.0, 0.0], [1, 1, 2, 2]),
            &device,
        );
        let pred = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, 2, 2, 2]), &device);
        let base = vec![1.0f32, 3.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0];
        // Hidden errors: 1, 9, 4, 0 -> mean 3.5.
        let l = |v: Vec<f32>, wv: f64| {
            inpaint_loss(pred(v), target.clone(), hidden.clone(), wv).into_scalar::<f32>()
        };
        assert!((l(base.clone(), 0.0) - 3.5).abs() < 1e-6);
        let mut visible = base.clone();
        visible[2] = 7.0;
        visible[7] = -3.0;
        assert_eq!(l(visible.clone(), 0.0), l(base.clone(), 0.0));
        let mut hid = base.clone();
        hid[1] = 5.0;
        assert!(l(hid, 0.0) > 3.5 + 1.0);
        // With weight 0.5: visible errors 49 and 9 over 4 visible values -> 14.5 * 0.5.
        assert!((l(visible, 0.5) - (3.5 + 7.25)).abs() < 1e-5);
    }

    #[test]
    fn decoder_restores_the_image_size_for_every_encoder() {
        let device = Device::flex();
        for (kind, channels, size) in [
            (EncoderKind::Cnn, 1, 28),
            (EncoderKind::Resnet18, 3, 32),
            (EncoderKind::Vit, 1, 28),
        ] {
            let encoder = ImageEncoder::new(kind, channels, &device);
            let method = Inpaint::new(&InpaintConfig::default(), encoder, &device);
            let x = Tensor::<4>::random([2, channels, size, size], Distribution::Default, &device);
            let (pred, pooled) = method.predict(x);
            assert_eq!(pred.dims(), [2, channels, size, size], "{kind:?}");
            assert_eq!(pooled.dims()[0], 2);
        }
    }
}
