//! Encoders (sample batch -> representation) and heads.

pub mod cnn;
pub mod fused_encoder;

pub mod resnet;
pub mod vit;

pub use autodidact_core::heads;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Which image backbone to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// Small 4-block CNN (fast on CPU, 256-d output).
    Cnn,
    /// CIFAR ResNet-18 (512-d output).
    Resnet18,
    /// Tiny Vision Transformer: 4x4 patches (`--vit-patch`), width 128, depth 4 (128-d output).
    Vit,
}

impl EncoderKind {
    /// The name `--encoder` and config files use.
    pub fn name(self) -> &'static str {
        match self {
            EncoderKind::Cnn => "cnn",
            EncoderKind::Resnet18 => "resnet18",
            EncoderKind::Vit => "vit",
        }
    }
}

/// How the last feature map becomes the representation that evaluation and `embed` read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The mean over all positions (D values): the encoder's output.
    Mean,
    /// The means of the map's 2x2 grid of cells, concatenated (4D values). It keeps where a
    /// feature sits, which methods that learn by filling in pixels encode and a mean discards.
    Grid,
    /// The same with a 4x4 grid (16D values). On a 4x4 map (the CNNs on 28x28 or 32x32 images,
    /// the ViT on 7x7 patches of 28x28) each cell is one position; on a smaller map cells repeat
    /// positions, so the width stays 16D for every image size.
    Grid4,
}

impl Pooling {
    /// Values per image for an encoder of width `out_dim`.
    pub fn dim(self, out_dim: usize) -> usize {
        self.cells() * self.cells() * out_dim
    }

    /// The name `--pool` and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Grid => "grid",
            Pooling::Grid4 => "grid4",
        }
    }

    /// Cells per side of the grid the map is averaged over (1 for the mean).
    fn cells(self) -> usize {
        match self {
            Pooling::Mean => 1,
            Pooling::Grid => 2,
            Pooling::Grid4 => 4,
        }
    }
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
    /// A freshly initialised backbone for images with `in_channels` channels (the ViT with its
    /// default patch, [`vit::VIT_PATCH`]).
    pub fn new(kind: EncoderKind, in_channels: usize, device: &Device) -> Self {
        Self::with_vit_patch(kind, in_channels, vit::VIT_PATCH, device)
    }

    /// [`ImageEncoder::new`] with the ViT's patch side `vit_patch` (the CNNs ignore it).
    pub fn with_vit_patch(
        kind: EncoderKind,
        in_channels: usize,
        vit_patch: usize,
        device: &Device,
    ) -> Self {
        match kind {
            EncoderKind::Cnn => ImageEncoder::Cnn(cnn::SmallCnn::new(in_channels, device)),
            EncoderKind::Resnet18 => {
                ImageEncoder::Resnet18(resnet::ResNet18::new(in_channels, device))
            }
            EncoderKind::Vit => ImageEncoder::Vit(vit::Vit::new(in_channels, vit_patch, device)),
        }
    }

    /// A freshly initialised backbone of the same architecture (the ViT's patch and depth
    /// included) for `in_channels`-channel images: what the supervised baseline trains from
    /// scratch.
    pub fn untrained(&self, in_channels: usize, device: &Device) -> Self {
        match self {
            ImageEncoder::Vit(e) => ImageEncoder::Vit(vit::Vit::with_depth(
                in_channels,
                e.patch,
                e.depth(),
                device,
            )),
            _ => Self::with_vit_patch(self.kind(), in_channels, self.vit_patch(), device),
        }
    }

    /// The ViT's patch side, or the default for the CNNs.
    pub fn vit_patch(&self) -> usize {
        match self {
            ImageEncoder::Vit(e) => e.patch,
            _ => vit::VIT_PATCH,
        }
    }

    /// How many transformer blocks the ViT reads through (`None` for the CNNs).
    pub fn vit_depth(&self) -> Option<usize> {
        match self {
            ImageEncoder::Vit(e) => Some(e.depth()),
            _ => None,
        }
    }

    /// The ViT read after its first `blocks` blocks ([`vit::Vit::keep_blocks`]); an error for
    /// the CNNs or a count outside 1 to its depth.
    pub fn keep_vit_blocks(self, blocks: usize) -> Result<Self, String> {
        match self {
            ImageEncoder::Vit(e) => e.keep_blocks(blocks).map(ImageEncoder::Vit),
            other => Err(format!(
                "the encoder is {}, not the ViT",
                format!("{:?}", other.kind()).to_lowercase()
            )),
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

    /// The representation `pooling` reads off the last feature map: `[B, pooling.dim(D)]`.
    pub fn represent(&self, x: Tensor<4>, pooling: Pooling) -> Tensor<2> {
        match pooling {
            Pooling::Mean => self.forward(x),
            // Adaptive pooling splits an odd side into overlapping cells (7 -> 0..4, 3..7).
            Pooling::Grid | Pooling::Grid4 => {
                let cells = pooling.cells();
                burn::tensor::module::adaptive_avg_pool2d(self.feature_map(x), [cells, cells])
                    .flatten(1, 3)
            }
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

    /// The mean-pooled representation ([`Pooling::Mean`]) of `side x side` images `x` as ONNX
    /// nodes.
    pub fn onnx(
        &self,
        g: &mut autodidact_core::export::onnx::OnnxGraph,
        x: &str,
        side: usize,
    ) -> String {
        match self {
            ImageEncoder::Cnn(e) => e.onnx(g, x),
            ImageEncoder::Resnet18(e) => e.onnx(g, x),
            ImageEncoder::Vit(e) => e.onnx(g, x, side),
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

    #[test]
    fn encoder_names_are_the_config_files_names() {
        for kind in [EncoderKind::Cnn, EncoderKind::Resnet18, EncoderKind::Vit] {
            let serde = serde_json::to_string(&kind).expect("serialisable");
            assert_eq!(serde, format!("\"{}\"", kind.name()));
        }
    }
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
    fn grid_pooling_keeps_each_quadrants_mean_and_the_mean_pooling_is_the_output() {
        let device = Device::flex();
        let encoder = ImageEncoder::new(EncoderKind::Cnn, 1, &device);
        let x = Tensor::<4>::random([2, 1, 32, 32], Distribution::Default, &device);
        let map = encoder.feature_map(x.clone());
        let [b, d, _, _] = map.dims();
        let grid = encoder.represent(x.clone(), Pooling::Grid);
        assert_eq!(grid.dims(), [b, Pooling::Grid.dim(d)]);
        // Channel-major: the 4 cells of channel 0 come first; cell (1, 0) is rows 2..4, cols 0..2.
        let cell = map
            .clone()
            .slice([0..b, 0..1, 2..4, 0..2])
            .mean_dim(3)
            .mean_dim(2)
            .reshape([b, 1]);
        let diff = (grid.slice([0..b, 2..3]) - cell)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(
            diff < 1e-5,
            "grid cell differs from the quadrant mean by {diff}"
        );
        let mean = encoder.represent(x.clone(), Pooling::Mean);
        let diff = (mean - encoder.forward(x)).abs().max().into_scalar::<f32>();
        assert!(
            diff < 1e-6,
            "mean pooling differs from the encoder output by {diff}"
        );
    }

    #[test]
    fn a_4x4_grid_on_a_4x4_map_is_the_map_itself() {
        let device = Device::flex();
        let encoder = ImageEncoder::with_vit_patch(EncoderKind::Vit, 1, 7, &device);
        let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
        let map = encoder.feature_map(x.clone());
        assert_eq!(map.dims(), [2, 128, 4, 4]);
        let grid = encoder.represent(x, Pooling::Grid4);
        assert_eq!(grid.dims(), [2, Pooling::Grid4.dim(128)]);
        let diff = (grid - map.flatten::<2>(1, 3))
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(diff < 1e-6, "4x4 grid differs from the 4x4 map by {diff}");
    }

    #[test]
    fn only_the_vit_can_be_read_after_fewer_blocks() {
        let device = Device::flex();
        let vit = ImageEncoder::new(EncoderKind::Vit, 1, &device);
        assert_eq!(vit.vit_depth(), Some(4));
        assert_eq!(vit.keep_vit_blocks(3).unwrap().vit_depth(), Some(3));
        let cnn = ImageEncoder::new(EncoderKind::Cnn, 1, &device);
        assert_eq!(cnn.vit_depth(), None);
        let err = cnn.keep_vit_blocks(3).unwrap_err();
        assert_eq!(err, "the encoder is cnn, not the ViT");
    }

    #[test]
    fn an_untrained_copy_keeps_the_vits_patch() {
        let device = Device::flex();
        let vit7 = ImageEncoder::with_vit_patch(EncoderKind::Vit, 1, 7, &device);
        let fresh = vit7.untrained(3, &device);
        assert_eq!((fresh.kind(), fresh.vit_patch()), (EncoderKind::Vit, 7));
        assert_eq!((fresh.in_channels(), fresh.feature_stride()), (3, 7));
        let shallow = vit7.keep_vit_blocks(2).unwrap().untrained(1, &device);
        assert_eq!((shallow.vit_patch(), shallow.vit_depth()), (7, Some(2)));
        assert_eq!(
            ImageEncoder::new(EncoderKind::Vit, 1, &device).vit_patch(),
            4
        );
    }

    #[test]
    fn resnet18_has_the_published_parameter_count() {
        // torchvision's ResNet-18 with a 3x3 stem and without fc: 11,168,832 learnable values.
        // Burn also counts BatchNorm running mean and variance: 2 x 4,800 channels.
        let encoder = ImageEncoder::new(EncoderKind::Resnet18, 3, &Device::flex());
        assert_eq!(encoder.num_params(), 11_168_832 + 9_600);
    }
}
