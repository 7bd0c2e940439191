//! A tiny Vision Transformer sized for 28x28 and 32x32 images on a CPU: 4x4 patches by default (49
//! or 64 tokens; 7x7 gives 16 on 28x28), width 128, 4 pre-norm blocks with 4 heads, fixed 2-D
//! sine-cosine positions, no CLS token: the representation is the mean of the patch tokens.

use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;

use super::fused_encoder::{ENCODER_NORM_EPSILON, encoder_forward};
use autodidact_core::export::onnx::{Attr, OnnxGraph};
use autodidact_kernels::burn_layer_norm::layer_norm;
use autodidact_kernels::burn_linear::linear;

/// Default side of a square patch in pixels (28 / 4 = 7 and 32 / 4 = 8 patches a side).
pub const VIT_PATCH: usize = 4;
/// Token width.
pub const VIT_DIM: usize = 128;
/// Transformer blocks.
pub const VIT_DEPTH: usize = 4;
/// Attention heads (32 dimensions each).
pub const VIT_HEADS: usize = 4;
/// Epsilon of the LayerNorm after the blocks (MAE's).
pub const FINAL_NORM_EPSILON: f64 = 1e-6;

/// `[B, C, H, W] -> [B, N, p * p * C]`, patches in row-major order, each patch's values ordered
/// (row, column, channel) as in MAE's `patchify`. Pixels past the last whole patch are dropped.
pub fn patchify(x: Tensor<4>, p: usize) -> Tensor<3> {
    let [b, c, h, w] = x.dims();
    let (gh, gw) = (h / p, w / p);
    let x = if gh * p != h || gw * p != w {
        x.slice([0..b, 0..c, 0..gh * p, 0..gw * p])
    } else {
        x
    };
    x.reshape([b, c, gh, p, gw, p])
        .permute([0, 2, 4, 3, 5, 1])
        .reshape([b, gh * gw, p * p * c])
}

/// The inverse of [`patchify`]: `[B, gh * gw, p * p * C] -> [B, C, gh * p, gw * p]`.
pub fn unpatchify(t: Tensor<3>, p: usize, channels: usize, gh: usize, gw: usize) -> Tensor<4> {
    let [b, _, _] = t.dims();
    t.reshape([b, gh, gw, p, p, channels])
        .permute([0, 5, 1, 3, 2, 4])
        .reshape([b, channels, gh * p, gw * p])
}

/// MAE's fixed 2-D sine-cosine position embedding, `[gh * gw, dim]` row-major: the first half of
/// the dimensions encodes the row, the second the column (`dim` must be a multiple of 4).
pub fn sincos_2d(dim: usize, gh: usize, gw: usize) -> Vec<f32> {
    let quarter = dim / 4;
    let omega: Vec<f64> = (0..quarter)
        .map(|i| 1.0 / 10_000f64.powf(i as f64 / quarter as f64))
        .collect();
    let mut out = Vec::with_capacity(gh * gw * dim);
    for r in 0..gh {
        for c in 0..gw {
            for pos in [r as f64, c as f64] {
                out.extend(omega.iter().map(|o| (pos * o).sin() as f32));
                out.extend(omega.iter().map(|o| (pos * o).cos() as f32));
            }
        }
    }
    out
}

/// The position embedding as a `[1, gh * gw, dim]` tensor on `device`.
pub fn position_embedding(dim: usize, gh: usize, gw: usize, device: &Device) -> Tensor<3> {
    Tensor::from_data(
        TensorData::new(sincos_2d(dim, gh, gw), [1, gh * gw, dim]),
        device,
    )
}

/// ViT-tiny-ish encoder: `[B, C, H, W] -> [B, 128]` (mean of the patch tokens).
#[derive(Module, Debug)]
pub struct Vit {
    patch_embed: Linear,
    blocks: TransformerEncoder,
    norm: LayerNorm,
    pub patch: usize,
    pub dim: usize,
    pub channels: usize,
}

impl Vit {
    /// An encoder for `in_channels`-channel images cut into `patch x patch` patches.
    pub fn new(in_channels: usize, patch: usize, device: &Device) -> Self {
        Self::with_depth(in_channels, patch, VIT_DEPTH, device)
    }

    /// [`Vit::new`] with `depth` blocks.
    pub fn with_depth(in_channels: usize, patch: usize, depth: usize, device: &Device) -> Self {
        Self {
            patch_embed: LinearConfig::new(patch * patch * in_channels, VIT_DIM).init(device),
            blocks: TransformerEncoderConfig::new(VIT_DIM, 4 * VIT_DIM, VIT_HEADS, depth)
                .with_layer_norm_eps(ENCODER_NORM_EPSILON)
                .with_norm_first(true)
                .with_dropout(0.0)
                .init(device),
            norm: LayerNormConfig::new(VIT_DIM)
                .with_epsilon(FINAL_NORM_EPSILON)
                .init(device),
            patch,
            dim: VIT_DIM,
            channels: in_channels,
        }
    }

    pub fn out_dim(&self) -> usize {
        self.dim
    }

    /// Transformer blocks the tokens pass through.
    pub fn depth(&self) -> usize {
        self.blocks.layers.len()
    }

    /// The same encoder reading its tokens after its first `blocks` blocks (then the final
    /// norm, as before): a shallower read-out of a trained ViT for evaluation.
    pub fn keep_blocks(mut self, blocks: usize) -> Result<Self, String> {
        let depth = self.depth();
        if blocks == 0 || blocks > depth {
            return Err(format!(
                "the ViT has {depth} blocks; {blocks} is not 1 to {depth}"
            ));
        }
        self.blocks.layers.truncate(blocks);
        self.blocks.n_layers = blocks;
        Ok(self)
    }

    /// Values in one flattened patch.
    pub fn patch_dim(&self) -> usize {
        self.patch * self.patch * self.channels
    }

    /// Patches (from [`patchify`]) to tokens with their positions: `[B, N, D]` for a
    /// `gh x gw` grid.
    pub fn embed_patches(&self, patches: Tensor<3>, gh: usize, gw: usize) -> Tensor<3> {
        let pos = position_embedding(self.dim, gh, gw, &patches.device());
        linear(&self.patch_embed, patches) + pos
    }

    /// The transformer and its final norm over any subset of tokens.
    pub fn encode_tokens(&self, tokens: Tensor<3>) -> Tensor<3> {
        layer_norm(
            &self.norm,
            FINAL_NORM_EPSILON,
            encoder_forward(&self.blocks, tokens),
        )
    }

    /// All patch tokens of full images, `[B, gh * gw, D]`, and the grid `(gh, gw)`.
    pub fn tokens(&self, x: Tensor<4>) -> (Tensor<3>, usize, usize) {
        let [_, _, h, w] = x.dims();
        let (gh, gw) = (h / self.patch, w / self.patch);
        let tokens = self.embed_patches(patchify(x, self.patch), gh, gw);
        (self.encode_tokens(tokens), gh, gw)
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let (tokens, _, _) = self.tokens(x);
        let [b, _, d] = tokens.dims();
        tokens.mean_dim(1).reshape([b, d])
    }

    /// [`Vit::forward`] as ONNX nodes on `x`, images of `side x side`.
    pub fn onnx(&self, g: &mut OnnxGraph, x: &str, side: usize) -> String {
        let heads = self
            .blocks
            .layers
            .first()
            .map_or(VIT_HEADS, |l| l.mha.n_heads);
        g.describe(
            "vit",
            serde_json::json!({
                "channels": self.channels, "patch": self.patch, "dim": self.dim,
                "depth": self.depth(), "heads": heads, "side": side,
            }),
        );
        let (p, c) = (self.patch, self.channels);
        let grid = side / p;
        let x = if grid * p != side {
            let starts = g.ints(&[0, 0]);
            let ends = g.ints(&[(grid * p) as i64, (grid * p) as i64]);
            let axes = g.ints(&[2, 3]);
            g.node("Slice", &[x, &starts, &ends, &axes], &[])
        } else {
            x.to_string()
        };
        let [c, p, grid] = [c, p, grid].map(|v| v as i64);
        let cut = g.ints(&[0, c, grid, p, grid, p]);
        let x = g.node("Reshape", &[&x, &cut], &[]);
        let x = g.node(
            "Transpose",
            &[&x],
            &[Attr::Ints("perm", &[0, 2, 4, 3, 5, 1])],
        );
        let flat = g.ints(&[0, grid * grid, p * p * c]);
        let patches = g.node("Reshape", &[&x, &flat], &[]);
        let tokens = g.linear("patch_embed", &self.patch_embed, &patches);
        let grid = grid as usize;
        let pos = g.constant(
            "position_embedding",
            &[1, grid * grid, self.dim],
            &sincos_2d(self.dim, grid, grid),
        );
        let tokens = g.node("Add", &[&tokens, &pos], &[]);
        let tokens = g.transformer("blocks", &self.blocks, ENCODER_NORM_EPSILON, &tokens);
        let tokens = g.layer_norm("norm", &self.norm, FINAL_NORM_EPSILON, &tokens);
        g.mean(&tokens, &[1])
    }

    /// Tokens laid out as a feature map `[B, D, gh, gw]` (stride = the patch side).
    pub fn feature_map(&self, x: Tensor<4>) -> Tensor<4> {
        let (tokens, gh, gw) = self.tokens(x);
        let [b, _, d] = tokens.dims();
        tokens.reshape([b, gh, gw, d]).permute([0, 3, 1, 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn patchify_orders_values_and_round_trips_exactly() {
        let device = Device::flex();
        // 2 images, 3 channels, 8x12: every value distinct.
        let values: Vec<f32> = (0..2 * 3 * 8 * 12).map(|v| v as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(values.clone(), [2, 3, 8, 12]), &device);
        let patches = patchify(x, 4);
        assert_eq!(patches.dims(), [2, 6, 48]);
        let p = patches.clone().into_data().try_to_vec::<f32>().unwrap();
        // Image 1, patch (row 1, column 2) = index 5; its value (row 3, column 2, channel 1)
        // sits at (3 * 4 + 2) * 3 + 1 and comes from pixel (1, 4 + 3, 8 + 2) of the input.
        let got = p[(6 + 5) * 48 + (3 * 4 + 2) * 3 + 1];
        let want = values[((3 + 1) * 8 + 4 + 3) * 12 + 8 + 2];
        assert_eq!(got, want);
        let back = unpatchify(patches, 4, 3, 2, 3)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(back, values);
    }

    #[test]
    fn position_embedding_matches_the_formula() {
        let pe = sincos_2d(8, 2, 3);
        assert_eq!(pe.len(), 6 * 8);
        // Token (row 1, column 2): dims 0..2 sin(row * omega), 2..4 cos, 4..6 sin(col * omega), 6..8 cos.
        let t = &pe[5 * 8..6 * 8];
        let omega1 = 1.0 / 100f64;
        let want = [
            1f64.sin(),
            omega1.sin(),
            1f64.cos(),
            omega1.cos(),
            2f64.sin(),
            (2.0 * omega1).sin(),
            2f64.cos(),
            (2.0 * omega1).cos(),
        ];
        for (g, w) in t.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{t:?}");
        }
    }

    #[test]
    fn vit_maps_images_to_pooled_tokens_and_feature_maps() {
        let device = Device::flex();
        let vit = Vit::new(1, VIT_PATCH, &device);
        let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
        assert_eq!(vit.forward(x.clone()).dims(), [2, VIT_DIM]);
        assert_eq!(vit.feature_map(x.clone()).dims(), [2, VIT_DIM, 7, 7]);
        let vit7 = Vit::new(1, 7, &device);
        assert_eq!(vit7.depth(), VIT_DEPTH);
        assert_eq!(vit7.patch_dim(), 49);
        assert_eq!(vit7.forward(x.clone()).dims(), [2, VIT_DIM]);
        assert_eq!(vit7.feature_map(x).dims(), [2, VIT_DIM, 4, 4]);
    }

    #[test]
    fn keeping_k_blocks_reads_the_tokens_after_the_first_k() {
        let device = Device::flex();
        let vit = Vit::new(1, 7, &device);
        let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
        let mut want = vit.embed_patches(patchify(x.clone(), 7), 4, 4);
        for layer in &vit.blocks.layers[..2] {
            want = layer.forward(want, None, None);
        }
        let want = vit.norm.forward(want);
        let all = vit.tokens(x.clone()).0;
        let two = vit.clone().keep_blocks(2).unwrap();
        assert_eq!(two.depth(), 2);
        let got = two.tokens(x.clone()).0;
        let diff = |a: Tensor<3>, b: Tensor<3>| (a - b).abs().max().into_scalar::<f32>();
        assert!(
            diff(got, want.clone()) < 1e-5,
            "2 blocks differ from the first 2 applied by hand"
        );
        // Reading after all the blocks is the encoder itself; after two it is not.
        let full = vit.clone().keep_blocks(VIT_DEPTH).unwrap().tokens(x).0;
        assert!(diff(full, all.clone()) < 1e-6);
        assert!(diff(all, want) > 1e-3);
        for bad in [0, VIT_DEPTH + 1] {
            let err = vit.clone().keep_blocks(bad).unwrap_err();
            assert!(err.contains("has 4 blocks"), "{err}");
        }
    }
}
