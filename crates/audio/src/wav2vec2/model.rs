//! wav2vec 2.0's networks: the convolutional feature encoder over the raw waveform (one frame
//! per total stride: 20 ms at 8 kHz with the default strides), and the context network (a
//! grouped convolution as relative positions, then pre-norm Transformer blocks).

use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{LayerNorm, Linear, LinearConfig, PaddingConfig1d};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::taps::conv1d_frames;
use crate::batch::{WaveBatch, length_mask, masked_mean};
use crate::encoder::AudioEncoding;
use autodidact_core::export::onnx::{Attr, OnnxGraph};
use autodidact_core::method::device_of;
use autodidact_core::train::limits::{self, Settings};
use autodidact_core::transformer::{
    NORM_EPSILON, TransformerBlock, apply_norm, norm, padding_bias,
};
use autodidact_kernels::burn_gelu::gelu;
use autodidact_kernels::burn_linear::linear;

/// The networks' sizes (part of the method's settings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Wav2Vec2Sizes {
    /// Channels of every feature-encoder convolution.
    pub conv_channels: usize,
    /// Kernel of each convolution, in samples of the layer's input.
    pub conv_kernels: Vec<usize>,
    /// Stride of each; their product is the frame step (160 samples: 20 ms at 8 kHz).
    pub conv_strides: Vec<usize>,
    /// Width of the context network.
    pub d_model: usize,
    pub layers: usize,
    pub heads: usize,
    /// The positional convolution's kernel (frames) and groups.
    pub pos_conv_kernel: usize,
    pub pos_conv_groups: usize,
}

impl Default for Wav2Vec2Sizes {
    /// fairseq's 8 kHz feature encoder (its 16 kHz stack without one stride-2 layer), 128
    /// channels, and a 4 x 128 context network: small enough to pre-train on two cores.
    fn default() -> Self {
        Self {
            conv_channels: 128,
            conv_kernels: vec![10, 3, 3, 3, 2, 2],
            conv_strides: vec![5, 2, 2, 2, 2, 2],
            d_model: 128,
            layers: 4,
            heads: 4,
            pos_conv_kernel: 16,
            pos_conv_groups: 16,
        }
    }
}

impl Wav2Vec2Sizes {
    pub fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.int(
            "method_config.sizes.conv_channels",
            self.conv_channels,
            limits::WIDTH,
        )?;
        s.int("method_config.sizes.d_model", self.d_model, limits::WIDTH)?;
        s.int(
            "method_config.sizes.layers",
            self.layers,
            1..=*limits::DEPTH.end(),
        )?;
        s.int("method_config.sizes.heads", self.heads, 1..=64)?;
        s.int(
            "method_config.sizes.pos_conv_kernel",
            self.pos_conv_kernel,
            1..=1024,
        )?;
        s.int(
            "method_config.sizes.pos_conv_groups",
            self.pos_conv_groups,
            1..=1024,
        )?;
        if self.conv_kernels.is_empty() || self.conv_kernels.len() != self.conv_strides.len() {
            anyhow::bail!(
                "{}: method_config.sizes: conv_kernels and conv_strides need one entry per layer (have {} and {})",
                s.source(),
                self.conv_kernels.len(),
                self.conv_strides.len()
            );
        }
        if self
            .conv_kernels
            .iter()
            .chain(&self.conv_strides)
            .any(|&v| v == 0 || v > 1024)
        {
            anyhow::bail!(
                "{}: method_config.sizes: kernels and strides must be 1..=1024",
                s.source()
            );
        }
        if !self.d_model.is_multiple_of(self.heads)
            || !self.d_model.is_multiple_of(self.pos_conv_groups)
        {
            anyhow::bail!(
                "{}: method_config.sizes.d_model ({}) must be a multiple of heads ({}) and pos_conv_groups ({})",
                s.source(),
                self.d_model,
                self.heads,
                self.pos_conv_groups
            );
        }
        Ok(())
    }

    /// Samples between frames.
    pub fn frame_step(&self) -> usize {
        self.conv_strides.iter().product()
    }

    /// Samples one frame sees (the shortest clip that makes a frame).
    pub fn receptive_field(&self) -> usize {
        let mut field = 1;
        let mut step = 1;
        for (&k, &s) in self.conv_kernels.iter().zip(&self.conv_strides) {
            field += (k - 1) * step;
            step *= s;
        }
        field
    }

    /// Frames of a clip of `samples` samples (0 when shorter than one frame's field).
    pub fn frames(&self, samples: usize) -> usize {
        self.conv_kernels
            .iter()
            .zip(&self.conv_strides)
            .fold(
                samples,
                |n, (&k, &s)| if n < k { 0 } else { (n - k) / s + 1 },
            )
    }
}

/// Convolution -> LayerNorm over channels -> GELU (fairseq's `layer_norm` extractor mode, which,
/// unlike its group-norm mode, reads each frame alone, so padding never leaks into a clip).
#[derive(Module, Debug)]
struct ConvLayer {
    conv: Conv1d,
    norm: LayerNorm,
}

impl ConvLayer {
    /// `[B, L, C_in]` -> `[B, L', C]` (channels last, as the LayerNorm reads them).
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        gelu(apply_norm(&self.norm, conv1d_frames(&self.conv, x)))
    }
}

/// The encoder a wav2vec 2.0 run exports: feature encoder, feature LayerNorm and projection,
/// positional convolution, Transformer blocks, final LayerNorm.
#[derive(Module, Debug)]
pub struct Wav2Vec2Encoder {
    convs: Vec<ConvLayer>,
    feature_norm: LayerNorm,
    projection: Linear,
    pos_conv: Conv1d,
    blocks: Vec<TransformerBlock>,
    final_norm: LayerNorm,
    kernels: Vec<usize>,
    strides: Vec<usize>,
    pos_kernel: usize,
}

impl Wav2Vec2Encoder {
    pub fn new(sizes: &Wav2Vec2Sizes, device: &Device) -> Self {
        let c = sizes.conv_channels;
        let d = sizes.d_model;
        let convs = sizes
            .conv_kernels
            .iter()
            .zip(&sizes.conv_strides)
            .enumerate()
            .map(|(i, (&k, &s))| ConvLayer {
                conv: Conv1dConfig::new(if i == 0 { 1 } else { c }, c, k)
                    .with_stride(s)
                    .init(device),
                norm: norm(c, device),
            })
            .collect();
        let k = sizes.pos_conv_kernel;
        Self {
            convs,
            feature_norm: norm(c, device),
            projection: LinearConfig::new(c, d).init(device),
            // An even kernel would make one frame more than it reads: pad one less on the right.
            pos_conv: Conv1dConfig::new(d, d, k)
                .with_groups(sizes.pos_conv_groups)
                .with_padding(PaddingConfig1d::Explicit(k / 2, (k - 1) / 2))
                .init(device),
            blocks: (0..sizes.layers)
                .map(|_| TransformerBlock::new(d, sizes.heads, sizes.layers, device))
                .collect(),
            final_norm: norm(d, device),
            kernels: sizes.conv_kernels.clone(),
            strides: sizes.conv_strides.clone(),
            pos_kernel: k,
        }
    }

    pub fn d_model(&self) -> usize {
        self.projection.weight.dims()[1]
    }

    pub fn feature_dim(&self) -> usize {
        self.projection.weight.dims()[0]
    }

    fn sizes(&self) -> Wav2Vec2Sizes {
        Wav2Vec2Sizes {
            conv_kernels: self.kernels.clone(),
            conv_strides: self.strides.clone(),
            ..Wav2Vec2Sizes::default()
        }
    }

    /// Frames of a clip of `samples` samples.
    pub fn frames(&self, samples: usize) -> usize {
        self.sizes().frames(samples)
    }

    /// The waveforms' batch, each clip at least one frame long.
    pub fn wave_batch(&self, clips: &[Vec<f32>]) -> WaveBatch {
        WaveBatch::new(clips, self.sizes().receptive_field())
    }

    /// The feature encoder's frames `[B, T, C]` of `wave` (`[B, 1, L]`), before the feature
    /// LayerNorm (the feature penalty reads them here).
    pub fn conv_features(&self, wave: Tensor<3>) -> Tensor<3> {
        let [b, _, l] = wave.dims();
        self.convs
            .iter()
            .fold(wave.reshape([b, l, 1]), |x, layer| layer.forward(x))
    }

    /// The feature LayerNorm: what the quantizer reads.
    pub fn normalize(&self, features: Tensor<3>) -> Tensor<3> {
        apply_norm(&self.feature_norm, features)
    }

    /// Normalised features `[B, T, C]` -> the context network's input `[B, T, D]`.
    pub fn project(&self, normalized: Tensor<3>) -> Tensor<3> {
        linear(&self.projection, normalized)
    }

    /// The output of every Transformer block, `[B, T, D]` each (the last after the final
    /// LayerNorm; at least one state), for input `x` whose padding frames are 0 in `valid` (`[B, T]`).
    pub fn context(&self, x: Tensor<3>, valid: Tensor<2>) -> Vec<Tensor<3>> {
        let [b, t, _] = x.dims();
        let x = x * valid.clone().reshape([b, t, 1]);
        let pos = conv1d_frames(&self.pos_conv, x.clone());
        debug_assert_eq!(pos.dims()[1], t, "kernel {}", self.pos_kernel);
        let mut x = x + gelu(pos);
        let bias = padding_bias(valid);
        let mut states = Vec::with_capacity(self.blocks.len().max(1));
        for block in &self.blocks {
            x = block.forward(x, &bias, 0.0, false);
            states.push(x.clone());
        }
        // Never empty: without blocks the normalised input is the one state.
        let last = states.pop().unwrap_or(x);
        states.push(apply_norm(&self.final_norm, last));
        states
    }

    /// The valid frames `[B, T]` of clips of `lengths` samples in a batch of `t` frames.
    pub fn frame_mask(&self, lengths: &[usize], t: usize, device: &Device) -> Tensor<2> {
        let frames: Vec<usize> = lengths.iter().map(|&l| self.frames(l).max(1)).collect();
        length_mask(&frames, t, device)
    }
}

impl AudioEncoding for Wav2Vec2Encoder {
    fn dim(&self) -> usize {
        self.d_model()
    }

    /// `embed` of clips of one length as ONNX nodes: `wave` is `[B, 1, L]` raw samples,
    /// standardised per clip inside.
    fn onnx(&self, g: &mut OnnxGraph, wave: &str, _rate: u32) -> anyhow::Result<String> {
        let [d, group_width, _] = self.pos_conv.weight.dims();
        g.describe(
            "wav2vec2",
            serde_json::json!({
                "conv_channels": self.feature_dim(), "kernels": self.kernels,
                "strides": self.strides, "d_model": self.d_model(),
                "layers": self.blocks.len(),
                "heads": self.blocks.first().map_or(1, |b| b.heads()),
                "pos_kernel": self.pos_kernel, "pos_groups": d / group_width,
            }),
        );
        let mean = g.node("ReduceMean", &[wave], &[Attr::Ints("axes", &[2])]);
        let centred = g.node("Sub", &[wave, &mean], &[]);
        let squares = g.node("Mul", &[&centred, &centred], &[]);
        let var = g.node("ReduceMean", &[&squares], &[Attr::Ints("axes", &[2])]);
        let tiny = g.scalar(1e-7);
        let var = g.node("Add", &[&var, &tiny], &[]);
        let std = g.node("Sqrt", &[&var], &[]);
        let mut x = g.node("Div", &[&centred, &std], &[]);
        let to_frames = [0, 2, 1];
        for (i, layer) in self.convs.iter().enumerate() {
            let y = g.conv1d(&format!("convs.{i}.conv"), &layer.conv, &x);
            let y = g.node("Transpose", &[&y], &[Attr::Ints("perm", &to_frames)]);
            let y = g.layer_norm(&format!("convs.{i}.norm"), &layer.norm, NORM_EPSILON, &y);
            let y = g.gelu(&y);
            x = g.node("Transpose", &[&y], &[Attr::Ints("perm", &to_frames)]);
        }
        let frames = g.node("Transpose", &[&x], &[Attr::Ints("perm", &to_frames)]);
        let normed = g.layer_norm("feature_norm", &self.feature_norm, NORM_EPSILON, &frames);
        let x = g.linear("projection", &self.projection, &normed);
        let channels_first = g.node("Transpose", &[&x], &[Attr::Ints("perm", &to_frames)]);
        let pos = g.conv1d("pos_conv", &self.pos_conv, &channels_first);
        let pos = g.node("Transpose", &[&pos], &[Attr::Ints("perm", &to_frames)]);
        let pos = g.gelu(&pos);
        let mut x = g.node("Add", &[&x, &pos], &[]);
        let mut states = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.onnx(g, &format!("blocks.{i}"), &x, None);
            states.push(x.clone());
        }
        let last = states.pop().unwrap_or(x);
        states.push(g.layer_norm("final_norm", &self.final_norm, NORM_EPSILON, &last));
        let mut mix = states[0].clone();
        for s in &states[1..] {
            mix = g.node("Add", &[&mix, s], &[]);
        }
        let layers = g.scalar(states.len() as f32);
        let mix = g.node("Div", &[&mix, &layers], &[]);
        Ok(g.mean(&mix, &[1]))
    }

    /// The layer mix read is the uniform mean of every Transformer block's output, averaged over
    /// the clip's frames.
    fn embed(&self, clips: &[Vec<f32>], _rate: u32) -> Tensor<2> {
        let device = device_of(self);
        let batch = self.wave_batch(clips);
        let features = self.conv_features(batch.tensor(&device));
        let t = features.dims()[1];
        let valid = self.frame_mask(&batch.lengths, t, &device);
        let states = self.context(self.project(self.normalize(features)), valid.clone());
        let layers = states.len() as f64;
        let mix = states
            .into_iter()
            .reduce(|a, b| a + b)
            .map(|s| s / layers)
            .expect("at least one block");
        masked_mean(mix, valid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Wav2Vec2Sizes {
        Wav2Vec2Sizes {
            conv_channels: 16,
            d_model: 16,
            layers: 2,
            heads: 2,
            pos_conv_kernel: 4,
            pos_conv_groups: 4,
            ..Wav2Vec2Sizes::default()
        }
    }

    #[test]
    fn frames_are_20_ms_at_8_khz_and_counted_like_the_convolutions() {
        let sizes = Wav2Vec2Sizes::default();
        assert_eq!(sizes.frame_step(), 160);
        assert_eq!(sizes.receptive_field(), 200);
        assert_eq!(sizes.frames(199), 0);
        assert_eq!(sizes.frames(200), 1);
        assert_eq!(sizes.frames(8000), 49);
        let device = Device::flex();
        let encoder = Wav2Vec2Encoder::new(&tiny(), &device);
        let wave = Tensor::<3>::zeros([2, 1, 8000], &device);
        assert_eq!(encoder.conv_features(wave).dims(), [2, 49, 16]);
    }

    #[test]
    fn a_clip_embeds_the_same_alone_or_padded_beside_a_longer_one() {
        let device = Device::flex();
        let encoder = Wav2Vec2Encoder::new(&tiny(), &device);
        let tone = |n: usize, hz: f32| -> Vec<f32> {
            (0..n).map(|i| (i as f32 * hz * 0.000_785).sin()).collect()
        };
        let short = tone(3000, 440.0);
        let alone: Vec<f32> = encoder
            .embed(std::slice::from_ref(&short), 8000)
            .into_data()
            .iter::<f32>()
            .collect();
        let both: Vec<f32> = encoder
            .embed(&[short, tone(9000, 700.0)], 8000)
            .into_data()
            .iter::<f32>()
            .collect();
        let worst = alone
            .iter()
            .zip(&both[..16])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            worst < 1e-4,
            "padding changed the short clip's embedding by {worst}"
        );
        assert!(both[..16] != both[16..]);
    }
}
