//! Burn's pre-norm `TransformerEncoder` (the ViT's, and MAE's decoder) run through autodidact's
//! kernels on the Flex CPU backend: the three attention projections as one `[D, 3D]` product,
//! the fused attention and the vectorised GELU. The modules, and so the saved weights, stay
//! Burn's; any layer the kernels do not cover (post-norm, dropout, another activation, quiet
//! softmax, another device) runs Burn's own forward.

use burn::nn::activation::Activation;
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderInput, TransformerEncoderLayer};
use burn::prelude::*;

use autodidact_kernels::burn_attention::self_attention;
use autodidact_kernels::burn_gelu::gelu;
use autodidact_kernels::burn_layer_norm::layer_norm;
use autodidact_kernels::burn_linear::{linear, linear_parts};

/// The LayerNorm epsilon of every encoder built here (Burn's default, written out: Burn keeps a
/// layer's epsilon private, and the fused kernel must be told it).
pub const ENCODER_NORM_EPSILON: f64 = 1e-5;

/// `encoder.forward` of unmasked tokens `[B, T, D]`, for an encoder configured with
/// `.with_layer_norm_eps(ENCODER_NORM_EPSILON)`.
pub fn encoder_forward(encoder: &TransformerEncoder, x: Tensor<3>) -> Tensor<3> {
    if !encoder.layers.iter().all(|l| kernels_cover(l, &x.device())) {
        return encoder.forward(TransformerEncoderInput::new(x));
    }
    let [_, t, _] = x.dims();
    // Every token attends to every token: a zero bias, shared by the layers.
    let no_bias = Tensor::<4>::zeros([1, 1, 1, t], &x.device());
    encoder
        .layers
        .iter()
        .fold(x, |x, layer| layer_forward(layer, x, &no_bias))
}

fn kernels_cover(layer: &TransformerEncoderLayer, device: &Device) -> bool {
    autodidact_kernels::fused_on(device)
        && layer.norm_first
        && layer.dropout.prob == 0.0
        && layer.mha.dropout.prob == 0.0
        && layer.pwff.dropout.prob == 0.0
        && !layer.mha.quiet_softmax
        && matches!(layer.pwff.activation, Activation::Gelu(_))
        && [&layer.mha.query, &layer.mha.key, &layer.mha.value]
            .iter()
            .all(|l| l.bias.is_some())
}

/// One pre-norm layer, as `TransformerEncoderLayer::forward` computes it (its `norm_2` before the
/// attention, `norm_1` before the feed-forward).
fn layer_forward(layer: &TransformerEncoderLayer, x: Tensor<3>, no_bias: &Tensor<4>) -> Tensor<3> {
    let mha = &layer.mha;
    let projections = [&mha.query, &mha.key, &mha.value];
    let weight = Tensor::cat(projections.iter().map(|l| l.weight.val()).collect(), 1);
    let bias = Tensor::cat(
        projections
            .iter()
            .map(|l| {
                l.bias
                    .as_ref()
                    .expect("kernels_cover checked the biases")
                    .val()
            })
            .collect(),
        0,
    );
    let qkv = linear_parts(
        layer_norm(&layer.norm_2, ENCODER_NORM_EPSILON, x.clone()),
        weight,
        bias,
    );
    let context = self_attention(qkv, no_bias, mha.n_heads);
    let x = x + linear(&mha.output, context);
    let ff = &layer.pwff;
    let normed = layer_norm(&layer.norm_1, ENCODER_NORM_EPSILON, x.clone());
    let h = gelu(linear(&ff.linear_inner, normed));
    x + linear(&ff.linear_outer, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::transformer::TransformerEncoderConfig;
    use burn::tensor::Distribution;

    #[test]
    fn matches_burns_encoder_values_and_gradients() {
        let device = Device::flex().autodiff();
        let encoder = TransformerEncoderConfig::new(16, 64, 4, 2)
            .with_layer_norm_eps(ENCODER_NORM_EPSILON)
            .with_norm_first(true)
            .with_dropout(0.0)
            .init(&device);
        let x =
            Tensor::<3>::random([3, 9, 16], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let ours = encoder_forward(&encoder, x.clone());
        let theirs = encoder.forward(TransformerEncoderInput::new(x.clone()));
        let close = |a: Tensor<3>, b: Tensor<3>, what: &str| {
            let a = a.into_data().try_to_vec::<f32>().expect("f32");
            let b = b.into_data().try_to_vec::<f32>().expect("f32");
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (x - y).abs() < 1e-4 * (1.0 + y.abs()),
                    "{what}[{i}]: {x} vs {y}"
                );
            }
        };
        close(ours.clone(), theirs.clone(), "forward");
        let w = Tensor::<3>::random([3, 9, 16], Distribution::Default, &device);
        let g_ours = (ours * w.clone()).sum().backward();
        let g_theirs = (theirs * w).sum().backward();
        close(
            x.grad(&g_ours).expect("dx"),
            x.grad(&g_theirs).expect("dx"),
            "dx",
        );
        let wq = |g| encoder.layers[1].mha.query.weight.grad(g).expect("dwq");
        let a = wq(&g_ours).into_data().try_to_vec::<f32>().expect("f32");
        let b = wq(&g_theirs).into_data().try_to_vec::<f32>().expect("f32");
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() < 1e-4 * (1.0 + y.abs()),
                "d query weight: {x} vs {y}"
            );
        }
    }

    #[test]
    fn a_post_norm_encoder_runs_burns_forward() {
        let device = Device::flex();
        let encoder = TransformerEncoderConfig::new(8, 16, 2, 1)
            .with_dropout(0.0)
            .init(&device);
        assert!(!kernels_cover(&encoder.layers[0], &device));
        let x = Tensor::<3>::random([2, 5, 8], Distribution::Default, &device);
        let ours = encoder_forward(&encoder, x.clone()).into_data();
        let theirs = encoder.forward(TransformerEncoderInput::new(x)).into_data();
        assert_eq!(ours, theirs);
    }
}
