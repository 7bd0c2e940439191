//! The world the running code belongs to, as rayon has a current thread pool: the training loop
//! and the losses that gather across ranks ask [`current`] instead of threading a handle through
//! every modality's entry points. A process launched by MPI [`install`]s its world once at start;
//! [`super::LocalRanks`] sets each rank thread's own; everything else is a [`SingleProcess`].

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use super::{Collective, SingleProcess};

static PROCESS: OnceLock<Arc<dyn Collective>> = OnceLock::new();

thread_local! {
    static THREAD: RefCell<Option<Arc<dyn Collective>>> = const { RefCell::new(None) };
}

/// Makes `world` the world of every thread of this process that has none of its own. Once per
/// process; a second call is refused.
pub fn install(world: Arc<dyn Collective>) -> Result<(), &'static str> {
    PROCESS
        .set(world)
        .map_err(|_| "a world is already installed in this process")
}

/// This thread's world: its own (a [`super::LocalRanks`] rank), else the process's, else a
/// world of one.
pub fn current() -> Arc<dyn Collective> {
    THREAD
        .with(|t| t.borrow().clone())
        .or_else(|| PROCESS.get().cloned())
        .unwrap_or_else(|| Arc::new(SingleProcess))
}

/// Runs `f` with `world` as this thread's world.
pub fn with_world<T>(world: Arc<dyn Collective>, f: impl FnOnce() -> T) -> T {
    let before = THREAD.with(|t| t.replace(Some(world)));
    struct Restore(Option<Arc<dyn Collective>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD.with(|t| *t.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(before);
    f()
}
