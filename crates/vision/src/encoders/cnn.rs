//! The small fast CNN: the default encoder on CPU.

use burn::nn::{
    BatchNorm, BatchNormConfig, PaddingConfig2d,
    conv::{Conv2d, Conv2dConfig},
    pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig},
};
use burn::prelude::*;

use autodidact_core::export::onnx::OnnxGraph;
use autodidact_kernels::burn_bn::batch_norm;
use autodidact_kernels::burn_conv::conv2d;

/// Conv 3x3 (no bias) -> BatchNorm -> ReLU (fused kernels when training on Flex).
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBnRelu {
    /// A 3x3 block with padding 1.
    pub fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(c_out).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm(&self.bn, conv2d(&self.conv, x), true)
    }

    /// Input channels (read from the weight's shape, without initialising it).
    pub fn in_channels(&self) -> usize {
        self.conv.weight.lazy_shape()[1]
    }

    fn onnx(&self, g: &mut OnnxGraph, name: &str, x: &str) -> String {
        let y = g.conv2d(&format!("{name}.conv"), &self.conv, x);
        let y = g.batch_norm(&format!("{name}.bn"), &self.bn, &y);
        g.relu(&y)
    }
}

/// Four conv blocks (32, 64, 128, 256 channels; the last three with stride 2) and global average
/// pooling: `[B, C, H, W] -> [B, 256]`.
#[derive(Module, Debug)]
pub struct SmallCnn {
    blocks: Vec<ConvBnRelu>,
    pool: AdaptiveAvgPool2d,
}

/// Channel widths of the small CNN's blocks; the first block keeps full resolution.
pub const SMALL_CNN_WIDTHS: [usize; 4] = [32, 64, 128, 256];

impl SmallCnn {
    pub fn new(in_channels: usize, device: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut c_in = in_channels;
        for (i, &width) in SMALL_CNN_WIDTHS.iter().enumerate() {
            let stride = if i == 0 { 1 } else { 2 };
            blocks.push(ConvBnRelu::new(c_in, width, stride, device));
            c_in = width;
        }
        Self {
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
        }
    }

    pub fn out_dim(&self) -> usize {
        SMALL_CNN_WIDTHS[SMALL_CNN_WIDTHS.len() - 1]
    }

    pub fn in_channels(&self) -> usize {
        self.blocks[0].in_channels()
    }

    /// The last block's output before pooling: `[B, 256, ceil(H / 8), ceil(W / 8)]`.
    pub fn feature_map(&self, x: Tensor<4>) -> Tensor<4> {
        self.blocks.iter().fold(x, |x, block| block.forward(x))
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.pool.forward(self.feature_map(x)).flatten(1, 3)
    }

    /// [`SmallCnn::forward`] as ONNX nodes on `x`.
    pub fn onnx(&self, g: &mut OnnxGraph, x: &str) -> String {
        g.describe("cnn", serde_json::json!({ "channels": self.in_channels() }));
        let mut x = x.to_string();
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.onnx(g, &format!("blocks.{i}"), &x);
        }
        g.mean(&x, &[2, 3])
    }
}
