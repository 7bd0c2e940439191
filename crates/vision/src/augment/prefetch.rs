//! Batches of augmented views prepared on a background thread while the training step runs.
//!
//! Everything a batch holds is a pure function of `(seed, step)`, so a resumed run sees exactly the
//! batches an uninterrupted one would have.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::image::{AugmentConfig, augment_batch_from};
use crate::data::ImageSet;
use autodidact_core::train::seed::mix;

/// Separates the epoch-permutation streams from the augmentation streams of the same seed.
const PERMUTATION_STREAM: u64 = 0x5045_524D_5554_4154;

/// The views of one training step.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewBatch {
    /// Global step this batch belongs to.
    pub step: usize,
    pub batch_size: usize,
    pub channels: usize,
    /// Side of each (square) view, one per view: multi-crop methods mix sizes.
    pub sizes: Vec<usize>,
    /// One buffer per view, view `v` being `batch_size x channels x sizes[v] x sizes[v]`.
    pub views: Vec<Vec<f32>>,
}

impl ViewBatch {
    /// The `[batch, channels, side, side]` shape of view `view`.
    pub fn shape(&self, view: usize) -> [usize; 4] {
        let side = self.sizes[view];
        [self.batch_size, self.channels, side, side]
    }
}

/// The samples of global step `step`: epochs of `n / batch_size` steps (the remainder is dropped),
/// each a fresh seeded permutation. Requires `1 <= batch_size <= n` (the caller checks).
pub fn batch_indices(n: usize, batch_size: usize, seed: u64, step: usize) -> Vec<usize> {
    EpochOrder::new(n, batch_size, seed).indices(step).to_vec()
}

/// The seed of view `view` at step `step`, as the [`Prefetcher`] uses it.
pub fn view_seed(seed: u64, step: usize, view: usize) -> u64 {
    mix(mix(seed, step as u64), view as u64)
}

/// The current epoch's permutation, kept so consecutive steps do not reshuffle.
struct EpochOrder {
    n: usize,
    batch_size: usize,
    seed: u64,
    epoch: Option<usize>,
    order: Vec<usize>,
}

impl EpochOrder {
    fn new(n: usize, batch_size: usize, seed: u64) -> Self {
        assert!(
            batch_size >= 1 && batch_size <= n,
            "batch size {batch_size} needs 1..={n} images (the caller checks this)"
        );
        Self {
            n,
            batch_size,
            seed,
            epoch: None,
            order: Vec::new(),
        }
    }

    fn indices(&mut self, step: usize) -> &[usize] {
        let steps_per_epoch = self.n / self.batch_size;
        let epoch = step / steps_per_epoch;
        if self.epoch != Some(epoch) {
            self.order.clear();
            self.order.extend(0..self.n);
            let seed = mix(self.seed ^ PERMUTATION_STREAM, epoch as u64);
            self.order.shuffle(&mut StdRng::seed_from_u64(seed));
            self.epoch = Some(epoch);
        }
        let start = (step % steps_per_epoch) * self.batch_size;
        &self.order[start..start + self.batch_size]
    }
}

/// A background thread producing [`ViewBatch`]es for consecutive steps; iterate it (or call
/// `next`) to receive them. Dropping it stops the thread.
pub struct Prefetcher {
    receiver: Option<Receiver<ViewBatch>>,
    worker: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// First step not to produce (`usize::MAX`: no end); shared with the worker.
    end: Arc<AtomicUsize>,
}

impl Prefetcher {
    /// Starts producing steps `start_step..end_step` (no end when `None`), at most `depth` ahead;
    /// view `v` of step `s` is `augment_batch(set, batch_indices(..), &views[v], view_seed(seed, s, v))`.
    /// Views may differ in `out_size` (multi-crop); `1 <= batch_size <= set.len()` (the caller checks).
    pub fn spawn(
        set: Arc<ImageSet>,
        views: Vec<AugmentConfig>,
        batch_size: usize,
        seed: u64,
        start_step: usize,
        end_step: Option<usize>,
        depth: usize,
    ) -> Prefetcher {
        let part = 0..batch_size;
        Self::spawn_part(
            set, views, batch_size, part, seed, start_step, end_step, depth,
        )
    }

    /// [`Prefetcher::spawn`] producing only positions `part` of each batch (a data-parallel
    /// rank's slice), augmented as they are in the whole batch.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_part(
        set: Arc<ImageSet>,
        views: Vec<AugmentConfig>,
        batch_size: usize,
        part: Range<usize>,
        seed: u64,
        start_step: usize,
        end_step: Option<usize>,
        depth: usize,
    ) -> Prefetcher {
        let sizes: Vec<usize> = views.iter().map(|v| v.out_size).collect();
        let mut order = EpochOrder::new(set.len(), batch_size, seed);
        let (sender, receiver) = sync_channel(depth);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let end = Arc::new(AtomicUsize::new(end_step.unwrap_or(usize::MAX)));
        let end_seen = Arc::clone(&end);
        let worker = std::thread::Builder::new()
            .name("prefetch".into())
            .spawn(move || {
                let mut step = start_step;
                while step < end_seen.load(Ordering::Relaxed) {
                    let indices = order.indices(step)[part.clone()].to_vec();
                    let mut buffers = Vec::with_capacity(views.len());
                    for (v, cfg) in views.iter().enumerate() {
                        // Checked between views so a drop does not wait for a whole large batch.
                        if stopped.load(Ordering::Relaxed) {
                            return;
                        }
                        let seed = view_seed(seed, step, v);
                        buffers.push(augment_batch_from(&set, &indices, cfg, seed, part.start));
                    }
                    let batch = ViewBatch {
                        step,
                        batch_size: part.len(),
                        channels: set.channels,
                        sizes: sizes.clone(),
                        views: buffers,
                    };
                    if sender.send(batch).is_err() {
                        return;
                    }
                    step += 1;
                }
            })
            .expect("the OS refused to start the prefetch thread");
        Prefetcher {
            receiver: Some(receiver),
            worker: Some(worker),
            stop,
            end,
        }
    }

    /// Moves the end to `end` (exclusive), e.g. once a time budget is converted into steps; batches
    /// already prepared past it are discarded. Raising it only helps while the worker is still running.
    pub fn set_end_step(&self, end: usize) {
        self.end.store(end, Ordering::Relaxed);
    }
}

impl Iterator for Prefetcher {
    type Item = ViewBatch;

    /// The next step's batch; `None` once `end_step` is reached. A panic in the worker resurfaces here.
    fn next(&mut self) -> Option<ViewBatch> {
        let batch = self.receiver.as_ref()?.recv().ok();
        if batch.is_none() {
            self.receiver = None;
            if let Some(Err(panic)) = self.worker.take().map(JoinHandle::join) {
                std::panic::resume_unwind(panic);
            }
        }
        batch.filter(|b| b.step < self.end.load(Ordering::Relaxed))
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Without a receiver a blocked or later `send` fails, which ends the worker's loop.
        drop(self.receiver.take());
        if let Some(worker) = self.worker.take() {
            // A worker panic was already reported by the panic hook; a drop must not panic again.
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::image::augment_batch;
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::time::Duration;

    fn image_set(n: usize, channels: usize, side: usize) -> Arc<ImageSet> {
        let len = n * channels * side * side;
        Arc::new(ImageSet {
            channels,
            height: side,
            width: side,
            pixels: (0..len).map(|i| (i * 7919 % 251) as u8).collect(),
            labels: None,
            class_names: Vec::new(),
        })
    }

    #[test]
    fn each_epoch_covers_every_index_once() {
        let (n, bs) = (12, 4);
        let epoch = |e: usize| -> Vec<usize> {
            (0..3)
                .flat_map(|s| batch_indices(n, bs, 5, e * 3 + s))
                .collect()
        };
        for e in 0..3 {
            let mut seen = epoch(e);
            seen.sort_unstable();
            assert_eq!(seen, (0..n).collect::<Vec<_>>());
        }
        assert_ne!(epoch(0), epoch(1));
        let other_seed: Vec<usize> = (0..3).flat_map(|s| batch_indices(n, bs, 6, s)).collect();
        assert_ne!(epoch(0), other_seed);
        // Drop-last: 10 images in batches of 3 -> 3 steps of distinct indices, one image left out.
        let steps: Vec<usize> = (0..3).flat_map(|s| batch_indices(10, 3, 1, s)).collect();
        assert_eq!(steps.iter().collect::<HashSet<_>>().len(), 9);
        // A pure function: recomputing any step gives the same batch.
        assert_eq!(batch_indices(10, 3, 1, 7), batch_indices(10, 3, 1, 7));
    }

    #[test]
    fn yields_consecutive_steps_matching_direct_augmentation_then_stops() {
        let set = image_set(20, 3, 12);
        let views = vec![AugmentConfig::simclr(3, 8), AugmentConfig::simclr(3, 8)];
        let mut prefetch = Prefetcher::spawn(Arc::clone(&set), views.clone(), 4, 7, 3, Some(8), 2);
        for step in 3..8 {
            let batch = prefetch.next().expect("a batch before end_step");
            assert_eq!(
                (
                    batch.step,
                    batch.batch_size,
                    batch.channels,
                    batch.sizes.clone()
                ),
                (step, 4, 3, vec![8, 8])
            );
            let indices = batch_indices(20, 4, 7, step);
            for (v, cfg) in views.iter().enumerate() {
                let direct = augment_batch(&set, &indices, cfg, view_seed(7, step, v));
                assert_eq!(batch.views[v], direct, "step {step} view {v}");
            }
        }
        assert!(prefetch.next().is_none());
        assert!(prefetch.next().is_none());
    }

    #[test]
    fn a_part_of_each_batch_is_those_rows_of_the_whole_batch() {
        let set = image_set(20, 1, 8);
        let views = vec![AugmentConfig::simclr(1, 8); 2];
        let mut whole = Prefetcher::spawn(set.clone(), views.clone(), 6, 4, 0, Some(2), 2);
        let mut part = Prefetcher::spawn_part(set, views, 6, 2..4, 4, 0, Some(2), 2);
        for _ in 0..2 {
            let (w, p) = (whole.next().unwrap(), part.next().unwrap());
            assert_eq!(p.shape(0), [2, 1, 8, 8]);
            for v in 0..2 {
                assert_eq!(p.views[v], w.views[v][2 * 64..4 * 64].to_vec());
            }
        }
        assert!(part.next().is_none());
    }

    #[test]
    fn views_of_different_sizes_keep_their_own_shapes() {
        let set = image_set(10, 1, 12);
        let views = vec![
            AugmentConfig::simclr(1, 12),
            AugmentConfig::simclr(1, 6),
            AugmentConfig::simclr(1, 6),
        ];
        let mut prefetch = Prefetcher::spawn(Arc::clone(&set), views.clone(), 5, 2, 0, Some(1), 1);
        let batch = prefetch.next().expect("one batch");
        assert_eq!(batch.sizes, vec![12, 6, 6]);
        assert_eq!(
            (batch.shape(0), batch.shape(2)),
            ([5, 1, 12, 12], [5, 1, 6, 6])
        );
        let indices = batch_indices(10, 5, 2, 0);
        for (v, cfg) in views.iter().enumerate() {
            assert_eq!(
                batch.views[v].len(),
                batch.shape(v).iter().product::<usize>()
            );
            let direct = augment_batch(&set, &indices, cfg, view_seed(2, 0, v));
            assert_eq!(batch.views[v], direct, "view {v}");
        }
    }

    #[test]
    fn set_end_step_cuts_an_open_ended_run() {
        let set = image_set(8, 1, 6);
        let mut prefetch =
            Prefetcher::spawn(set, vec![AugmentConfig::simclr(1, 6)], 2, 3, 0, None, 3);
        assert_eq!(prefetch.next().map(|b| b.step), Some(0));
        assert_eq!(prefetch.next().map(|b| b.step), Some(1));
        prefetch.set_end_step(3);
        assert_eq!(prefetch.next().map(|b| b.step), Some(2));
        assert!(prefetch.next().is_none());
    }

    #[test]
    fn drop_stops_the_thread_promptly() {
        let set = image_set(64, 3, 32);
        let views = vec![AugmentConfig::simclr(3, 32); 2];
        let (done, finished) = std::sync::mpsc::channel();
        let counter = Arc::new(Mutex::new(0));
        let seen = Arc::clone(&counter);
        std::thread::spawn(move || {
            let mut prefetch = Prefetcher::spawn(set, views, 32, 1, 0, None, 2);
            *seen.lock().unwrap() = prefetch.next().map_or(0, |b| b.views.len());
            drop(prefetch);
            done.send(()).unwrap();
        });
        finished
            .recv_timeout(Duration::from_secs(30))
            .expect("dropping the prefetcher should return within seconds");
        assert_eq!(*counter.lock().unwrap(), 2);
    }
}
