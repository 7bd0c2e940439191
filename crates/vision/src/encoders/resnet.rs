//! CIFAR ResNet-18: 3x3 stem with stride 1 and no max-pool, four stages of two basic blocks.

use burn::nn::{
    BatchNorm, BatchNormConfig, PaddingConfig2d,
    conv::{Conv2d, Conv2dConfig},
    pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig},
};
use burn::prelude::*;

use autodidact_core::export::onnx::OnnxGraph;
use autodidact_kernels::burn_bn::batch_norm;
use autodidact_kernels::burn_conv::conv2d;
use burn::tensor::activation::relu;

fn conv(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// 1x1 conv + BN projection on the shortcut when shape changes.
#[derive(Module, Debug)]
pub struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

/// Two 3x3 conv-BN layers with a residual connection.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    downsample: Option<Downsample>,
}

impl BasicBlock {
    fn new(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        let downsample = (stride != 1 || c_in != c_out).then(|| Downsample {
            conv: conv(c_in, c_out, 1, stride, device),
            bn: BatchNormConfig::new(c_out).init(device),
        });
        Self {
            conv1: conv(c_in, c_out, 3, stride, device),
            bn1: BatchNormConfig::new(c_out).init(device),
            conv2: conv(c_out, c_out, 3, 1, device),
            bn2: BatchNormConfig::new(c_out).init(device),
            downsample,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => batch_norm(&d.bn, conv2d(&d.conv, x.clone()), false),
            None => x.clone(),
        };
        let out = batch_norm(&self.bn1, conv2d(&self.conv1, x), true);
        let out = batch_norm(&self.bn2, conv2d(&self.conv2, out), false);
        relu(out + identity)
    }

    fn onnx(&self, g: &mut OnnxGraph, name: &str, x: &str) -> String {
        let identity = match &self.downsample {
            Some(d) => {
                let y = g.conv2d(&format!("{name}.downsample.conv"), &d.conv, x);
                g.batch_norm(&format!("{name}.downsample.bn"), &d.bn, &y)
            }
            None => x.to_string(),
        };
        let out = g.conv2d(&format!("{name}.conv1"), &self.conv1, x);
        let out = g.batch_norm(&format!("{name}.bn1"), &self.bn1, &out);
        let out = g.relu(&out);
        let out = g.conv2d(&format!("{name}.conv2"), &self.conv2, &out);
        let out = g.batch_norm(&format!("{name}.bn2"), &self.bn2, &out);
        let sum = g.node("Add", &[&out, &identity], &[]);
        g.relu(&sum)
    }
}

/// ResNet-18 for small images: `[B, C, H, W] -> [B, 512]`.
#[derive(Module, Debug)]
pub struct ResNet18 {
    stem: Conv2d,
    stem_bn: BatchNorm,
    blocks: Vec<BasicBlock>,
    pool: AdaptiveAvgPool2d,
}

impl ResNet18 {
    pub fn new(in_channels: usize, device: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut c_in = 64;
        for (stage, &width) in [64usize, 128, 256, 512].iter().enumerate() {
            let stride = if stage == 0 { 1 } else { 2 };
            blocks.push(BasicBlock::new(c_in, width, stride, device));
            blocks.push(BasicBlock::new(width, width, 1, device));
            c_in = width;
        }
        Self {
            stem: conv(in_channels, 64, 3, 1, device),
            stem_bn: BatchNormConfig::new(64).init(device),
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
        }
    }

    pub fn out_dim(&self) -> usize {
        512
    }

    /// Input channels (read from the stem's shape, without initialising it).
    pub fn in_channels(&self) -> usize {
        self.stem.weight.lazy_shape()[1]
    }

    /// The last stage's output before pooling: `[B, 512, ceil(H / 8), ceil(W / 8)]`.
    pub fn feature_map(&self, x: Tensor<4>) -> Tensor<4> {
        let x = batch_norm(&self.stem_bn, conv2d(&self.stem, x), true);
        self.blocks.iter().fold(x, |x, block| block.forward(x))
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.pool.forward(self.feature_map(x)).flatten(1, 3)
    }

    /// [`ResNet18::forward`] as ONNX nodes on `x`.
    pub fn onnx(&self, g: &mut OnnxGraph, x: &str) -> String {
        g.describe(
            "resnet18",
            serde_json::json!({ "channels": self.in_channels() }),
        );
        let y = g.conv2d("stem", &self.stem, x);
        let y = g.batch_norm("stem_bn", &self.stem_bn, &y);
        let mut x = g.relu(&y);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.onnx(g, &format!("blocks.{i}"), &x);
        }
        g.mean(&x, &[2, 3])
    }
}
