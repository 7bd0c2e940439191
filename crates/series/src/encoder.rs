//! The series encoder: a stack of dilated convolutions over time (TS2Vec's design, Yue et al.
//! 2022) that takes any length and any number of channels and gives a vector per time step;
//! the instance representation is their maximum over the valid steps.
//!
//! Tensors are time-major, `[batch, time, features]`. A kernel-3 convolution with dilation `d` is
//! one matrix product over the features of `x[t - d]`, `x[t]` and `x[t + d]` side by side; when
//! `d` reaches the length both outer taps only see padding, so the layer uses its centre tap
//! alone instead of convolving mostly zeros (the last blocks have dilation 512 and 1024, the
//! UCR series are 24 to 251 steps long).

use autodidact_core::export::onnx::{Attr, OnnxGraph};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Widths and depth of the encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeriesEncoderConfig {
    /// Features per time step inside the stack.
    pub hidden: usize,
    /// Width of the representation.
    pub out_dim: usize,
    /// Residual blocks of width `hidden` (dilations 1, 2, 4, ...); one more block maps to `out_dim`.
    pub depth: usize,
    /// Dropout on the per-step output during training (TS2Vec's `repr_dropout`).
    pub dropout: f64,
}

impl Default for SeriesEncoderConfig {
    /// TS2Vec's sizes.
    fn default() -> Self {
        Self {
            hidden: 64,
            out_dim: 320,
            depth: 10,
            dropout: 0.1,
        }
    }
}

/// A kernel-3 dilated convolution over time, "same" padding with zeros.
#[derive(Module, Debug)]
pub struct DilatedConv {
    /// `[3 * c_in, c_out]`: the weights of the taps `t - d`, `t`, `t + d`, in that order.
    taps: Linear,
    c_in: usize,
    dilation: usize,
}

impl DilatedConv {
    fn new(c_in: usize, c_out: usize, dilation: usize, device: &Device) -> Self {
        Self {
            taps: LinearConfig::new(3 * c_in, c_out).init(device),
            c_in,
            dilation,
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, c] = x.dims();
        let d = self.dilation;
        if d >= t {
            let w = self.taps.weight.val().narrow(0, c, c);
            let out = x.matmul(w.unsqueeze::<3>());
            return match &self.taps.bias {
                Some(bias) => out + bias.val().unsqueeze::<3>(),
                None => out,
            };
        }
        let zeros = Tensor::<3>::zeros([b, d, c], &x.device());
        let before = Tensor::cat(vec![zeros.clone(), x.clone().narrow(1, 0, t - d)], 1);
        let after = Tensor::cat(vec![x.clone().narrow(1, d, t - d), zeros], 1);
        self.taps.forward(Tensor::cat(vec![before, x, after], 2))
    }
}

/// Two dilated convolutions with GELUs before them, and a residual connection.
impl DilatedConv {
    /// The three taps as one ONNX Conv on `[B, C, T]` (kernel 3, this dilation, padded by it:
    /// the zeros `forward` shifts in), weight `[out, in, 3]` with tap `k` reading `t + (k-1) d`.
    fn onnx(&self, g: &mut OnnxGraph, name: &str, x: &str) -> String {
        let taps = self.taps.weight.val();
        let [_, c_out] = taps.dims();
        let c = self.c_in;
        let w = taps.into_data().try_to_vec::<f32>().expect("f32 weights");
        let mut kernel = vec![0.0; c_out * c * 3];
        for k in 0..3 {
            for i in 0..c {
                for o in 0..c_out {
                    kernel[(o * c + i) * 3 + k] = w[(k * c + i) * c_out + o];
                }
            }
        }
        let mut inputs = vec![
            x.to_string(),
            g.constant(&format!("{name}.taps.weight"), &[c_out, c, 3], &kernel),
        ];
        if let Some(b) = &self.taps.bias {
            inputs.push(g.tensor(&format!("{name}.taps.bias"), b.val()));
        }
        let d = self.dilation as i64;
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        g.node(
            "Conv",
            &refs,
            &[
                Attr::Ints("dilations", &[d]),
                Attr::Ints("pads", &[d, d]),
                Attr::Ints("strides", &[1]),
            ],
        )
    }
}

#[derive(Module, Debug)]
pub struct ConvBlock {
    conv1: DilatedConv,
    conv2: DilatedConv,
    /// A 1x1 projection of the residual where the width changes (the last block).
    projection: Option<Linear>,
}

impl ConvBlock {
    fn new(c_in: usize, c_out: usize, dilation: usize, device: &Device) -> Self {
        Self {
            conv1: DilatedConv::new(c_in, c_out, dilation, device),
            conv2: DilatedConv::new(c_out, c_out, dilation, device),
            projection: (c_in != c_out).then(|| LinearConfig::new(c_in, c_out).init(device)),
        }
    }

    /// `valid` zeroes the padding after each convolution (see [`SeriesEncoder::forward_steps`]).
    fn forward(&self, x: Tensor<3>, valid: Tensor<3>) -> Tensor<3> {
        let residual = match &self.projection {
            Some(p) => p.forward(x.clone()),
            None => x.clone(),
        };
        let h = self.conv1.forward(gelu(x)) * valid.clone();
        let h = self.conv2.forward(gelu(h));
        (h + residual) * valid
    }
}

/// The encoder: input projection, dilated residual blocks, dropout in training.
#[derive(Module, Debug)]
pub struct SeriesEncoder {
    input: Linear,
    blocks: Vec<ConvBlock>,
    /// Drop probability of [`SeriesEncoder::training_steps`]' output. Applied with masks drawn from
    /// a seed rather than Burn's `Dropout`, whose generator is global to the backend: a step's
    /// masks then depend on the run's seed and the step only, so resumed runs stay exact.
    dropout: f64,
    channels: usize,
    out_dim: usize,
}

impl SeriesEncoder {
    pub fn new(channels: usize, cfg: &SeriesEncoderConfig, device: &Device) -> Self {
        let mut widths = vec![cfg.hidden; cfg.depth];
        widths.push(cfg.out_dim);
        let mut c_in = cfg.hidden;
        let blocks = widths
            .iter()
            .enumerate()
            .map(|(i, &c_out)| {
                let block = ConvBlock::new(c_in, c_out, 1 << i, device);
                c_in = c_out;
                block
            })
            .collect();
        Self {
            input: LinearConfig::new(channels, cfg.hidden).init(device),
            blocks,
            dropout: cfg.dropout,
            channels,
            out_dim: cfg.out_dim,
        }
    }

    /// Channels of the input series.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Width of the representation.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// [`forward_steps`](Self::forward_steps) followed by dropout with masks drawn from `seed`.
    pub fn training_steps(
        &self,
        x: Tensor<3>,
        valid: Tensor<3>,
        keep: Option<Tensor<3>>,
        seed: u64,
    ) -> Tensor<3> {
        let h = self.forward_steps(x, valid, keep);
        if self.dropout <= 0.0 {
            return h;
        }
        let dims = h.dims();
        let mut rng = StdRng::seed_from_u64(seed);
        let scale = (1.0 / (1.0 - self.dropout)) as f32;
        let mask: Vec<f32> = (0..dims.iter().product::<usize>())
            .map(|_| {
                if rng.random_bool(self.dropout) {
                    0.0
                } else {
                    scale
                }
            })
            .collect();
        let device = h.device();
        h * Tensor::from_data(TensorData::new(mask, dims), &device)
    }

    /// One representation per time step, `[B, T, out_dim]`, of `x` (`[B, T, channels]`, missing
    /// values as 0). `valid` (`[B, T, 1]`, 0 or 1) marks observed steps: the others are zeroed at
    /// the input and after every convolution, so padding a series never changes its representation.
    /// `keep` (default `valid`) zeroes the input projection at more steps: TS2Vec's random
    /// timestamp masking in training.
    pub fn forward_steps(
        &self,
        x: Tensor<3>,
        valid: Tensor<3>,
        keep: Option<Tensor<3>>,
    ) -> Tensor<3> {
        let h = self.input.forward(x) * keep.unwrap_or_else(|| valid.clone());
        self.blocks
            .iter()
            .fold(h, |h, block| block.forward(h, valid.clone()))
    }

    /// The instance representation `[B, out_dim]`: the maximum of `steps` (`[B, T, D]`) over the
    /// steps where `valid` (`[B, T, 1]`) is 1.
    pub fn pool(steps: Tensor<3>, valid: Tensor<3>) -> Tensor<2> {
        let [b, _, d] = steps.dims();
        let masked = steps + (valid - 1.0) * 1e9;
        masked.max_dim(1).reshape([b, d])
    }

    /// [`forward_steps`](Self::forward_steps) without random masking, pooled.
    pub fn forward(&self, x: Tensor<3>, valid: Tensor<3>) -> Tensor<2> {
        Self::pool(self.forward_steps(x, valid.clone(), None), valid)
    }

    /// [`SeriesEncoder::forward`] of fully observed series as ONNX nodes: `x` is `[B, C, T]`
    /// of raw values, standardised inside by the channels' `mean` and `std`.
    pub fn onnx(&self, g: &mut OnnxGraph, x: &str, mean: &[f32], std: &[f32]) -> String {
        let c = self.channels;
        let hidden = self.input.weight.dims()[1];
        g.describe(
            "series",
            serde_json::json!({
                "channels": c, "hidden": hidden, "out_dim": self.out_dim,
                "depth": self.blocks.len() - 1,
            }),
        );
        let mean = g.constant("scaler.mean", &[1, c, 1], mean);
        let std = g.constant("scaler.std", &[1, c, 1], std);
        let x = g.node("Sub", &[x, &mean], &[]);
        let x = g.node("Div", &[&x, &std], &[]);
        let x = g.node("Transpose", &[&x], &[Attr::Ints("perm", &[0, 2, 1])]);
        // [B, T, hidden] for the linears, [B, hidden, T] for the convolutions.
        let mut h = g.linear("input", &self.input, &x);
        for (i, block) in self.blocks.iter().enumerate() {
            let name = format!("blocks.{i}");
            let residual = match &block.projection {
                Some(p) => g.linear(&format!("{name}.projection"), p, &h),
                None => h.clone(),
            };
            let a = g.gelu(&h);
            let a = g.node("Transpose", &[&a], &[Attr::Ints("perm", &[0, 2, 1])]);
            let a = block.conv1.onnx(g, &format!("{name}.conv1"), &a);
            let a = g.gelu(&a);
            let a = block.conv2.onnx(g, &format!("{name}.conv2"), &a);
            let a = g.node("Transpose", &[&a], &[Attr::Ints("perm", &[0, 2, 1])]);
            h = g.node("Add", &[&a, &residual], &[]);
        }
        g.node(
            "ReduceMax",
            &[&h],
            &[Attr::Ints("axes", &[1]), Attr::Int("keepdims", 0)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SeriesEncoderConfig {
        SeriesEncoderConfig {
            hidden: 8,
            out_dim: 12,
            depth: 3,
            dropout: 0.0,
        }
    }

    #[test]
    fn any_length_gives_one_vector_per_step_and_one_per_series() {
        let device = Device::flex();
        let enc = SeriesEncoder::new(3, &small(), &device);
        for t in [1, 3, 5, 40] {
            let x = Tensor::<3>::random([2, t, 3], burn::tensor::Distribution::Default, &device);
            let valid = Tensor::<3>::ones([2, t, 1], &device);
            assert_eq!(
                enc.forward_steps(x.clone(), valid.clone(), None).dims(),
                [2, t, 12]
            );
            assert_eq!(enc.forward(x, valid).dims(), [2, 12]);
        }
    }

    #[test]
    fn dilated_conv_matches_its_definition_and_the_centre_tap_shortcut() {
        let device = Device::flex();
        let conv = DilatedConv::new(2, 3, 2, &device);
        let w: Vec<f32> = conv
            .taps
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let bias: Vec<f32> = conv
            .taps
            .bias
            .as_ref()
            .expect("bias")
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        for t in [2, 5] {
            let xs: Vec<f32> = (0..t * 2).map(|i| (i as f32 * 0.37).sin()).collect();
            let x = Tensor::<3>::from_data(TensorData::new(xs.clone(), [1, t, 2]), &device);
            let got: Vec<f32> = conv
                .forward(x)
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32");
            for step in 0..t {
                for o in 0..3 {
                    let mut want = bias[o];
                    for (tap, offset) in [-2i64, 0, 2].into_iter().enumerate() {
                        let src = step as i64 + offset;
                        if src < 0 || src >= t as i64 {
                            continue;
                        }
                        for c in 0..2 {
                            want += xs[src as usize * 2 + c] * w[(tap * 2 + c) * 3 + o];
                        }
                    }
                    let g = got[step * 3 + o];
                    assert!(
                        (g - want).abs() < 1e-5,
                        "t={t} step={step} o={o}: {g} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn pooling_ignores_padded_steps() {
        let device = Device::flex();
        let steps = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, -1.0, 5.0, 9.0, 2.0, 0.0], [1, 3, 2]),
            &device,
        );
        let valid =
            Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 1.0, 0.0], [1, 3, 1]), &device);
        let pooled: Vec<f32> = SeriesEncoder::pool(steps, valid)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        assert_eq!(pooled, vec![5.0, 9.0]);
    }

    #[test]
    fn padding_a_series_does_not_change_its_representation() {
        let device = Device::flex();
        let enc = SeriesEncoder::new(2, &small(), &device);
        let xs: Vec<f32> = (0..10).map(|i| (i as f32 * 0.9).cos()).collect();
        let x = Tensor::<3>::from_data(TensorData::new(xs.clone(), [1, 5, 2]), &device);
        let alone: Vec<f32> = enc
            .forward(x, Tensor::ones([1, 5, 1], &device))
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let mut padded = xs;
        padded.extend([0.0; 6]);
        let x = Tensor::<3>::from_data(TensorData::new(padded, [1, 8, 2]), &device);
        let valid = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0], [1, 8, 1]),
            &device,
        );
        let with_padding: Vec<f32> = enc
            .forward(x, valid)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        for (a, b) in alone.iter().zip(&with_padding) {
            assert!((a - b).abs() < 1e-5, "{alone:?} vs {with_padding:?}");
        }
    }
}
