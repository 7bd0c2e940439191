//! Encoders (sample batch -> representation) and heads.

pub mod cnn;
pub mod heads;
pub mod resnet;
pub mod vit;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Which image backbone to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// Small 4-block CNN (fast on CPU, 256-d output).
    Cnn,
    /// CIFAR ResNet-18 (512-d output).
    Resnet18,
    /// Tiny Vision Transformer: 4x4 patches, width 128, depth 4 (128-d output).
    Vit,
}

/// An image backbone: `[B, C, H, W] -> [B, D]`.
// A model holds one encoder, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum ImageEncoder {
    Cnn(cnn::SmallCnn),
    Resnet18(resnet::ResNet18),
    Vit(vit::Vit),
}

impl ImageEncoder {
    /// A freshly initialised backbone for images with `in_channels` channels.
    pub fn new(kind: EncoderKind, in_channels: usize, device: &Device) -> Self {
        match kind {
            EncoderKind::Cnn => ImageEncoder::Cnn(cnn::SmallCnn::new(in_channels, device)),
            EncoderKind::Resnet18 => {
                ImageEncoder::Resnet18(resnet::ResNet18::new(in_channels, device))
            }
            EncoderKind::Vit => ImageEncoder::Vit(vit::Vit::new(in_channels, device)),
        }
    }

    /// Which architecture this is.
    pub fn kind(&self) -> EncoderKind {
        match self {
            ImageEncoder::Cnn(_) => EncoderKind::Cnn,
            ImageEncoder::Resnet18(_) => EncoderKind::Resnet18,
            ImageEncoder::Vit(_) => EncoderKind::Vit,
        }
    }

    /// Size of the representation.
    pub fn out_dim(&self) -> usize {
        match self {
            ImageEncoder::Cnn(e) => e.out_dim(),
            ImageEncoder::Resnet18(e) => e.out_dim(),
            ImageEncoder::Vit(e) => e.out_dim(),
        }
    }

    /// Channels of the images it takes.
    pub fn in_channels(&self) -> usize {
        match self {
            ImageEncoder::Cnn(e) => e.in_channels(),
            ImageEncoder::Resnet18(e) => e.in_channels(),
            ImageEncoder::Vit(e) => e.channels,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            ImageEncoder::Cnn(e) => e.forward(x),
            ImageEncoder::Resnet18(e) => e.forward(x),
            ImageEncoder::Vit(e) => e.forward(x),
        }
    }

    /// The last feature map before pooling, `[B, out_dim, ceil(H / s), ceil(W / s)]` with `s`
    /// = [`ImageEncoder::feature_stride`] (for the ViT: whole patches only, `floor`).
    pub fn feature_map(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            ImageEncoder::Cnn(e) => e.feature_map(x),
            ImageEncoder::Resnet18(e) => e.feature_map(x),
            ImageEncoder::Vit(e) => e.feature_map(x),
        }
    }

    /// Downsampling factor of [`ImageEncoder::feature_map`].
    pub fn feature_stride(&self) -> usize {
        match self {
            ImageEncoder::Cnn(_) | ImageEncoder::Resnet18(_) => 8,
            ImageEncoder::Vit(e) => e.patch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn encoders_map_images_to_vectors_of_their_width() {
        let device = Device::flex();
        for (kind, channels, dim) in [
            (EncoderKind::Cnn, 1, 256),
            (EncoderKind::Resnet18, 3, 512),
            (EncoderKind::Vit, 3, 128),
        ] {
            let encoder = ImageEncoder::new(kind, channels, &device);
            assert_eq!(encoder.kind(), kind);
            assert_eq!(encoder.out_dim(), dim);
            assert_eq!(encoder.in_channels(), channels);
            let x = Tensor::<4>::random([2, channels, 28, 28], Distribution::Default, &device);
            assert_eq!(encoder.forward(x.clone()).dims(), [2, dim]);
            // 28 is not a multiple of 8: the CNNs' padded convolutions round up, the ViT's
            // whole 4x4 patches fit exactly.
            let side = 28usize.div_ceil(encoder.feature_stride());
            assert_eq!(encoder.feature_map(x).dims(), [2, dim, side, side]);
        }
    }

    #[test]
    fn resnet18_has_the_published_parameter_count() {
        // torchvision's ResNet-18 with a 3x3 stem and without fc: 11,168,832 learnable values.
        // Burn also counts BatchNorm running mean and variance: 2 x 4,800 channels.
        let encoder = ImageEncoder::new(EncoderKind::Resnet18, 3, &Device::flex());
        assert_eq!(encoder.num_params(), 11_168_832 + 9_600);
    }
}
