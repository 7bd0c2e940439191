//! DINO (Caron et al. 2021): self-distillation without labels. A student (encoder + DINO head)
//! matches on every crop the output a momentum (EMA) teacher gives on the *other* global crops.
//!
//! * **Views**: DINO's multi-crop set ([`AugmentConfig::multi_crop`]): 2 global crops at the
//!   input size and [`LOCAL_CROPS`] local crops at half of it. The teacher sees only the global
//!   crops; the student sees all. Crops of one size go through the encoder together (as in
//!   DINO's `MultiCropWrapper`), so BatchNorm statistics are per resolution.
//! * **Head**: 3-layer MLP with BatchNorm and GELU (`proj_hidden` = 512 wide; DINO's
//!   `use_bn_in_head`, its choice for convolutional backbones; without it the head's outputs
//!   for all images start nearly alike and the teacher's targets stay uniform),
//!   a `proj_dim` = 256 bottleneck, L2-normalised, then a weight-normalised linear layer without
//!   bias onto `prototypes` = 1024 prototypes (the paper: 2048-65536-wide; 1024 keeps the
//!   `[B, K]` softmaxes cheap on a CPU). The weight norm's gain is fixed at 1 (DINO's
//!   `norm_last_layer`), so every prototype is a unit vector and logits are cosines.
//! * **Loss**: [`losses::dino_loss`], student temperature `temperature` = 0.1, teacher
//!   temperature `teacher_temperature` = 0.04 (constant: DINO's default has no warm-up either).
//! * **Centre**: an EMA (`center_momentum` = 0.9) of the teacher's batch-mean output, subtracted
//!   before the teacher's softmax; it is a `Param` without gradient so checkpoints keep it and
//!   `--resume` stays exact. The step passes the batch mean through [`StepOutput::carry`]; it is
//!   applied in `after_step`, after the loss used the old centre (as in the reference code).
//! * **Teacher momentum**: BYOL's cosine schedule from `ema_momentum` = 0.99 to 1 (DINO: 0.996,
//!   for hundreds of thousands of steps; short CPU runs need the teacher to follow faster).
//!
//! Not implemented: freezing the last layer during the first epoch, and the weight-decay
//! schedule; neither is needed for stable short runs of the small CNN.

use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig, Gelu, Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use autodidact_core::ema::{cosine_momentum, ema_update, momentum_copy};
use autodidact_core::losses::{self, l2_normalize};
use super::{AfterStep, ImageMethod, Method, MethodSettings, StepOutput, check_projection};
use autodidact_core::train::limits::{self, Settings};
use crate::augment::image::AugmentConfig;
use crate::augment::multicrop::{GLOBAL_CROPS, LOCAL_CROPS};
use crate::encoders::ImageEncoder;

/// DINO's projection head: MLP, L2-normalised bottleneck, weight-normalised prototypes.
#[derive(Module, Debug)]
pub struct DinoHead {
    mlp: Vec<Linear>,
    /// BatchNorm after each hidden layer (DINO's `use_bn_in_head`).
    norms: Vec<BatchNorm>,
    gelu: Gelu,
    /// `[bottleneck, prototypes]`; each column is normalised to unit length in `forward`.
    prototypes: Linear,
}

impl DinoHead {
    /// `in_dim -> hidden -> hidden -> bottleneck`, then `prototypes` outputs.
    pub fn new(
        in_dim: usize,
        hidden: usize,
        bottleneck: usize,
        prototypes: usize,
        device: &Device,
    ) -> Self {
        let dims = [in_dim, hidden, hidden, bottleneck];
        Self {
            mlp: dims
                .windows(2)
                .map(|d| LinearConfig::new(d[0], d[1]).init(device))
                .collect(),
            norms: (0..2)
                .map(|_| BatchNormConfig::new(hidden).init(device))
                .collect(),
            gelu: Gelu::new(),
            prototypes: LinearConfig::new(bottleneck, prototypes)
                .with_bias(false)
                .init(device),
        }
    }

    /// The L2-normalised bottleneck features `[N, bottleneck]` and the prototype scores `[N, K]`.
    pub fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let last = self.mlp.len() - 1;
        let mut x = x;
        for (i, layer) in self.mlp.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = self.gelu.forward(self.norms[i].forward(x));
            }
        }
        let z = l2_normalize(x);
        let w = self.prototypes.weight.val();
        let norms = w.clone().square().sum_dim(0).sqrt().clamp_min(1e-12);
        (z.clone(), z.matmul(w / norms))
    }
}

/// `center <- momentum * center + (1 - momentum) * batch_mean`, both `[1, K]`.
pub fn update_center(center: Tensor<2>, batch_mean: Tensor<2>, momentum: f64) -> Tensor<2> {
    center.mul_scalar(momentum) + batch_mean.mul_scalar(1.0 - momentum)
}

#[derive(Module, Debug)]
pub struct Dino {
    pub encoder: ImageEncoder,
    pub head: DinoHead,
    pub teacher_encoder: ImageEncoder,
    pub teacher_head: DinoHead,
    /// EMA of the teacher's batch-mean output, `[1, prototypes]`; never trained.
    pub center: Param<Tensor<2>>,
    pub base_momentum: f64,
    pub center_momentum: f64,
    pub teacher_temperature: f64,
    pub student_temperature: f64,
}

/// Splits `outputs` (rows of `parts` equal blocks, in view order) back into one tensor per view.
fn per_view(outputs: Tensor<2>, parts: usize) -> Vec<Tensor<2>> {
    let rows = outputs.dims()[0] / parts;
    (0..parts)
        .map(|p| outputs.clone().narrow(0, p * rows, rows))
        .collect()
}

impl Dino {
    /// The teacher's prototype scores for each global crop (no gradient).
    pub fn teacher_outputs(&self, globals: &[Tensor<4>]) -> Vec<Tensor<2>> {
        let batch = Tensor::cat(globals.to_vec(), 0).detach();
        let (_, scores) = self
            .teacher_head
            .forward(self.teacher_encoder.forward(batch));
        per_view(scores.detach(), globals.len())
    }

    /// The student's bottleneck features and prototype scores for each view, running consecutive
    /// views of one size through the encoder as one batch.
    fn student_outputs(&self, views: Vec<Tensor<4>>) -> Vec<(Tensor<2>, Tensor<2>)> {
        let mut groups: Vec<Vec<Tensor<4>>> = Vec::new();
        for view in views {
            match groups.last_mut() {
                Some(group) if group[0].dims() == view.dims() => group.push(view),
                _ => groups.push(vec![view]),
            }
        }
        let mut outputs = Vec::new();
        for group in groups {
            let parts = group.len();
            let (z, scores) = self
                .head
                .forward(self.encoder.forward(Tensor::cat(group, 0)));
            outputs.extend(per_view(z, parts).into_iter().zip(per_view(scores, parts)));
        }
        outputs
    }

    fn center_value(&self) -> Tensor<2> {
        self.center.val()
    }
}

/// DINO's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DinoConfig {
    /// The student's softmax temperature.
    pub temperature: f64,
    /// Hidden width of the head's MLP.
    pub proj_hidden: usize,
    /// The head's bottleneck width, before the prototypes.
    pub proj_dim: usize,
    /// Number of prototypes (the head's output width, K).
    pub prototypes: usize,
    /// The teacher's softmax temperature (sharpening).
    pub teacher_temperature: f64,
    /// Momentum of the centre (EMA of the teacher's batch-mean output).
    pub center_momentum: f64,
    /// Where the teacher's cosine momentum schedule starts (it ends at 1).
    pub ema_momentum: f64,
}

impl Default for DinoConfig {
    fn default() -> Self {
        Self {
            temperature: 0.1,
            // A 512-wide MLP (the paper: 2048) and the paper's 256-d bottleneck.
            proj_hidden: 512,
            proj_dim: 256,
            // The paper uses 65,536 prototypes; 1024 keeps the [B, K] softmaxes cheap on a CPU.
            prototypes: 1024,
            teacher_temperature: 0.04,
            center_momentum: 0.9,
            // The paper's 0.996 assumes hundreds of thousands of steps; short CPU runs of a few
            // thousand need the teacher to follow faster.
            ema_momentum: 0.99,
        }
    }
}

impl MethodSettings for DinoConfig {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        let key = |k: &str| format!("method_config.{k}");
        s.real(&key("temperature"), self.temperature, limits::TEMPERATURE)?;
        s.int(&key("prototypes"), self.prototypes, limits::WIDTH)?;
        s.real(&key("teacher_temperature"), self.teacher_temperature, limits::TEMPERATURE)?;
        s.real(&key("center_momentum"), self.center_momentum, limits::MOMENTUM)?;
        s.real(&key("ema_momentum"), self.ema_momentum, limits::MOMENTUM)?;
        check_projection(s, self.proj_hidden, self.proj_dim)
    }
}

impl ImageMethod for Dino {
    type Config = DinoConfig;

    fn new(cfg: &DinoConfig, encoder: ImageEncoder, device: &Device) -> Self {
        let head = DinoHead::new(
            encoder.out_dim(),
            cfg.proj_hidden,
            cfg.proj_dim,
            cfg.prototypes,
            device,
        );
        let center = Tensor::<2>::zeros([1, cfg.prototypes], device);
        Self {
            teacher_encoder: momentum_copy(&encoder),
            teacher_head: momentum_copy(&head),
            encoder,
            head,
            center: Param::from_tensor(center).set_require_grad(false),
            base_momentum: cfg.ema_momentum,
            center_momentum: cfg.center_momentum,
            teacher_temperature: cfg.teacher_temperature,
            student_temperature: cfg.temperature,
        }
    }

    fn views(_: &DinoConfig, channels: usize, size: usize) -> Vec<AugmentConfig> {
        AugmentConfig::multi_crop(channels, size, LOCAL_CROPS)
    }

    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }
}

impl Method for Dino {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, _seed: u64) -> StepOutput {
        assert!(
            views.len() > GLOBAL_CROPS,
            "DINO takes {GLOBAL_CROPS} global crops and at least one more"
        );
        let teacher = self.teacher_outputs(&views[..GLOBAL_CROPS]);
        let (mut features, student): (Vec<_>, Vec<_>) =
            self.student_outputs(views).into_iter().unzip();
        let loss = losses::dino_loss(
            &teacher,
            &student,
            self.center_value(),
            self.teacher_temperature,
            self.student_temperature,
        );
        let batch_mean = Tensor::cat(teacher, 0).mean_dim(0).detach();
        StepOutput {
            carry: vec![batch_mean],
            ..StepOutput::new(loss, features.swap_remove(0))
        }
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }

    fn after_step(mut self, at: AfterStep, carry: Vec<Tensor<2>>) -> Self {
        let progress = at.progress;
        let m = cosine_momentum(self.base_momentum, progress);
        self.teacher_encoder = ema_update(self.teacher_encoder, &self.encoder, m);
        self.teacher_head = ema_update(self.teacher_head, &self.head, m);
        if let Some(batch_mean) = carry.into_iter().next() {
            let center = update_center(
                self.center_value(),
                batch_mean.detach(),
                self.center_momentum,
            );
            self.center = self.center.map(|_| center);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoders::EncoderKind;
    use burn::tensor::Distribution;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32 tensor")
    }

    fn small_dino(device: &Device) -> Dino {
        let cfg = DinoConfig {
            proj_hidden: 32,
            proj_dim: 16,
            prototypes: 8,
            ..DinoConfig::default()
        };
        Dino::new(&cfg, ImageEncoder::new(EncoderKind::Cnn, 1, device), device)
    }

    #[test]
    fn center_update_follows_its_formula() {
        let device = Device::flex();
        let center = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &device);
        // Teacher outputs of two global crops, two images each: batch mean (1, 3).
        let outputs = Tensor::<2>::from_data(
            TensorData::new(vec![2.0f32, 4.0, 0.0, 2.0, 1.0, 3.0, 1.0, 3.0], [4, 2]),
            &device,
        );
        let updated = update_center(center, outputs.mean_dim(0), 0.9);
        let got = values(updated);
        let expected = [0.9 * 1.0 + 0.1 * 1.0, 0.9 * 0.0 + 0.1 * 3.0];
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-6, "{got:?} vs {expected:?}");
        }
    }

    #[test]
    fn head_outputs_cosines_to_unit_prototypes() {
        let device = Device::flex();
        let head = DinoHead::new(6, 10, 4, 5, &device);
        let (z, scores) = head.forward(Tensor::random([3, 6], Distribution::Default, &device));
        assert_eq!((z.dims(), scores.dims()), ([3, 4], [3, 5]));
        let norms = values(z.square().sum_dim(1));
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
        assert!(values(scores).iter().all(|s| s.abs() <= 1.0 + 1e-5));
    }

    #[test]
    fn teacher_sees_only_global_crops_and_the_centre_moves_after_the_step() {
        let device = Device::flex().autodiff();
        let dino = small_dino(&device);
        let crop =
            |side: usize| Tensor::<4>::random([4, 1, side, side], Distribution::Default, &device);
        let (g1, g2) = (crop(12), crop(12));
        let views = |locals: Vec<Tensor<4>>| {
            let mut v = vec![g1.clone(), g2.clone()];
            v.extend(locals);
            v
        };
        let a = dino.step(views(vec![crop(6), crop(6)]), 0);
        let b = dino.step(views(vec![crop(6), crop(6)]), 0);
        // The carried teacher mean is `[1, K]` and does not depend on the local crops...
        assert_eq!(a.carry[0].dims(), [1, 8]);
        assert_eq!(values(a.carry[0].clone()), values(b.carry[0].clone()));
        // ...which the student does see.
        let (la, lb) = (a.loss.into_scalar::<f32>(), b.loss.into_scalar::<f32>());
        assert_ne!(la, lb);
        // The teacher's outputs are one per global crop, batch 4 each.
        let teacher = dino.teacher_outputs(&[g1.clone(), g2.clone()]);
        assert_eq!(
            teacher.iter().map(|t| t.dims()).collect::<Vec<_>>(),
            [[4, 8], [4, 8]]
        );
        let mean = values(Tensor::cat(teacher, 0).mean_dim(0));
        for (m, c) in mean.iter().zip(values(a.carry[0].clone())) {
            assert!((m - c).abs() < 1e-6);
        }
        // A different global crop changes what the teacher saw.
        let c = dino.step(vec![g1.clone(), crop(12), crop(6)], 0);
        assert_ne!(values(c.carry[0].clone()), values(b.carry[0].clone()));
        // after_step moves the centre from zero by (1 - 0.9) of the batch mean.
        let dino = dino.after_step(
            AfterStep {
                step: 1,
                progress: 0.0,
            },
            a.carry,
        );
        for (got, m) in values(dino.center.val()).iter().zip(&mean) {
            assert!((got - 0.1 * m).abs() < 1e-6, "{got} vs {}", 0.1 * m);
        }
    }
}
