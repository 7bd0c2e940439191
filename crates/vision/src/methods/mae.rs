//! MAE (He et al. 2022): the ViT encodes only a random 25% of the patches; a light transformer
//! decoder (width 64, 2 blocks unless `mae_decoder_depth` says otherwise) gets them back with a
//! shared learned mask token in every hidden position and predicts all patches' pixels; the loss
//! is the mean squared error on the hidden patches only, optionally against per-patch normalised
//! pixels (`norm_pix_loss`).

use std::path::Path;

use burn::module::Param;
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

use super::masking::{PatchMask, vit_patches_tile};
use super::{ImageMethod, Method, MethodSettings, StepOutput};
use crate::augment::image::AugmentConfig;
use crate::encoders::{EncoderKind, ImageEncoder, Pooling};
use crate::encoders::fused_encoder::{ENCODER_NORM_EPSILON, encoder_forward};
use crate::encoders::vit::{FINAL_NORM_EPSILON, Vit, patchify, position_embedding, unpatchify};
use autodidact_kernels::burn_layer_norm::layer_norm;
use autodidact_kernels::burn_linear::linear;
use crate::eval::grid::write_image_grid;
use autodidact_core::eval::knn::KnnFeatures;
use autodidact_core::train::limits::{self, Settings};

/// Decoder width.
pub const DECODER_DIM: usize = 64;
/// Decoder attention heads.
pub const DECODER_HEADS: usize = 4;
/// Seed of the masks drawn for `reconstruction.png`.
const GRID_SEED: u64 = 0x006d_6165;

#[derive(Module, Debug)]
pub struct Mae {
    pub encoder: ImageEncoder,
    decoder_embed: Linear,
    mask_token: Param<Tensor<3>>,
    decoder: TransformerEncoder,
    decoder_norm: LayerNorm,
    decoder_pred: Linear,
    pub mask_ratio: f64,
    pub norm_pix_loss: bool,
}

/// What a masked forward pass produced.
pub struct MaeOutput {
    /// Predicted pixels of every patch, `[B, N, P]` (normalised per patch if `norm_pix_loss`).
    pub pred: Tensor<3>,
    /// The input's patches, `[B, N, P]`.
    pub patches: Tensor<3>,
    /// `[B, N]`, 1 on hidden patches.
    pub hidden: Tensor<2>,
    /// Mean of the encoded visible tokens, `[B, D]`.
    pub latent: Tensor<2>,
    /// Patch grid.
    pub grid: (usize, usize),
}

/// Each patch normalised by its own mean and (biased) variance, as MAE's `norm_pix_loss`.
pub fn normalise_patches(patches: Tensor<3>) -> Tensor<3> {
    let mean = patches.clone().mean_dim(2);
    let centred = patches - mean;
    let var = centred.clone().powf_scalar(2.0).mean_dim(2);
    centred / (var + 1e-6).sqrt()
}

/// Mean over hidden patches (`hidden[b, n] = 1`) of the per-patch mean squared error; visible
/// patches do not count.
pub fn masked_patch_loss(pred: Tensor<3>, target: Tensor<3>, hidden: Tensor<2>) -> Tensor<1> {
    let [b, n, _] = pred.dims();
    let per_patch = (pred - target).powf_scalar(2.0).mean_dim(2).reshape([b, n]);
    (per_patch * hidden.clone()).sum() / hidden.sum().clamp_min(1.0)
}

impl Mae {
    fn vit(&self) -> &Vit {
        match &self.encoder {
            ImageEncoder::Vit(vit) => vit,
            // train::trainer::pretrain refuses other encoders before a Mae is built.
            _ => unreachable!("MAE is only built around a ViT (methods::check_encoder)"),
        }
    }

    /// Encodes the visible patches of `x` under `mask` and predicts every patch.
    pub fn forward_masked(&self, x: Tensor<4>, mask: &PatchMask) -> MaeOutput {
        let vit = self.vit();
        let device = x.device();
        let [b, _, h, w] = x.dims();
        let (gh, gw) = (h / vit.patch, w / vit.patch);
        let n = gh * gw;
        let patches = patchify(x, vit.patch);
        let tokens = vit.embed_patches(patches.clone(), gh, gw);
        let visible = mask.visible(tokens);
        let latent = vit.encode_tokens(visible);

        let y = linear(&self.decoder_embed, latent.clone());
        let mask_tokens =
            self.mask_token
                .val()
                .expand([b as i64, (n - mask.keep) as i64, DECODER_DIM as i64]);
        let y = mask.restore(Tensor::cat(vec![y, mask_tokens], 1))
            + position_embedding(DECODER_DIM, gh, gw, &device);
        let y = layer_norm(
            &self.decoder_norm,
            FINAL_NORM_EPSILON,
            encoder_forward(&self.decoder, y),
        );
        let pred = linear(&self.decoder_pred, y);
        let hidden = Tensor::from_data(TensorData::new(mask.hidden(), [b, n]), &device);
        let [_, _, d] = latent.dims();
        MaeOutput {
            pred,
            patches,
            hidden,
            latent: latent.mean_dim(1).reshape([b, d]),
            grid: (gh, gw),
        }
    }

    /// The loss of a masked forward pass.
    pub fn loss(&self, out: &MaeOutput) -> Tensor<1> {
        let target = if self.norm_pix_loss {
            normalise_patches(out.patches.clone())
        } else {
            out.patches.clone()
        };
        masked_patch_loss(out.pred.clone(), target, out.hidden.clone())
    }

    /// The images with hidden patches set to 0 (mid-gray), and the reconstruction: predicted
    /// hidden patches (back in pixel scale with each true patch's mean and variance if
    /// `norm_pix_loss`) pasted into the visible ones.
    pub fn reconstruct(&self, out: &MaeOutput) -> (Tensor<4>, Tensor<4>) {
        let vit = self.vit();
        let [b, n, p] = out.patches.dims();
        let hidden = out.hidden.clone().reshape([b, n, 1]);
        let pred = if self.norm_pix_loss {
            let mean = out.patches.clone().mean_dim(2);
            let var = (out.patches.clone() - mean.clone())
                .powf_scalar(2.0)
                .mean_dim(2);
            out.pred.clone() * (var + 1e-6).sqrt() + mean
        } else {
            out.pred.clone()
        };
        let visible = out.patches.clone() * (hidden.clone().neg() + 1.0);
        let recon = visible.clone() + pred * hidden;
        let (gh, gw) = out.grid;
        let image = |t: Tensor<3>| unpatchify(t, vit.patch, p / (vit.patch * vit.patch), gh, gw);
        (image(visible), image(recon))
    }
}

/// MAE's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MaeConfig {
    /// Fraction of patches hidden from the encoder.
    pub mask_ratio: f64,
    /// Regress each patch normalised by its own mean and variance (the paper's better
    /// representations) instead of raw pixels.
    pub norm_pix_loss: bool,
    /// Transformer blocks in the decoder (width 64).
    pub mae_decoder_depth: usize,
}

impl Default for MaeConfig {
    fn default() -> Self {
        Self {
            mask_ratio: 0.75,
            norm_pix_loss: false,
            mae_decoder_depth: 2,
        }
    }
}

impl MethodSettings for MaeConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real("method_config.mask_ratio", self.mask_ratio, limits::SHARE)?;
        s.int("method_config.mae_decoder_depth", self.mae_decoder_depth, limits::DEPTH)
    }
}

impl ImageMethod for Mae {
    type Config = MaeConfig;
    const ENCODER: EncoderKind = EncoderKind::Vit;
    const POOLING: Pooling = Pooling::Grid4;
    const KNN_FEATURES: KnnFeatures = KnnFeatures::Standardised;

    fn encoder_problem(encoder: EncoderKind, vit_patch: usize, size: usize) -> Option<String> {
        match encoder {
            EncoderKind::Vit => vit_patches_tile("mae", encoder, vit_patch, size),
            other => Some(format!(
                "--method mae needs --encoder vit (it hides patches from a transformer); got --encoder {}",
                other.name()
            )),
        }
    }

    fn new(cfg: &MaeConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let (dim, patch_dim) = match &encoder {
            ImageEncoder::Vit(vit) => (vit.dim, vit.patch_dim()),
            // Never trained: methods::pretrain refuses non-ViT encoders first.
            other => (other.out_dim(), 1),
        };
        let mask_token =
            Tensor::<3>::random([1, 1, DECODER_DIM], Distribution::Normal(0.0, 0.02), device);
        Self {
            encoder,
            decoder_embed: LinearConfig::new(dim, DECODER_DIM).init(device),
            mask_token: Param::from_tensor(mask_token),
            decoder: TransformerEncoderConfig::new(
                DECODER_DIM,
                4 * DECODER_DIM,
                DECODER_HEADS,
                cfg.mae_decoder_depth,
            )
            .with_layer_norm_eps(ENCODER_NORM_EPSILON)
            .with_norm_first(true)
            .with_dropout(0.0)
            .init(device),
            decoder_norm: LayerNormConfig::new(DECODER_DIM)
                .with_epsilon(FINAL_NORM_EPSILON)
                .init(device),
            decoder_pred: LinearConfig::new(DECODER_DIM, patch_dim).init(device),
            mask_ratio: cfg.mask_ratio,
            norm_pix_loss: cfg.norm_pix_loss,
        }
    }

    fn views(_: &MaeConfig, channels: usize, size: usize) -> Vec<AugmentConfig> {
        vec![AugmentConfig::masked_modelling(channels, size)]
    }

    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }

    fn write_artifacts(&self, batch: &[Tensor<4>], run_dir: &Path) -> anyhow::Result<()> {
        let Some(x) = batch.first() else {
            return Ok(());
        };
        let vit = self.vit();
        let [b, _, h, w] = x.dims();
        let mask = PatchMask::random(
            b,
            (h / vit.patch) * (w / vit.patch),
            self.mask_ratio,
            GRID_SEED,
        );
        let out = self.forward_masked(x.clone(), &mask);
        let (masked, recon) = self.reconstruct(&out);
        let original = patchify(x.clone(), vit.patch);
        let (gh, gw) = out.grid;
        let original = unpatchify(original, vit.patch, vit.channels, gh, gw);
        write_image_grid(
            &run_dir.join("reconstruction.png"),
            &[original, masked, recon],
        )
    }
}

impl Method for Mae {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, seed: u64) -> StepOutput {
        let [x]: [Tensor<4>; 1] = views.try_into().expect("MAE takes one view");
        let vit = self.vit();
        let [b, _, h, w] = x.dims();
        let n = (h / vit.patch) * (w / vit.patch);
        let mask = PatchMask::random(b, n, self.mask_ratio, seed);
        let out = self.forward_masked(x, &mask);
        StepOutput::new(self.loss(&out), out.latent)
    }

    fn watches_collapse(&self) -> bool {
        false
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders::EncoderKind;

    fn loss_of(pred: &[f32], target: &[f32], hidden: &[f32], shape: [usize; 3]) -> f32 {
        let device = Device::flex();
        let t = |v: &[f32]| Tensor::<3>::from_data(TensorData::new(v.to_vec(), shape), &device);
        let hidden = Tensor::<2>::from_data(
            TensorData::new(hidden.to_vec(), [shape[0], shape[1]]),
            &device,
        );
        masked_patch_loss(t(pred), t(target), hidden).into_scalar::<f32>()
    }

    #[test]
    fn loss_counts_hidden_patches_only() {
        // 1 sample, 3 patches of 2 values; patches 0 and 2 hidden.
        let target = [0.0; 6];
        let hidden = [1.0, 0.0, 1.0];
        let pred = [1.0, 1.0, 5.0, 5.0, 2.0, 0.0];
        // (1 + 1) / 2 = 1 for patch 0, (4 + 0) / 2 = 2 for patch 2: mean 1.5.
        let base = loss_of(&pred, &target, &hidden, [1, 3, 2]);
        assert!((base - 1.5).abs() < 1e-6, "{base}");
        let mut visible_changed = pred;
        visible_changed[2] = -40.0;
        assert_eq!(loss_of(&visible_changed, &target, &hidden, [1, 3, 2]), base);
        let mut hidden_changed = pred;
        hidden_changed[4] = 3.0;
        assert!(loss_of(&hidden_changed, &target, &hidden, [1, 3, 2]) > base + 1.0);
    }

    #[test]
    fn mae_loss_ignores_predictions_of_visible_patches() {
        let device = Device::flex();
        let encoder = ImageEncoder::new(EncoderKind::Vit, 1, &device);
        let mae = Mae::new(&MaeConfig::default(), encoder, &device);
        let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
        let mask = PatchMask::random(2, 49, 0.75, 9);
        let out = mae.forward_masked(x, &mask);
        assert_eq!(out.pred.dims(), [2, 49, 16]);
        assert_eq!(mask.keep, 12);
        let base = mae.loss(&out).into_scalar::<f32>();
        let hidden = mask.hidden();
        let (visible_patch, hidden_patch) = (
            hidden.iter().position(|&h| h == 0.0).unwrap(),
            hidden.iter().position(|&h| h == 1.0).unwrap(),
        );
        let bump = |patch: usize| {
            let mut pred = out.pred.clone().into_data().try_to_vec::<f32>().unwrap();
            pred[patch * 16..(patch + 1) * 16]
                .iter_mut()
                .for_each(|v| *v += 10.0);
            let pred = Tensor::<3>::from_data(TensorData::new(pred, [2, 49, 16]), &device);
            let changed = MaeOutput {
                pred,
                patches: out.patches.clone(),
                hidden: out.hidden.clone(),
                latent: out.latent.clone(),
                grid: out.grid,
            };
            mae.loss(&changed).into_scalar::<f32>()
        };
        assert_eq!(bump(visible_patch), base);
        assert!(bump(hidden_patch) > base + 0.5);
        // The reconstruction keeps visible patches exactly and shows hidden ones at 0 when masked.
        let (masked, recon) = mae.reconstruct(&out);
        assert_eq!(masked.dims(), [2, 1, 28, 28]);
        assert_eq!(recon.dims(), [2, 1, 28, 28]);
    }

    #[test]
    fn the_decoder_has_the_configured_depth() {
        let device = Device::flex();
        let encoder = || ImageEncoder::new(EncoderKind::Vit, 1, &device);
        let default = Mae::new(&MaeConfig::default(), encoder(), &device);
        assert_eq!(default.decoder.layers.len(), 2);
        let cfg = MaeConfig {
            mae_decoder_depth: 4,
            ..MaeConfig::default()
        };
        let deep = Mae::new(&cfg, encoder(), &device);
        assert_eq!(deep.decoder.layers.len(), 4);
        let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
        let out = deep.forward_masked(x, &PatchMask::random(2, 49, 0.75, 3));
        assert_eq!(out.pred.dims(), [2, 49, 16]);
    }

    #[test]
    fn normalised_patches_have_zero_mean_and_unit_variance() {
        let device = Device::flex();
        let p = Tensor::<3>::random([2, 5, 16], Distribution::Uniform(0.0, 3.0), &device);
        let n = normalise_patches(p);
        let mean = n.clone().mean_dim(2).abs().max().into_scalar::<f32>();
        let var = n.powf_scalar(2.0).mean_dim(2);
        let var_err = (var - 1.0).abs().max().into_scalar::<f32>();
        assert!(mean < 1e-5 && var_err < 1e-3, "{mean} {var_err}");
    }
}
