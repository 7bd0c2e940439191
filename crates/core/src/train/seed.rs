//! Seeded model construction that stays reproducible when several runs share a process.

use std::sync::Mutex;

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;

/// Burn's random generator is global per backend: two threads that seed it and then draw
/// initial weights would interleave their draws. Construction holds this lock.
static INIT: Mutex<()> = Mutex::new(());

/// Seeds `device`, runs `build` and draws every parameter's initial value, without interference
/// from other threads doing the same.
pub fn seeded_init<M: Module>(device: &Device, seed: u64, build: impl FnOnce() -> M) -> M {
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    let module = build();
    // Parameters are initialised lazily, on first use; force it while the lock is held.
    module.visit(&mut Materialize);
    module
}

/// Runs `f` with `device`'s generator seeded with `seed`, without interference from other
/// threads drawing from it (dropout masks that must depend on the step alone, so a resumed run
/// draws the same ones).
pub fn with_seeded_device<R>(device: &Device, seed: u64, f: impl FnOnce() -> R) -> R {
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    f()
}

struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// A seed for stream `stream` derived from `seed` (splitmix64 on both), so nearby seeds decorrelate.
pub fn mix(seed: u64, stream: u64) -> u64 {
    splitmix64(seed ^ splitmix64(stream))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
