//! wav2vec 2.0's 1-D convolutions on channels-last frames (`[B, L, C]`) as one matrix product
//! each: the kernel's taps (strided slices of the input) side by side, times the kernel laid out
//! `[taps x C_in, C_out]` (block-diagonal for a grouped convolution), through the fully connected
//! kernel. Burn's 1-D convolution on the CPU ran narrow products (a group of the positional
//! convolution has 8 channels) and needed channels-first input, so every LayerNorm over channels
//! was wrapped in two transposes. The modules stay Burn's `Conv1d`, so records are unchanged.

use burn::nn::PaddingConfig1d;
use burn::nn::conv::Conv1d;
use burn::prelude::*;
use burn::tensor::Slice;

use autodidact_kernels::burn_linear::linear_parts;

/// `conv` (dilation 1, valid or explicit padding: wav2vec 2.0's) applied to `x` `[B, L, C_in]`: `[B, T, C_out]`.
pub fn conv1d_frames(conv: &Conv1d, x: Tensor<3>) -> Tensor<3> {
    let [c_out, _, k] = conv.weight.dims();
    assert_eq!(
        conv.dilation, 1,
        "conv1d_frames: dilated convolutions are not taps"
    );
    let (left, right) = match conv.padding {
        PaddingConfig1d::Valid => (0, 0),
        PaddingConfig1d::Explicit(left, right) => (left, right),
        ref other => panic!("conv1d_frames: padding {other:?} is not built here"),
    };
    let x = pad_time(x, left, right);
    let [_, l, c_in] = x.dims();
    let s = conv.stride;
    assert!(
        l >= k,
        "conv1d_frames: {l} frames are fewer than the kernel's {k}"
    );
    let t = (l - k) / s + 1;
    let taps = (0..k)
        .map(|j| {
            let time = Slice::new(j as isize, Some((j + s * (t - 1) + 1) as isize), s as isize);
            x.clone().slice([Slice::from(..), time, Slice::from(..)])
        })
        .collect();
    let frames = Tensor::cat(taps, 2);
    let bias = match &conv.bias {
        Some(bias) => bias.val(),
        None => Tensor::zeros([c_out], &frames.device()),
    };
    linear_parts(frames, dense_kernel(conv, c_in), bias)
}

/// `x` with `left` and `right` zero frames added along time.
fn pad_time(x: Tensor<3>, left: usize, right: usize) -> Tensor<3> {
    if left == 0 && right == 0 {
        return x;
    }
    let [b, _, c] = x.dims();
    let device = x.device();
    let zeros = |n| Tensor::<3>::zeros([b, n, c], &device);
    Tensor::cat(vec![zeros(left), x, zeros(right)], 1)
}

/// The weight `[C_out, C_in / groups, k]` as `[k x C_in, C_out]` (tap-major), zero between
/// channels of different groups.
fn dense_kernel(conv: &Conv1d, c_in: usize) -> Tensor<2> {
    let w = conv.weight.val();
    let [c_out, per_group, k] = w.dims();
    let g = conv.groups;
    if g == 1 {
        return w.permute([2, 1, 0]).reshape([k * c_in, c_out]);
    }
    let o = c_out / g;
    let diagonal: Vec<f32> = (0..g * g)
        .map(|i| if i / g == i % g { 1.0 } else { 0.0 })
        .collect();
    let eye = Tensor::<5>::from_data(TensorData::new(diagonal, [1, g, 1, g, 1]), &w.device());
    // [g, o, per_group, k] -> [k, g (input), per_group, 1, o], spread over the output groups.
    let blocks = w
        .reshape([g, o, per_group, k])
        .permute([3, 0, 2, 1])
        .reshape([k, g, per_group, 1, o]);
    (blocks * eye).reshape([k * c_in, c_out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv1dConfig;
    use burn::tensor::Distribution;

    fn close(a: Tensor<3>, b: Tensor<3>) {
        assert_eq!(a.dims(), b.dims());
        let (a, b) = (
            a.into_data().try_to_vec::<f32>().unwrap(),
            b.into_data().try_to_vec::<f32>().unwrap(),
        );
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() < 1e-4 * (1.0 + y.abs()), "[{i}]: {x} vs {y}");
        }
    }

    #[test]
    fn taps_match_burns_convolution_values_and_gradients() {
        let device = Device::flex().autodiff();
        let cases = [
            Conv1dConfig::new(1, 6, 10).with_stride(5),
            Conv1dConfig::new(6, 6, 3).with_stride(2),
            Conv1dConfig::new(8, 8, 4)
                .with_groups(4)
                .with_padding(PaddingConfig1d::Explicit(2, 1)),
        ];
        for config in cases {
            let conv = config.init(&device);
            let c_in = conv.weight.dims()[1] * conv.groups;
            let x = Tensor::<3>::random([2, 23, c_in], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let ours = conv1d_frames(&conv, x.clone());
            let burns = conv.forward(x.clone().swap_dims(1, 2)).swap_dims(1, 2);
            let weights = Tensor::<3>::random(ours.dims(), Distribution::Default, &device);
            let grads = (ours.clone() * weights.clone()).sum().backward();
            let (dx, dw) = (x.grad(&grads).unwrap(), conv.weight.grad(&grads).unwrap());
            let grads = (burns.clone() * weights).sum().backward();
            close(ours, burns);
            close(dx, x.grad(&grads).unwrap());
            close(dw, conv.weight.grad(&grads).unwrap());
        }
    }
}
