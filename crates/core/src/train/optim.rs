//! Optimisers: SGD with momentum, LARS and AdamW; weight decay skips norm parameters and biases.

use crate::train::limits::{self, Settings};
use burn::module::ParamGroup;
use burn::optim::momentum::{Momentum, MomentumConfig};
use burn::optim::{
    AdamWConfig, LearningRate, ModuleOptimizer, Optimizer, SgdConfig, SgdState,
    decay::WeightDecayConfig,
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::schedule::{warmup_cosine, warmup_steps};

/// Which optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Lars,
    Adamw,
}

/// Optimiser settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    /// Peak learning rate (after warm-up).
    pub lr: f64,
    pub weight_decay: f64,
    /// SGD/LARS momentum.
    pub momentum: f64,
    /// Share of the run spent warming up.
    pub warmup_fraction: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adamw,
            lr: 2e-3,
            weight_decay: 1e-4,
            momentum: 0.9,
            warmup_fraction: 0.05,
        }
    }
}

impl OptimizerConfig {
    /// Checks the rates against their accepted ranges (keys under `optimizer.`).
    pub fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real("optimizer.lr", self.lr, limits::LEARNING_RATE)?;
        s.real(
            "optimizer.weight_decay",
            self.weight_decay,
            limits::WEIGHT_DECAY,
        )?;
        s.real("optimizer.momentum", self.momentum, limits::SHARE)?;
        s.real(
            "optimizer.warmup_fraction",
            self.warmup_fraction,
            limits::SHARE,
        )
    }

    /// Learning rate at `step` of a run of `total_steps`: warm-up, then cosine decay. `None` while
    /// a time budget is still being calibrated: a gentle linear start that the warm-up continues.
    pub fn lr_at(&self, step: usize, total_steps: Option<usize>) -> f64 {
        match total_steps {
            Some(total) => warmup_cosine(
                self.lr,
                step,
                warmup_steps(total, self.warmup_fraction),
                total,
            ),
            None => self.lr * 0.01 * (step + 1) as f64,
        }
    }
}

/// Parameters that never get weight decay or LARS adaptation: BatchNorm/LayerNorm scale and shift, learnable logit scales,
/// and biases.
fn no_decay_group() -> ParamGroup {
    ParamGroup::from_regex(r"(bias|gamma|beta|logit_scale)$").expect("the no-decay regex is valid")
}

fn momentum(m: f64) -> MomentumConfig {
    // Burn's default dampening is 0.1; the papers (and PyTorch) use 0.
    MomentumConfig::new().with_momentum(m).with_dampening(0.0)
}

/// SGD with momentum and no weight decay: what norms and biases get under SGD and LARS.
fn plain_sgd(momentum_factor: f64) -> impl burn::optim::DynOptimizer + 'static {
    SgdConfig::new()
        .with_momentum(Some(momentum(momentum_factor)))
        .build()
}

/// Builds the optimiser described by `cfg`.
pub fn build_optimizer(cfg: &OptimizerConfig) -> ModuleOptimizer {
    match cfg.kind {
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_weight_decay(cfg.weight_decay as f32)
            .with_epsilon(1e-8)
            .init()
            .with_group(
                no_decay_group(),
                AdamWConfig::new()
                    .with_weight_decay(0.0)
                    .with_epsilon(1e-8)
                    .build(),
                None,
            ),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum(Some(momentum(cfg.momentum)))
            .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
            .init()
            .with_group(no_decay_group(), plain_sgd(cfg.momentum), None),
        OptimizerKind::Lars => ModuleOptimizer::from(Lars::new(cfg.momentum, cfg.weight_decay))
            .with_group(no_decay_group(), plain_sgd(cfg.momentum), None),
    }
}

/// LARS (You et al. 2017): SGD whose per-tensor step is scaled by `eta * |w| / |g + wd * w|`.
#[derive(Clone)]
pub struct Lars {
    momentum: Momentum,
    weight_decay: f64,
    eta: f64,
}

impl Lars {
    pub fn new(momentum_factor: f64, weight_decay: f64) -> Self {
        Self {
            momentum: Momentum::new(&momentum(momentum_factor)),
            weight_decay,
            eta: 1e-3,
        }
    }
}

impl Optimizer for Lars {
    type State<const D: usize> = SgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let grad = grad.add(tensor.clone().mul_scalar(self.weight_decay));
        let w_norm = tensor.clone().square().sum().sqrt();
        let g_norm = grad.clone().square().sum().sqrt();
        // Where either norm is zero the trust ratio falls back to 1, as in the reference code.
        let ratio = w_norm
            .clone()
            .div(g_norm.clone().add_scalar(1e-12))
            .mul_scalar(self.eta);
        let usable = w_norm.greater_elem(0.0).bool_and(g_norm.greater_elem(0.0));
        let ratio = ratio.mask_where(usable.bool_not(), Tensor::ones([1], &tensor.device()));
        let grad = grad.mul(ratio.unsqueeze::<D>());
        let (grad, velocity) = self
            .momentum
            .transform(grad, state.and_then(|s| s.momentum));
        (
            tensor.sub(grad.mul_scalar(lr)),
            Some(SgdState {
                momentum: Some(velocity),
            }),
        )
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.map(|m| m.to_device(device));
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_follows_the_schedule_and_starts_gently_while_calibrating() {
        let cfg = OptimizerConfig {
            lr: 1.0,
            warmup_fraction: 0.1,
            ..OptimizerConfig::default()
        };
        assert!((cfg.lr_at(0, Some(100)) - 0.1).abs() < 1e-12);
        assert!((cfg.lr_at(10, Some(100)) - 1.0).abs() < 1e-12);
        assert!((cfg.lr_at(55, Some(100)) - 0.5).abs() < 1e-12);
        assert!(cfg.lr_at(100, Some(100)).abs() < 1e-12);
        assert!((cfg.lr_at(0, None) - 0.01).abs() < 1e-12);
        assert!((cfg.lr_at(4, None) - 0.05).abs() < 1e-12);
    }
}
