//! SSL methods: pretext + encoder + head + objective, one file each, listed in [`MethodKind`].

pub use autodidact_core::method::{
    AfterStep, Method, MethodSettings, NoSettings, StepOutput, device_of,
};
pub use autodidact_core::{ema, losses};
pub use view_preset::ViewPreset;

use burn::prelude::*;

use std::path::Path;

use crate::augment::image::AugmentConfig;
use crate::encoders::{EncoderKind, ImageEncoder, Pooling};
use autodidact_core::eval::knn::KnnFeatures;
use autodidact_core::heads::MlpHead;
use autodidact_core::train::limits::{self, Settings};

pub mod masking;
mod view_preset;

autodidact_core::method_registry! {
    /// The registered image methods.
    pub enum MethodKind: ImageMethod;
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
    Dcl = "dcl" => dcl::Dcl, "DCL: SimCLR with the positive pair left out of InfoNCE's denominator, for small batches.";
}

impl MethodKind {
    /// The backbone the method gets when none is chosen ([`ImageMethod::ENCODER`]).
    pub fn default_encoder(self) -> EncoderKind {
        self.visit(Traits).0
    }

    /// The representation evaluation and `embed` read by default ([`ImageMethod::POOLING`]).
    pub fn pooling(self) -> Pooling {
        self.visit(Traits).1
    }

    /// What k-NN compares by default ([`ImageMethod::KNN_FEATURES`]).
    pub fn knn_features(self) -> KnnFeatures {
        self.visit(Traits).2
    }
}

/// Reads a method's constants through its kind.
struct Traits;

impl MethodVisitor for Traits {
    type Output = (EncoderKind, Pooling, KnnFeatures);
    fn visit<M: ImageMethod>(self) -> Self::Output {
        (M::ENCODER, M::POOLING, M::KNN_FEATURES)
    }
}

/// The projection head most methods put on the encoder: `in_dim -> hidden -> out` with
/// BatchNorm.
pub fn projector(in_dim: usize, hidden: usize, out: usize, device: &Device) -> MlpHead {
    MlpHead::new(&[in_dim, hidden, out], true, device)
}

/// The predictor of BYOL-style methods (`dim -> hidden -> dim`), or `None` in the ablation
/// without one.
pub fn predictor(dim: usize, hidden: usize, enabled: bool, device: &Device) -> Option<MlpHead> {
    enabled.then(|| MlpHead::new(&[dim, hidden, dim], true, device))
}

/// Checks the widths of a projection head (`method_config.proj_hidden`, `.proj_dim`).
pub fn check_projection(s: &Settings, hidden: usize, out: usize) -> anyhow::Result<()> {
    s.int("method_config.proj_hidden", hidden, limits::WIDTH)?;
    s.int("method_config.proj_dim", out, limits::WIDTH)
}

/// A self-supervised method on images: a [`Method`] whose batch is one tensor per view
/// (`views[v]` is `[B, C, S_v, S_v]` with `S_v` the `out_size` of `views()[v]`: one size for
/// two-view methods, several for multi-crop) and whose encoder is an [`ImageEncoder`].
pub trait ImageMethod: Method<Batch = Vec<Tensor<4>>, Encoder = ImageEncoder> {
    /// The method's own hyper-parameters (`[method_config]`).
    type Config: MethodSettings;

    /// The backbone the method gets when none is chosen.
    const ENCODER: EncoderKind = EncoderKind::Cnn;

    /// The representation evaluation and `embed` read by default: the reconstruction methods'
    /// features say where a stroke is, which the spatial mean loses (docs/BENCHMARKS.md, rules
    /// L and M chose their grids on a held-out split).
    const POOLING: Pooling = Pooling::Mean;

    /// What k-NN compares by default: standardised where a held-out split chose it
    /// (docs/BENCHMARKS.md), centred where it was not tested.
    const KNN_FEATURES: KnnFeatures = KnnFeatures::Centred;

    /// Builds the method's heads around `encoder`.
    fn new(cfg: &Self::Config, encoder: ImageEncoder, device: &Device) -> Self;

    /// One augmentation pipeline per view the method consumes.
    fn views(cfg: &Self::Config, channels: usize, size: usize) -> Vec<AugmentConfig>;

    /// Why the method cannot run on `encoder` (the ViT cut into `vit_patch`-pixel patches) over
    /// `size`-pixel images (0: not read yet), beyond what every method needs; `None` if it can.
    fn encoder_problem(_encoder: EncoderKind, _vit_patch: usize, _size: usize) -> Option<String> {
        None
    }

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
    match encoder {
        EncoderKind::Vit if vit_patch == 0 => {
            Some("--vit-patch must be at least 1 pixel".to_string())
        }
        EncoderKind::Vit if size > 0 && vit_patch > size => Some(format!(
            "--vit-patch {vit_patch} is larger than these {size}x{size} images"
        )),
        _ => {
            struct Problem(EncoderKind, usize, usize);
            impl MethodVisitor for Problem {
                type Output = Option<String>;
                fn visit<M: ImageMethod>(self) -> Option<String> {
                    M::encoder_problem(self.0, self.1, self.2)
                }
            }
            method.visit(Problem(encoder, vit_patch, size))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders::vit::VIT_PATCH;
    use autodidact_core::method::read_settings;

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
        // Saved runs name their method: a name, once registered, never changes.
        let saved = [
            "simclr", "moco", "mocov3", "byol", "simsiam", "barlow", "vicreg", "dino", "mae",
            "inpaint",
        ];
        assert!(saved.iter().all(|n| names.contains(n)), "{names:?}");
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(MethodKind::from_name("ts-order"), None);
    }

    #[test]
    fn each_method_owns_its_settings_and_older_runs_load() {
        let simclr = MethodKind::Simclr.default_settings();
        assert_eq!(simclr["temperature"].as_float(), Some(0.5));
        assert!(!simclr.contains_key("queue_size"));
        let moco = MethodKind::Moco.default_settings();
        assert_eq!(moco["temperature"].as_float(), Some(0.2));
        assert!(moco.contains_key("queue_size"));
        let dino = MethodKind::Dino.default_settings();
        let get = |k: &str| dino[k].as_float();
        assert_eq!(
            (
                get("temperature"),
                get("teacher_temperature"),
                get("center_momentum")
            ),
            (Some(0.1), Some(0.04), Some(0.9))
        );
        assert!(
            !MethodKind::Byol
                .default_settings()
                .contains_key("temperature")
        );
        // A run saved when every method's settings were one struct holds them all; each method
        // reads its own and passes over the rest.
        let old: toml::Table = toml::from_str(
            "temperature = 0.3\nproj_hidden = 256\nproj_dim = 64\nqueue_size = 99\nmask_ratio = 0.5\n",
        )
        .expect("toml");
        let s = Settings::of("config.toml");
        let cfg = read_settings::<simclr::SimClrConfig>(&old, &s).expect("older configs load");
        assert_eq!(
            cfg,
            simclr::SimClrConfig {
                temperature: 0.3,
                proj_hidden: 256,
                proj_dim: 64,
                ..Default::default()
            }
        );
        for &m in MethodKind::ALL {
            m.check_settings(&m.default_settings(), &s)
                .unwrap_or_else(|e| panic!("{}: {e:#}", m.name()));
        }
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
