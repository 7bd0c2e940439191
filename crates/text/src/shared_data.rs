//! Where the tests that need the shared data sets find them (see the workspace's `build.rs`).
//! Such tests carry `#[cfg_attr(not(shared_data), ignore = "...")]`, so they are ignored, not
//! passed, without it.

use std::path::Path;

/// The shared data folder as found when this crate was built.
pub(crate) fn shared_data() -> &'static Path {
    Path::new(env!("AUTODIDACT_SHARED_DATA"))
}
