//! Momentum (EMA) target networks: BYOL's target, MoCo's key encoder.
//!
//! The target is a deep copy of the online network with its own parameter ids (gradients and
//! optimiser state are keyed by id, and both networks live in one module), its own BatchNorm
//! running-statistics cells (a plain `clone()` would share them) and no gradients.
//!
//! [`ema_update`] moves every *trainable* parameter (convolution and linear weights and biases,
//! BatchNorm scale and shift) towards the online network. BatchNorm running statistics are
//! buffers, not parameters: the target keeps its own, updated by its own train-mode forward
//! passes, as in MoCo's and BYOL's reference code. They never affect training (the target always
//! normalises with batch statistics) and the target is never exported.

use std::collections::HashMap;

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

/// A momentum copy of `online`: same values, fresh parameter ids, separate BatchNorm statistics,
/// no gradients; BatchNorm still uses batch statistics when it runs on an autodiff input.
pub fn momentum_copy<M: Module>(online: &M) -> M {
    // valid() builds new running-state cells (and drops autodiff), train() puts the tensors back
    // on the autodiff device with the layers' training flags, no_grad() keeps the optimiser and
    // autograd away.
    online.valid().train().no_grad().map(&mut FreshIds)
}

/// `target <- momentum * target + (1 - momentum) * online` for every parameter that is trainable
/// in `online`, matched by its path in the module tree.
pub fn ema_update<M: Module>(target: M, online: &M, momentum: f64) -> M {
    let mut snapshot = Snapshot::default();
    online.visit(&mut snapshot);
    target.map(&mut EmaMapper {
        path: Vec::new(),
        online: snapshot.tensors,
        momentum,
    })
}

/// BYOL's momentum schedule: `1 - (1 - base) * (cos(pi * progress) + 1) / 2`, from `base` at the
/// start of training to 1 at the end (`progress` in `[0, 1]`).
pub fn cosine_momentum(base: f64, progress: f64) -> f64 {
    let progress = progress.clamp(0.0, 1.0);
    1.0 - (1.0 - base) * ((std::f64::consts::PI * progress).cos() + 1.0) / 2.0
}

/// Gives every float parameter a new id (the momentum copy lives beside the online network).
struct FreshIds;

impl ModuleMapper for FreshIds {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (_, value, mapper) = param.consume();
        Param::from_mapped_value(ParamId::new(), value, mapper)
    }
}

/// The online network's trainable tensors by path, flattened and without autodiff.
#[derive(Default)]
struct Snapshot {
    path: Vec<String>,
    tensors: HashMap<String, Tensor<1>>,
}

impl ModuleVisitor for Snapshot {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        // BatchNorm running statistics never require gradients; trainable parameters of a
        // network on an autodiff device always do.
        if value.is_require_grad() {
            let flat: Tensor<1> = value.without_autodiff().flatten(0, D - 1);
            self.tensors.insert(self.path.join("."), flat);
        }
    }
}

struct EmaMapper {
    path: Vec<String>,
    online: HashMap<String, Tensor<1>>,
    momentum: f64,
}

impl ModuleMapper for EmaMapper {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(online) = self.online.remove(&self.path.join(".")) else {
            return param;
        };
        let m = self.momentum;
        // Param::map keeps the id and the (no-gradient) training state.
        param.map(|target| {
            let autodiff = target.is_autodiff();
            let online: Tensor<D> = online.reshape(target.shape());
            let mixed = target
                .without_autodiff()
                .mul_scalar(m)
                .add(online.mul_scalar(1.0 - m));
            if autodiff { mixed.autodiff() } else { mixed }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heads::MlpHead;
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::nn::{BatchNorm, BatchNormConfig};
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::tensor::Distribution;

    /// Every float tensor of a module by path: (values, requires grad, id).
    #[derive(Default)]
    struct Dump {
        path: Vec<String>,
        found: HashMap<String, (Vec<f32>, bool, ParamId)>,
    }

    impl ModuleVisitor for Dump {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            let grad = value.is_require_grad();
            let values = value.into_data().try_to_vec::<f32>().expect("f32 tensor");
            self.found
                .insert(self.path.join("."), (values, grad, param.id));
        }
    }

    fn dump<M: Module>(m: &M) -> HashMap<String, (Vec<f32>, bool, ParamId)> {
        let mut d = Dump::default();
        m.visit(&mut d);
        d.found
    }

    /// The smallest network with both kinds of state: a convolution and a BatchNorm.
    #[derive(Module, Debug)]
    struct ConvBn {
        conv: Conv2d,
        bn: BatchNorm,
    }

    impl ConvBn {
        fn new(device: &Device) -> Self {
            Self {
                conv: Conv2dConfig::new([1, 4], [3, 3]).init(device),
                bn: BatchNormConfig::new(4).init(device),
            }
        }

        fn forward(&self, x: Tensor<4>) -> Tensor<4> {
            self.bn.forward(self.conv.forward(x))
        }
    }

    const CONV: &str = "conv.weight";
    const GAMMA: &str = "bn.gamma";
    const RUNNING_MEAN: &str = "bn.running_mean";

    #[test]
    fn momentum_copy_has_own_ids_no_gradients_and_separate_batchnorm_statistics() {
        let device = Device::flex().autodiff();
        let online = ConvBn::new(&device);
        let target = momentum_copy(&online);
        let (o, t) = (dump(&online), dump(&target));
        assert!(
            o.contains_key(CONV) && o.contains_key(RUNNING_MEAN),
            "{:?}",
            o.keys()
        );
        assert_eq!(o[CONV].0, t[CONV].0, "same starting values");
        assert_ne!(o[CONV].2, t[CONV].2, "fresh parameter ids");
        assert!(
            o[CONV].1 && !t[CONV].1,
            "only the online network is trained"
        );

        // Train-mode forward passes through the online network move its statistics only.
        let before = t[RUNNING_MEAN].0.clone();
        let x = Tensor::<4>::random([8, 1, 12, 12], Distribution::Default, &device);
        let _ = online.forward(x.clone());
        let online_stats = dump(&online.valid())[RUNNING_MEAN].0.clone();
        assert_ne!(online_stats, before, "the online statistics moved");
        assert_eq!(dump(&target.valid())[RUNNING_MEAN].0, before);
        // And the target's own forward runs on batch statistics without building a graph.
        let y = target.forward(x);
        assert!(!y.is_tracked());
        assert_ne!(dump(&target.valid())[RUNNING_MEAN].0, before);
    }

    #[test]
    fn ema_update_follows_the_formula_and_leaves_statistics_alone() {
        let device = Device::flex().autodiff();
        let online = MlpHead::new(&[4, 6, 3], true, &device);
        let target = momentum_copy(&online);
        // One SGD step makes the online network differ from its copy.
        let x = Tensor::<2>::random([5, 4], Distribution::Default, &device);
        let loss = online.forward(x).square().sum();
        let grads = GradientsParams::from_grads(loss.backward(), &online);
        let online = SgdConfig::new().init().step(0.5, online, grads);
        let (o, t) = (dump(&online.valid()), dump(&target));
        let m = 0.75;
        let updated = dump(&ema_update(target, &online, m));
        let mut checked = 0;
        for (path, (new, grad, id)) in &updated {
            let (old, _, old_id) = &t[path];
            assert!(!grad, "{path} must stay gradient-free");
            assert_eq!(id, old_id, "{path} keeps its id");
            if path.contains("running") {
                assert_eq!(new, old, "{path}: statistics are not averaged");
                continue;
            }
            let online_values = &o[path].0;
            assert_ne!(online_values, old, "{path}: the SGD step changed it");
            for ((n, t), o) in new.iter().zip(old).zip(online_values) {
                let expected = m as f32 * t + (1.0 - m as f32) * o;
                assert!((n - expected).abs() < 1e-6, "{path}: {n} vs {expected}");
            }
            checked += 1;
        }
        // hidden linear weight, BN gamma and beta, output weight and bias.
        assert_eq!(checked, 5);
    }

    #[test]
    fn ema_update_touches_batchnorm_scale_of_an_encoder() {
        let device = Device::flex().autodiff();
        let online = ConvBn::new(&device);
        let target = momentum_copy(&online);
        // Momentum 0 copies the online values: scale them first so a copy is visible.
        let online = online.map(&mut Scale(2.0));
        let copied = dump(&ema_update(target, &online, 0.0));
        let o = dump(&online);
        assert_eq!(copied[GAMMA].0, o[GAMMA].0);
        assert_eq!(copied[CONV].0, o[CONV].0);
    }

    /// Multiplies every trainable tensor by a factor.
    struct Scale(f32);

    impl ModuleMapper for Scale {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if !param.val().is_require_grad() {
                return param;
            }
            let f = self.0;
            param.map(|t| (t.without_autodiff() * f).autodiff().require_grad())
        }
    }

    #[test]
    fn cosine_momentum_runs_from_base_to_one() {
        assert!((cosine_momentum(0.99, 0.0) - 0.99).abs() < 1e-12);
        assert!((cosine_momentum(0.99, 1.0) - 1.0).abs() < 1e-12);
        assert!((cosine_momentum(0.99, 0.5) - 0.995).abs() < 1e-12);
        assert!(cosine_momentum(0.99, 0.25) < cosine_momentum(0.99, 0.75));
        assert_eq!(cosine_momentum(0.99, 2.0), 1.0);
    }
}
