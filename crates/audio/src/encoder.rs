//! The spectrogram encoder, BYOL-A's shape at a CPU's size: three convolution blocks over the
//! log-mel image, each frame's channels and remaining bands flattened and mapped by a linear
//! layer with ReLU, then the mean and the maximum over each clip's own frames (padding never
//! counts).

use burn::module::ModuleDisplay;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::batch::{MEL_STD_EPSILON, MelBatch, length_mask as frame_mask};
use crate::features::{MelConfig, MelSpectrogram, POWER_FLOOR};
use autodidact_core::export::onnx::{Attr, OnnxGraph};
use autodidact_core::method::device_of;

/// Channels of the three blocks; each halves time and frequency.
pub const WIDTHS: [usize; 3] = [32, 64, 128];
/// Mel bands the encoder reads ([`MelConfig::speech`]'s).
pub const N_MELS: usize = 40;
/// Width of the per-frame layer (the representation is twice this: mean and maximum).
pub const FRAME_DIM: usize = 512;

/// Conv 3x3 with stride 2 -> BatchNorm -> ReLU.
#[derive(Module, Debug)]
struct Block {
    conv: Conv2d,
    bn: BatchNorm,
}

impl Block {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(c_out).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.bn.forward(self.conv.forward(x)))
    }
}

/// `[B, 1, T, 40]` log-mel images -> `[B, 1024]`.
#[derive(Module, Debug)]
pub struct AudioEncoder {
    blocks: Vec<Block>,
    frame: Linear,
}

impl AudioEncoder {
    pub fn new(device: &Device) -> Self {
        let mut c_in = 1;
        let blocks = WIDTHS
            .iter()
            .map(|&c| {
                let block = Block::new(c_in, c, device);
                c_in = c;
                block
            })
            .collect();
        let bands = WIDTHS.iter().fold(N_MELS, |m, _| m.div_ceil(2));
        Self {
            blocks,
            frame: LinearConfig::new(c_in * bands, FRAME_DIM).init(device),
        }
    }

    /// The mean and the maximum of the per-frame features.
    pub fn out_dim(&self) -> usize {
        2 * FRAME_DIM
    }

    /// Frames after the blocks of a clip of `frames` frames (each block: `ceil(t / 2)`).
    pub fn frames_after(frames: usize) -> usize {
        WIDTHS.iter().fold(frames, |t, _| t.div_ceil(2)).max(1)
    }

    /// The per-frame features `[B, T', FRAME_DIM]` of clips of `lengths` frames: after each
    /// block the frames past a clip's own end are set to zero, so that a clip reads the same
    /// padded in a batch as alone (BatchNorm would otherwise turn its padding into values its last
    /// frames see); the per-frame layer's output is zeroed there too.
    pub fn frames(&self, x: Tensor<4>, lengths: &[usize]) -> Tensor<3> {
        let mut lengths = lengths.to_vec();
        let h = self.blocks.iter().fold(x, |x, block| {
            let h = block.forward(x);
            let [b, _, t, _] = h.dims();
            lengths.iter_mut().for_each(|l| *l = l.div_ceil(2).max(1));
            let mask = frame_mask(&lengths, t, &h.device()).reshape([b, 1, t, 1]);
            h * mask
        });
        let [b, c, t, m] = h.dims();
        let flat = h.swap_dims(1, 2).reshape([b, t, c * m]);
        let mask = frame_mask(&lengths, t, &flat.device()).reshape([b, t, 1]);
        relu(self.frame.forward(flat)) * mask
    }

    /// The clip representation: the mean and the maximum of [`AudioEncoder::frames`] over each
    /// clip's own frames (`lengths`, before the blocks). The features are ReLU outputs and the
    /// padding frames zeros, so the padding never changes the maximum over a clip's frames.
    pub fn forward(&self, x: Tensor<4>, lengths: &[usize]) -> Tensor<2> {
        let frames = self.frames(x, lengths);
        let [b, t, c] = frames.dims();
        let after: Vec<usize> = lengths.iter().map(|&l| Self::frames_after(l)).collect();
        let mask = frame_mask(&after, t, &frames.device()).reshape([b, t, 1]);
        let max = frames.clone().max_dim(1).reshape([b, c]);
        let sum = (frames * mask.clone()).sum_dim(1).reshape([b, c]);
        Tensor::cat(vec![sum / mask.sum_dim(1).reshape([b, 1]), max], 1)
    }
}

/// Clip embeddings from a frozen encoder, whatever it reads (spectrograms or waveforms).
pub trait AudioEncoding: Module + ModuleDisplay {
    /// Width of [`AudioEncoding::embed`]'s rows.
    fn dim(&self) -> usize;
    /// One embedding per clip of `clips` (at `rate` Hz), `[B, dim]`, on the module's device;
    /// a clip's embedding does not depend on the others in the batch.
    fn embed(&self, clips: &[Vec<f32>], rate: u32) -> Tensor<2>;
    /// `embed` of clips of one length at `rate` Hz as ONNX nodes on the waveforms `input`
    /// (`[B, 1, samples]`).
    fn onnx(&self, g: &mut OnnxGraph, input: &str, rate: u32) -> anyhow::Result<String>;
}

impl AudioEncoding for AudioEncoder {
    fn dim(&self) -> usize {
        self.out_dim()
    }

    /// The mean over frames of the log-mel CNN's features ([`MelConfig::speech`] spectrograms).
    /// The log-mel spectrogram inside the graph: the windowed DFT as a strided convolution (the
    /// signal padded so a last partial frame counts, as `log_mel` does), the power through the
    /// mel filters, the floor and log, each spectrogram standardised as `MelBatch` does.
    fn onnx(&self, g: &mut OnnxGraph, wave: &str, rate: u32) -> anyhow::Result<String> {
        let mel = MelSpectrogram::new(MelConfig::speech(rate));
        let cfg = mel.config().clone();
        let bins = cfg.n_fft / 2 + 1;
        g.describe(
            "audio-byol",
            serde_json::json!({
                "window": cfg.window, "hop": cfg.hop, "bins": bins, "n_mels": cfg.n_mels,
                "widths": WIDTHS, "frame_dim": FRAME_DIM,
            }),
        );
        let dft = g.constant(
            "features.dft",
            &[2 * bins, 1, cfg.window],
            &mel.dft_kernels(),
        );
        let hop = cfg.hop as i64;
        let parts = g.node(
            "Conv",
            &[wave, &dft],
            &[
                Attr::Ints("strides", &[hop]),
                Attr::Ints("pads", &[0, hop - 1]),
            ],
        );
        let squares = g.node("Mul", &[&parts, &parts], &[]);
        let squares = g.node("Transpose", &[&squares], &[Attr::Ints("perm", &[0, 2, 1])]);
        // The filters twice: the cosine's and the sine's squares sum into each band.
        let filters = mel.filter_matrix();
        let both: Vec<f32> = filters.iter().chain(&filters).copied().collect();
        let filters = g.constant("features.mel", &[2 * bins, cfg.n_mels], &both);
        let energy = g.node("MatMul", &[&squares, &filters], &[]);
        let floor = g.scalar(POWER_FLOOR);
        let energy = g.node("Max", &[&energy, &floor], &[]);
        let log_mel = g.node("Log", &[&energy], &[]);
        let mean = g.node("ReduceMean", &[&log_mel], &[Attr::Ints("axes", &[1, 2])]);
        let centred = g.node("Sub", &[&log_mel, &mean], &[]);
        let squares = g.node("Mul", &[&centred, &centred], &[]);
        let var = g.node("ReduceMean", &[&squares], &[Attr::Ints("axes", &[1, 2])]);
        let std = g.node("Sqrt", &[&var], &[]);
        let epsilon = g.scalar(MEL_STD_EPSILON);
        let std = g.node("Add", &[&std, &epsilon], &[]);
        let x = g.node("Div", &[&centred, &std], &[]);
        let channel = g.ints(&[1]);
        let mut x = g.node("Unsqueeze", &[&x, &channel], &[]);
        for (i, block) in self.blocks.iter().enumerate() {
            let y = g.conv2d(&format!("blocks.{i}.conv"), &block.conv, &x);
            let y = g.batch_norm(&format!("blocks.{i}.bn"), &block.bn, &y);
            x = g.relu(&y);
        }
        let [c, bands] = [
            WIDTHS[WIDTHS.len() - 1],
            WIDTHS.iter().fold(N_MELS, |m, _| m.div_ceil(2)),
        ];
        let x = g.node("Transpose", &[&x], &[Attr::Ints("perm", &[0, 2, 1, 3])]);
        let flat = g.ints(&[0, 0, (c * bands) as i64]);
        let x = g.node("Reshape", &[&x, &flat], &[]);
        let frames = g.linear("frame", &self.frame, &x);
        let frames = g.relu(&frames);
        let mean = g.mean(&frames, &[1]);
        let max = g.node(
            "ReduceMax",
            &[&frames],
            &[Attr::Ints("axes", &[1]), Attr::Int("keepdims", 0)],
        );
        Ok(g.node("Concat", &[&mean, &max], &[Attr::Int("axis", -1)]))
    }

    fn embed(&self, clips: &[Vec<f32>], rate: u32) -> Tensor<2> {
        let mel = MelSpectrogram::new(MelConfig::speech(rate));
        let mels: Vec<_> = clips.iter().map(|c| mel.log_mel(c)).collect();
        let batch = MelBatch::new(&mels);
        self.forward(batch.tensor(&device_of(self)), &batch.lengths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chirp(len: usize, hz: f32) -> Vec<f32> {
        (0..len)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / 8000.0).sin())
            .collect()
    }

    #[test]
    fn a_clip_reads_the_same_alone_or_padded_beside_a_longer_one() {
        let device = Device::flex();
        let encoder = AudioEncoder::new(&device);
        let mel = MelSpectrogram::new(MelConfig::speech(8000));
        let short = mel.log_mel(&chirp(3000, 440.0));
        let long = mel.log_mel(&chirp(9000, 880.0));
        let alone = MelBatch::new(std::slice::from_ref(&short));
        let together = MelBatch::new(&[short.clone(), long]);
        assert_eq!(together.frames, 111);
        let a = encoder.forward(alone.tensor(&device), &alone.lengths);
        let b = encoder.forward(together.tensor(&device), &together.lengths);
        assert_eq!(a.dims(), [1, 1024]);
        assert_eq!(b.dims(), [2, 1024]);
        let a: Vec<f32> = a.into_data().iter::<f32>().collect();
        let b: Vec<f32> = b.into_data().iter::<f32>().collect();
        let worst = a
            .iter()
            .zip(&b[..1024])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(
            worst < 1e-4,
            "padding changed the short clip's features by {worst}"
        );
        assert!(b[..1024] != b[1024..], "two clips, two representations");
        assert_eq!(AudioEncoder::frames_after(36), 5);
    }
}
