//! Readers for series data: the sktime/aeon `.ts` format and CSV (one series per row).

use std::path::Path;

use super::{SeriesProblem, SeriesSet};

/// Reads a `.ts` file.
pub fn read_ts(path: &Path) -> anyhow::Result<SeriesSet> {
    anyhow::bail!("{}: .ts reading is not implemented yet", path.display())
}

/// Loads a problem: a UCR folder holding `<Name>_TRAIN.ts` and `<Name>_TEST.ts` (or `.csv`), or a
/// single `.ts` / `.csv` file (train only).
pub fn load_series(path: &Path) -> anyhow::Result<SeriesProblem> {
    anyhow::bail!("{}: series loading is not implemented yet", path.display())
}
