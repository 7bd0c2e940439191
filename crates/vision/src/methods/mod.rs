//! SSL methods: pretext + encoder + head + objective, one file each, listed in [`MethodKind`].

pub use autodidact_core::method::{AfterStep, Method, StepOutput, device_of};
pub use autodidact_core::{ema, losses};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use std::path::Path;

use crate::augment::image::AugmentConfig;
use crate::encoders::{EncoderKind, ImageEncoder, Pooling};
use autodidact_core::eval::knn::KnnFeatures;
use autodidact_core::heads::MlpHead;
use autodidact_core::train::limits::{self, Settings};

/// Something to do with a method's type, given its [`MethodKind`] ([`MethodKind::visit`]).
pub trait MethodVisitor {
    type Output;
    fn visit<M: ImageMethod>(self) -> Self::Output;
}

/// Declares the methods: module, type, name (as `--method` and `config.toml` spell it) and a
/// one-line description; generates [`MethodKind`] and its name <-> type mapping.
macro_rules! image_methods {
    ($($kind:ident = $name:literal => $module:ident::$ty:ident, $help:literal;)*) => {
        $(pub mod $module;)*

        /// The registered image methods.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum MethodKind {
            $(#[doc = $help] #[serde(rename = $name)] $kind,)*
        }

        impl MethodKind {
            /// Every image method, in registration order.
            pub const ALL: &[MethodKind] = &[$(MethodKind::$kind),*];

            /// The name `--method` and config files use.
            pub fn name(self) -> &'static str {
                match self { $(MethodKind::$kind => $name,)* }
            }

            /// What the method learns, in a line.
            pub fn help(self) -> &'static str {
                match self { $(MethodKind::$kind => $help,)* }
            }

            /// The method called `name`, if it is an image method.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(MethodKind::$kind),)* _ => None }
            }

            /// Calls `visitor` with the method's type.
            pub fn visit<V: MethodVisitor>(self, visitor: V) -> V::Output {
                match self { $(MethodKind::$kind => visitor.visit::<$module::$ty>(),)* }
            }
        }
    };
}

pub mod masking;

image_methods! {
    Simclr = "simclr" => simclr::SimClr, "SimCLR: two augmented views, NT-Xent over the batch.";
    Moco = "moco" => moco::MocoV2, "MoCo v2: momentum key encoder and a queue of negatives.";
    Mocov3 = "mocov3" => mocov3::MocoV3, "MoCo v3: momentum encoder, predictor, symmetric InfoNCE over in-batch keys.";
    Byol = "byol" => byol::Byol, "BYOL: predictor regressing a momentum target's projection.";
    Simsiam = "simsiam" => simsiam::SimSiam, "SimSiam: predictor and stop-gradient, no momentum target.";
    Barlow = "barlow" => barlow::BarlowTwins, "Barlow Twins: cross-correlation of the two views' projections driven to the identity.";
    Vicreg = "vicreg" => vicreg::Vicreg, "VICReg: invariance, variance and covariance terms.";
    Dino = "dino" => dino::Dino, "DINO: a student matches a momentum teacher's centred, sharpened outputs across multi-crop views.";
    Mae = "mae" => mae::Mae, "MAE: a ViT encodes the visible 25% of patches, a light decoder reconstructs the rest.";
    Inpaint = "inpaint" => inpaint::Inpaint, "Inpainting: a CNN encoder and an upsampling decoder fill in hidden rectangles.";
}

impl MethodKind {
    /// The image representation evaluation and `embed` read by default: the reconstruction
    /// methods' features say where a stroke is, which the spatial mean loses. The grids were
    /// chosen on a held-out split (docs/BENCHMARKS.md, rules L and M).
    pub fn pooling(self) -> Pooling {
        match self {
            MethodKind::Mae => Pooling::Grid4,
            MethodKind::Inpaint => Pooling::Grid,
            _ => Pooling::Mean,
        }
    }

    /// What image k-NN compares by default: standardised where a held-out split chose it
    /// (docs/BENCHMARKS.md), centred where it was not tested.
    pub fn knn_features(self) -> KnnFeatures {
        match self {
            MethodKind::Mae | MethodKind::Inpaint | MethodKind::Byol => KnnFeatures::Standardised,
            _ => KnnFeatures::Centred,
        }
    }
}

/// Method hyper-parameters that are not optimiser settings. Each method reads the fields it
/// needs; missing fields take their defaults, so older `config.toml` files still load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MethodConfig {
    /// Softmax temperature of contrastive losses (SimCLR, MoCo v2, MoCo v3) and of DINO's student.
    pub temperature: f64,
    /// Hidden width of the projection head.
    pub proj_hidden: usize,
    /// Output width of the projection head (DINO: its bottleneck, before the prototypes).
    pub proj_dim: usize,
    /// Hidden width of the predictor (BYOL, SimSiam, MoCo v3).
    pub pred_hidden: usize,
    /// Whether the online branch has a predictor (BYOL, SimSiam, MoCo v3). Off is an ablation:
    /// BYOL and SimSiam collapse without it.
    pub predictor: bool,
    /// Momentum of the EMA target: constant for MoCo v2; where BYOL's and MoCo v3's cosine
    /// schedule starts (it ends at 1).
    pub ema_momentum: f64,
    /// Negatives kept in MoCo v2's queue.
    pub queue_size: usize,
    /// Barlow Twins' weight of the off-diagonal (redundancy) term, lambda.
    pub redundancy_weight: f64,
    /// VICReg's weight of the invariance (mean squared error) term.
    pub vicreg_invariance: f64,
    /// VICReg's weight of the variance (standard deviation hinge) term.
    pub vicreg_variance: f64,
    /// VICReg's weight of the covariance term.
    pub vicreg_covariance: f64,
    /// DINO's number of prototypes (the head's output width, K).
    pub prototypes: usize,
    /// DINO's teacher softmax temperature (sharpening).
    pub teacher_temperature: f64,
    /// Momentum of DINO's centre (EMA of the teacher's batch-mean output).
    pub center_momentum: f64,
    /// Fraction of patches MAE hides from its encoder.
    pub mask_ratio: f64,
    /// MAE regresses each patch normalised by its own mean and variance (the paper's better
    /// representations) instead of raw pixels.
    pub norm_pix_loss: bool,
    /// Transformer blocks in MAE's decoder (width 64).
    pub mae_decoder_depth: usize,
    /// Inpainting's weight of the visible pixels' error relative to the hidden ones' (0: only the
    /// hidden pixels count).
    pub inpaint_visible_weight: f64,
    /// The augmentation pair of a two-view method: its own (`method`) or another method's.
    pub views: ViewPreset,
}

/// Which augmentations make a two-view method's views.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewPreset {
    /// The method's own ([`ImageMethod::views`]).
    #[default]
    Method,
    /// SimCLR's augmentation for both views (also SimSiam's, MoCo v2's and VICReg's).
    Simclr,
    /// BYOL's asymmetric pair: one view always blurred, the other sometimes solarised.
    Byol,
}

impl ViewPreset {
    /// The view pipelines of `M` under this preset; a preset pair replaces only a two-view
    /// method's views (multi-crop keeps its own).
    pub fn views<M: ImageMethod>(
        self,
        channels: usize,
        size: usize,
    ) -> anyhow::Result<Vec<AugmentConfig>> {
        let own = M::views(channels, size);
        let pair = match self {
            ViewPreset::Method => return Ok(own),
            ViewPreset::Simclr => vec![AugmentConfig::simclr(channels, size); 2],
            ViewPreset::Byol => AugmentConfig::byol_pair(channels, size).to_vec(),
        };
        if own.len() != 2 {
            anyhow::bail!(
                "views = \"{}\" replaces a pair of views, and this method takes {}",
                format!("{self:?}").to_lowercase(),
                own.len()
            );
        }
        Ok(pair)
    }
}

impl Default for MethodConfig {
    /// SimCLR's settings, and every other method's own fields at that method's defaults.
    fn default() -> Self {
        Self {
            temperature: 0.5,
            proj_hidden: 512,
            proj_dim: 128,
            pred_hidden: 512,
            predictor: true,
            // The papers' 0.996 (BYOL) and 0.999 (MoCo) assume hundreds of thousands of steps;
            // short CPU runs of a few thousand need the target to follow faster.
            ema_momentum: 0.99,
            queue_size: 4096,
            // The paper's 5e-3 is for 8192 dimensions at batch 2048. At the noise floor
            // (|C_ij| ~ 1/sqrt(N)) one dimension's redundancy term is about lambda * D / N, 0.02
            // in the paper; 0.01 keeps that for Barlow's 512 dimensions at batch 256.
            redundancy_weight: 0.01,
            vicreg_invariance: 25.0,
            vicreg_variance: 25.0,
            vicreg_covariance: 1.0,
            // The paper uses 65,536 prototypes; 1024 keeps DINO's [B, K] softmaxes cheap on a CPU.
            prototypes: 1024,
            // DINO's teacher temperature and centre momentum.
            teacher_temperature: 0.04,
            center_momentum: 0.9,
            mask_ratio: 0.75,
            norm_pix_loss: false,
            mae_decoder_depth: 2,
            inpaint_visible_weight: 0.0,
            views: ViewPreset::Method,
        }
    }
}

impl MethodConfig {
    /// Checks every hyper-parameter against its accepted range (`[method_config]` keys).
    pub fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        let key = |k: &str| format!("method_config.{k}");
        s.real(&key("temperature"), self.temperature, limits::TEMPERATURE)?;
        s.int(&key("proj_hidden"), self.proj_hidden, limits::WIDTH)?;
        s.int(&key("proj_dim"), self.proj_dim, limits::WIDTH)?;
        s.int(&key("pred_hidden"), self.pred_hidden, limits::WIDTH)?;
        s.real(&key("ema_momentum"), self.ema_momentum, limits::MOMENTUM)?;
        s.int(&key("queue_size"), self.queue_size, limits::QUEUE)?;
        s.real(
            &key("redundancy_weight"),
            self.redundancy_weight,
            limits::LOSS_WEIGHT,
        )?;
        s.real(
            &key("vicreg_invariance"),
            self.vicreg_invariance,
            limits::LOSS_WEIGHT,
        )?;
        s.real(
            &key("vicreg_variance"),
            self.vicreg_variance,
            limits::LOSS_WEIGHT,
        )?;
        s.real(
            &key("vicreg_covariance"),
            self.vicreg_covariance,
            limits::LOSS_WEIGHT,
        )?;
        s.int(&key("prototypes"), self.prototypes, limits::WIDTH)?;
        s.real(
            &key("teacher_temperature"),
            self.teacher_temperature,
            limits::TEMPERATURE,
        )?;
        s.real(
            &key("center_momentum"),
            self.center_momentum,
            limits::MOMENTUM,
        )?;
        s.real(&key("mask_ratio"), self.mask_ratio, limits::SHARE)?;
        s.int(
            &key("mae_decoder_depth"),
            self.mae_decoder_depth,
            limits::DEPTH,
        )?;
        s.real(
            &key("inpaint_visible_weight"),
            self.inpaint_visible_weight,
            limits::LOSS_WEIGHT,
        )
    }

    /// The projection head most methods put on the encoder: `in_dim -> proj_hidden -> proj_dim`
    /// with BatchNorm.
    pub fn projector(&self, in_dim: usize, device: &Device) -> MlpHead {
        MlpHead::new(&[in_dim, self.proj_hidden, self.proj_dim], true, device)
    }

    /// The predictor of BYOL-style methods (`proj_dim -> pred_hidden -> proj_dim`), or `None` when
    /// `predictor` is off.
    pub fn predictor_head(&self, device: &Device) -> Option<MlpHead> {
        self.predictor.then(|| {
            MlpHead::new(
                &[self.proj_dim, self.pred_hidden, self.proj_dim],
                true,
                device,
            )
        })
    }

    /// The defaults of `kind` (tuned for the small CNN on CPU).
    pub fn for_method(kind: MethodKind) -> Self {
        let base = Self::default();
        match kind {
            // MAE and inpainting read only their own fields, at the defaults above.
            MethodKind::Simclr | MethodKind::Byol | MethodKind::Mae | MethodKind::Inpaint => base,
            // Both MoCo papers' temperature.
            MethodKind::Moco | MethodKind::Mocov3 => Self {
                temperature: 0.2,
                ..base
            },
            // SimSiam's predictor is a bottleneck a quarter of the projection's width.
            MethodKind::Simsiam => Self {
                proj_dim: 512,
                pred_hidden: 128,
                ..base
            },
            // Both rely on wide, decorrelated projections (the papers use 8192).
            MethodKind::Barlow | MethodKind::Vicreg => Self {
                proj_dim: 512,
                ..base
            },
            // DINO's student temperature; its head's 256-d bottleneck (the paper's width) after
            // a 512-wide MLP (the paper: 2048).
            MethodKind::Dino => Self {
                temperature: 0.1,
                proj_dim: 256,
                ..base
            },
        }
    }
}

/// A self-supervised method on images: a [`Method`] whose batch is one tensor per view
/// (`views[v]` is `[B, C, S_v, S_v]` with `S_v` the `out_size` of `views()[v]`: one size for
/// two-view methods, several for multi-crop) and whose encoder is an [`ImageEncoder`].
pub trait ImageMethod: Method<Batch = Vec<Tensor<4>>, Encoder = ImageEncoder> {
    /// Builds the method's heads around `encoder`.
    fn new(cfg: &MethodConfig, encoder: ImageEncoder, device: &Device) -> Self;

    /// One augmentation pipeline per view the method consumes.
    fn views(channels: usize, size: usize) -> Vec<AugmentConfig>;

    /// Consumes the method and returns its backbone.
    fn into_encoder(self) -> ImageEncoder;

    /// Writes pictures of what the method does into `run_dir` (MAE's and inpainting's
    /// `reconstruction.png`), called at the end of a run on the evaluation copy (`valid()`)
    /// with `batch[0]` = up to 8 un-augmented training images, `[N, C, S, S]`.
    fn write_artifacts(&self, _batch: &[Tensor<4>], _run_dir: &Path) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Why `encoder` (with the ViT cut into `vit_patch`-pixel patches) cannot run `method` on
/// `size`-pixel images, if it cannot (`size` 0: the images are not read yet).
pub fn check_encoder(
    method: MethodKind,
    encoder: EncoderKind,
    vit_patch: usize,
    size: usize,
) -> Option<String> {
    let masks_patches = matches!(method, MethodKind::Mae | MethodKind::Inpaint);
    match (method, encoder) {
        (_, EncoderKind::Vit) if vit_patch == 0 => {
            Some("--vit-patch must be at least 1 pixel".to_string())
        }
        (_, EncoderKind::Vit) if size > 0 && vit_patch > size => Some(format!(
            "--vit-patch {vit_patch} is larger than these {size}x{size} images"
        )),
        (_, EncoderKind::Vit) if masks_patches && !size.is_multiple_of(vit_patch) => Some(format!(
            "--encoder vit needs images whose side is a multiple of its {vit_patch}-pixel \
                 patch for --method {}; these are {size}x{size}",
            method.name()
        )),
        (MethodKind::Mae, EncoderKind::Vit) => None,
        (MethodKind::Mae, other) => Some(format!(
            "--method mae needs --encoder vit (it hides patches from a transformer); got --encoder {}",
            other.name()
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders::vit::VIT_PATCH;

    #[test]
    fn a_view_preset_replaces_a_pair_and_refuses_multi_crop() {
        let own = ViewPreset::Method
            .views::<byol::Byol>(1, 28)
            .expect("own views");
        assert_eq!(own, AugmentConfig::byol_pair(1, 28).to_vec());
        let simclr = ViewPreset::Simclr
            .views::<byol::Byol>(1, 28)
            .expect("a pair for a pair");
        assert_eq!(simclr, vec![AugmentConfig::simclr(1, 28); 2]);
        assert_ne!(simclr, own);
        let byol = ViewPreset::Byol
            .views::<simsiam::SimSiam>(3, 32)
            .expect("a pair for a pair");
        assert_eq!(byol, AugmentConfig::byol_pair(3, 32).to_vec());
        let dino = ViewPreset::Simclr.views::<dino::Dino>(3, 32);
        let message = dino.expect_err("multi-crop is not a pair").to_string();
        assert!(message.contains("simclr"), "{message}");
        let cfg: MethodConfig = toml::from_str("views = \"simclr\"").expect("parses");
        assert_eq!(cfg.views, ViewPreset::Simclr);
    }

    #[test]
    fn method_names_on_the_command_line_and_in_config_files() {
        let names: Vec<&str> = MethodKind::ALL
            .iter()
            .map(|&m| {
                let serde = serde_json::to_string(&m).expect("serialisable");
                assert_eq!(serde, format!("\"{}\"", m.name()));
                assert_eq!(MethodKind::from_name(m.name()), Some(m));
                assert!(!m.help().is_empty());
                m.name()
            })
            .collect();
        assert_eq!(
            names,
            [
                "simclr", "moco", "mocov3", "byol", "simsiam", "barlow", "vicreg", "dino", "mae",
                "inpaint"
            ]
        );
        assert_eq!(MethodKind::from_name("ts-order"), None);
    }

    #[test]
    fn an_older_method_config_loads_with_defaults_for_new_fields() {
        let old = "temperature = 0.3\nproj_hidden = 256\nproj_dim = 64\n";
        let cfg: MethodConfig = toml::from_str(old).expect("older configs load");
        assert_eq!(
            cfg,
            MethodConfig {
                temperature: 0.3,
                proj_hidden: 256,
                proj_dim: 64,
                ..MethodConfig::default()
            }
        );
        assert_eq!(
            MethodConfig::for_method(MethodKind::Simclr),
            MethodConfig::default()
        );
        assert_eq!(MethodConfig::for_method(MethodKind::Moco).temperature, 0.2);
        let dino = MethodConfig::for_method(MethodKind::Dino);
        assert_eq!(
            (
                dino.temperature,
                dino.teacher_temperature,
                dino.center_momentum
            ),
            (0.1, 0.04, 0.9)
        );
    }

    #[test]
    fn mae_refuses_encoders_other_than_the_vit() {
        let msg = check_encoder(MethodKind::Mae, EncoderKind::Cnn, VIT_PATCH, 28).expect("refused");
        assert!(
            msg.contains("--encoder vit") && msg.contains("cnn"),
            "{msg}"
        );
        assert!(check_encoder(MethodKind::Mae, EncoderKind::Vit, VIT_PATCH, 28).is_none());
        assert!(check_encoder(MethodKind::Mae, EncoderKind::Vit, VIT_PATCH, 30).is_some());
        assert!(check_encoder(MethodKind::Inpaint, EncoderKind::Resnet18, VIT_PATCH, 30).is_none());
        assert!(check_encoder(MethodKind::Simclr, EncoderKind::Vit, VIT_PATCH, 30).is_none());
    }

    #[test]
    fn the_vits_patch_must_tile_the_images_it_masks() {
        assert!(check_encoder(MethodKind::Mae, EncoderKind::Vit, 7, 28).is_none());
        assert!(check_encoder(MethodKind::Mae, EncoderKind::Vit, 7, 0).is_none());
        let msg = check_encoder(MethodKind::Mae, EncoderKind::Vit, 7, 32).expect("refused");
        assert!(msg.contains("7-pixel") && msg.contains("32x32"), "{msg}");
        let msg = check_encoder(MethodKind::Simclr, EncoderKind::Vit, 0, 0).expect("refused");
        assert!(msg.contains("at least 1"), "{msg}");
        assert!(check_encoder(MethodKind::Simclr, EncoderKind::Vit, 40, 32).is_some());
        // The CNNs have no patches: the value is not theirs to check.
        assert!(check_encoder(MethodKind::Inpaint, EncoderKind::Cnn, 0, 32).is_none());
    }
}
