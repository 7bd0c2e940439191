//! MoCo v2 (Chen et al. 2020; He et al. 2020): queries from the online encoder and MLP head,
//! keys from a momentum (EMA) copy of both, InfoNCE (temperature 0.2) of each query against its
//! key and a queue of earlier keys.
//!
//! * **Momentum** is constant, `ema_momentum` = 0.99 by default: the paper's 0.999 suits its
//!   hundreds of thousands of steps, not runs of a few thousand on a CPU.
//! * **Queue**: a ring buffer of L2-normalised keys in a `Param` without gradient, with the count
//!   of keys ever written (which gives the write position), so both travel in checkpoints and
//!   `--resume` stays exact. The step's keys reach it through [`StepOutput::carry`] and join it in
//!   `after_step`, after the step that used the old queue. Only rows that hold keys are used as
//!   negatives (the first step, with an empty queue, contrasts against the other keys of its
//!   batch). The reference code starts from random unit vectors, which push against nothing the
//!   network produces: with AdamW its spread fell from 0.36 to 0.08 in four steps against them.
//! * **BatchNorm**: the paper's Shuffle BN stops the positive key from sharing batch statistics
//!   with its query (queued negatives come from other batches, so shared statistics would give
//!   the positive away). One device has the same leak, so the GPUs are emulated: the query batch
//!   is normalised in `groups` contiguous sub-batches and the key batch in `groups` interleaved
//!   ones (the loader's order is already random, so a fixed interleave is a shuffle), and each
//!   key's statistics come mostly from other images than its query's. Batches under 16 use one
//!   group, i.e. no protection.

use burn::module::{Param, ParamId};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use autodidact_core::ema::{ema_update, momentum_copy};
use autodidact_core::losses::{self, l2_normalize};
use super::{AfterStep, ImageMethod, Method, StepOutput, MethodSettings, ViewPreset, check_projection};
use crate::augment::image::AugmentConfig;
use crate::encoders::ImageEncoder;
use autodidact_core::heads::MlpHead;
use autodidact_core::train::limits::{self, Settings};

/// Sub-batches that stand in for MoCo's GPUs in BatchNorm.
const BN_GROUPS: usize = 4;
/// Fewest images per BatchNorm sub-batch.
const MIN_GROUP: usize = 8;

#[derive(Module, Debug)]
pub struct MocoV2 {
    pub encoder: ImageEncoder,
    pub projector: MlpHead,
    pub key_encoder: ImageEncoder,
    pub key_projector: MlpHead,
    /// Keys of earlier batches, `[queue_size, proj_dim]`, L2-normalised; never trained.
    pub queue: Param<Tensor<2>>,
    /// Keys written to `queue` so far (a one-element tensor so checkpoints keep it).
    pub enqueued: Param<Tensor<1, Int>>,
    pub momentum: f64,
    pub temperature: f64,
}

/// How many BatchNorm sub-batches a batch of `n` is split into.
fn bn_groups(n: usize) -> usize {
    (n / MIN_GROUP).clamp(1, BN_GROUPS)
}

/// Row indices of `groups` interleaved sub-batches of `0..n`: group `j` is `j, j + groups, ...`.
fn interleaved(n: usize, groups: usize) -> Vec<Vec<usize>> {
    (0..groups)
        .map(|j| (j..n).step_by(groups).collect())
        .collect()
}

fn index_tensor(rows: &[usize], device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    Tensor::from_data(TensorData::new(data, [rows.len()]), device)
}

/// Writes `keys` into the ring buffer `queue` from row `ptr` on, wrapping at the end; returns the
/// queue and the next write position. With more keys than rows only the newest are kept.
pub fn enqueue(queue: Tensor<2>, ptr: usize, keys: Tensor<2>) -> (Tensor<2>, usize) {
    let [size, dim] = queue.dims();
    let [n, _] = keys.dims();
    let (keys, n, ptr) = if n > size {
        (
            keys.narrow(0, n - size, size),
            size,
            (ptr + n - size) % size,
        )
    } else {
        (keys, n, ptr)
    };
    let first = n.min(size - ptr);
    let mut queue =
        queue.slice_assign([ptr..ptr + first, 0..dim], keys.clone().narrow(0, 0, first));
    if first < n {
        queue = queue.slice_assign([0..n - first, 0..dim], keys.narrow(0, first, n - first));
    }
    (queue, (ptr + n) % size)
}

impl MocoV2 {
    /// Queries of a batch, BatchNorm over contiguous sub-batches.
    fn queries(&self, view: Tensor<4>) -> Tensor<2> {
        let n = view.dims()[0];
        let parts = view
            .chunk(bn_groups(n), 0)
            .into_iter()
            .map(|part| self.projector.forward(self.encoder.forward(part)))
            .collect();
        Tensor::cat(parts, 0)
    }

    /// Keys of a batch (no gradient), BatchNorm over interleaved sub-batches, rows in input order.
    fn keys(&self, view: Tensor<4>) -> Tensor<2> {
        let n = view.dims()[0];
        let device = view.device();
        let groups = interleaved(n, bn_groups(n));
        let view = view.detach();
        let parts = groups
            .iter()
            .map(|rows| {
                let part = view.clone().select(0, index_tensor(rows, &device));
                self.key_projector.forward(self.key_encoder.forward(part))
            })
            .collect();
        let order: Vec<usize> = groups.concat();
        let mut inverse = vec![0; n];
        for (position, &row) in order.iter().enumerate() {
            inverse[row] = position;
        }
        Tensor::cat(parts, 0)
            .select(0, index_tensor(&inverse, &device))
            .detach()
    }

    fn enqueued(&self) -> usize {
        self.enqueued.val().into_scalar::<i64>() as usize
    }
}

/// MoCo v2's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MocoV2Config {
    /// Softmax temperature of InfoNCE against the queue.
    pub temperature: f64,
    /// Hidden width of the projection head.
    pub proj_hidden: usize,
    /// Output width of the projection head.
    pub proj_dim: usize,
    /// Momentum of the key encoder (constant).
    pub ema_momentum: f64,
    /// Negatives kept in the queue.
    pub queue_size: usize,
    /// The augmentation pair.
    pub views: ViewPreset,
}

impl Default for MocoV2Config {
    fn default() -> Self {
        Self {
            temperature: 0.2,
            proj_hidden: 512,
            proj_dim: 128,
            // The papers' 0.996 (BYOL) and 0.999 (MoCo) assume hundreds of thousands of steps;
            // short CPU runs of a few thousand need the target to follow faster.
            ema_momentum: 0.99,
            queue_size: 4096,
            views: ViewPreset::Method,
        }
    }
}

impl MethodSettings for MocoV2Config {
    fn validate(&self, s: &Settings) -> anyhow::Result<()> {
        s.real("method_config.temperature", self.temperature, limits::TEMPERATURE)?;
        s.real("method_config.ema_momentum", self.ema_momentum, limits::MOMENTUM)?;
        s.int("method_config.queue_size", self.queue_size, limits::QUEUE)?;
        check_projection(s, self.proj_hidden, self.proj_dim)
    }
}

impl ImageMethod for MocoV2 {
    type Config = MocoV2Config;

    fn new(cfg: &MocoV2Config, encoder: ImageEncoder, device: &Device) -> Self {
        // MoCo v2's head: fc - ReLU - fc, no BatchNorm.
        let projector = MlpHead::new(
            &[encoder.out_dim(), cfg.proj_hidden, cfg.proj_dim],
            false,
            device,
        );
        // Empty until keys arrive; `enqueued` says how many rows are real.
        let queue = Tensor::<2>::zeros([cfg.queue_size.max(1), cfg.proj_dim], device);
        Self {
            key_encoder: momentum_copy(&encoder),
            key_projector: momentum_copy(&projector),
            encoder,
            projector,
            queue: Param::from_tensor(queue).set_require_grad(false),
            enqueued: Param::initialized(ParamId::new(), Tensor::zeros([1], device)),
            momentum: cfg.ema_momentum,
            temperature: cfg.temperature,
        }
    }

    fn views(cfg: &MocoV2Config, channels: usize, size: usize) -> Vec<AugmentConfig> {
        // MoCo v2's augmentations are SimCLR's.
        cfg.views.pair([AugmentConfig::simclr(channels, size), AugmentConfig::simclr(channels, size)], channels, size)
    }

    fn into_encoder(self) -> ImageEncoder {
        self.encoder
    }
}

impl Method for MocoV2 {
    type Batch = Vec<Tensor<4>>;
    type Encoder = ImageEncoder;

    fn step(&self, views: Vec<Tensor<4>>, _seed: u64) -> StepOutput {
        let [v1, v2]: [Tensor<4>; 2] = views.try_into().expect("MoCo takes two views");
        let q = self.queries(v1);
        let k = l2_normalize(self.keys(v2));
        let filled = self.enqueued().min(self.queue.val().dims()[0]);
        let loss = if filled == 0 {
            losses::info_nce(q.clone(), k.clone(), self.temperature)
        } else {
            let negatives = self.queue.val().narrow(0, 0, filled);
            losses::info_nce_queue(q.clone(), k.clone(), negatives, self.temperature)
        };
        StepOutput {
            carry: vec![k],
            ..StepOutput::new(loss, q)
        }
    }

    fn encoder(&self) -> &ImageEncoder {
        &self.encoder
    }

    fn after_step(mut self, _at: AfterStep, carry: Vec<Tensor<2>>) -> Self {
        self.key_encoder = ema_update(self.key_encoder, &self.encoder, self.momentum);
        self.key_projector = ema_update(self.key_projector, &self.projector, self.momentum);
        if let Some(keys) = carry.into_iter().next() {
            let count = self.enqueued() + keys.dims()[0];
            let ptr = self.enqueued() % self.queue.val().dims()[0];
            let (queue, _) = enqueue(self.queue.val(), ptr, keys.detach());
            let device = queue.device();
            self.queue = self.queue.map(|_| queue);
            self.enqueued = self
                .enqueued
                .map(|_| Tensor::from_data(TensorData::new(vec![count as i64], [1]), &device));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(values: &[f32]) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [values.len(), 1]),
            &Device::flex(),
        )
    }

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32 tensor")
    }

    #[test]
    fn queue_is_a_fifo_ring() {
        let queue = column(&[0.0; 5]);
        let (queue, ptr) = enqueue(queue, 0, column(&[1.0, 2.0, 3.0]));
        assert_eq!(
            (values(queue.clone()), ptr),
            (vec![1.0, 2.0, 3.0, 0.0, 0.0], 3)
        );
        // Wraps: 4 and 5 fill the end, 6 overwrites the oldest key (1).
        let (queue, ptr) = enqueue(queue, ptr, column(&[4.0, 5.0, 6.0]));
        assert_eq!(
            (values(queue.clone()), ptr),
            (vec![6.0, 2.0, 3.0, 4.0, 5.0], 1)
        );
        // Exactly one lap leaves the pointer where it was, the oldest key first overwritten.
        let (queue, ptr) = enqueue(queue, ptr, column(&[7.0, 8.0, 9.0, 10.0, 11.0]));
        assert_eq!(
            (values(queue.clone()), ptr),
            (vec![11.0, 7.0, 8.0, 9.0, 10.0], 1)
        );
        // More keys than rows: as if written one by one, only the newest five survive.
        let keys = column(&[20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0]);
        let (queue, ptr) = enqueue(queue, ptr, keys);
        assert_eq!(
            (values(queue), ptr),
            (vec![24.0, 25.0, 26.0, 22.0, 23.0], 3)
        );
    }

    #[test]
    fn after_step_enqueues_the_step_keys_in_ring_order() {
        use crate::encoders::{EncoderKind, ImageEncoder};
        use burn::tensor::Distribution;
        let device = Device::flex().autodiff();
        let cfg = MocoV2Config {
            queue_size: 40,
            proj_hidden: 16,
            proj_dim: 8,
            ..MocoV2Config::default()
        };
        let encoder = ImageEncoder::new(EncoderKind::Cnn, 1, &device);
        let mut moco = MocoV2::new(&cfg, encoder, &device);
        let mut written = Vec::new();
        for _ in 0..3 {
            let view = || Tensor::<4>::random([16, 1, 8, 8], Distribution::Default, &device);
            let out = moco.step(vec![view(), view()], 0);
            assert!(out.loss.into_scalar::<f32>().is_finite());
            written.push(out.carry[0].clone());
            moco = moco.after_step(
                AfterStep {
                    step: 1,
                    progress: 0.5,
                },
                out.carry,
            );
        }
        assert_eq!(moco.enqueued(), 48);
        // 48 keys in 40 rows: keys 40..48 wrapped onto rows 0..8, rows 8..40 hold keys 8..40.
        let all = values(Tensor::cat(written, 0));
        let queue = values(moco.queue.val());
        assert_eq!(queue[..8 * 8], all[40 * 8..]);
        assert_eq!(queue[8 * 8..], all[8 * 8..40 * 8]);
        // The keys are unit vectors.
        let norm: f32 = all[..8].iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn interleaved_groups_cover_every_row_once() {
        let groups = interleaved(10, 4);
        assert_eq!(
            groups,
            vec![vec![0, 4, 8], vec![1, 5, 9], vec![2, 6], vec![3, 7]]
        );
        assert_eq!(
            (bn_groups(7), bn_groups(16), bn_groups(64), bn_groups(256)),
            (1, 2, 4, 4)
        );
    }
}
