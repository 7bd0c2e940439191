//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use autodidact::data::ImageSet;
use autodidact::data::idx::read_idx_pair;

/// The bundled MNIST sample (10,000 test digits).
pub fn bundled_mnist() -> ImageSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    read_idx_pair(
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &dir.join("t10k-labels-idx1-ubyte.gz"),
    )
    .expect("the bundled MNIST files are readable")
}

/// The first `n` images of a set.
pub fn first(set: &ImageSet, n: usize) -> ImageSet {
    set.subset(&(0..n).collect::<Vec<_>>())
}

/// The autodidact binary built for this test run.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_autodidact"))
}
