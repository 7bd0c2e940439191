//! Parsers that hold a flag to its accepted range ([`autodidact_core::train::limits`]), so a bad value
//! fails before any work starts: `invalid value '0' for '--batch-size': expected an integer in
//! 1..=65536`.

use std::ops::RangeInclusive;
use std::path::Path;

use anyhow::bail;

use autodidact_core::train::limits::{self, Real};
use autodidact_series::methods::SeriesMethodKind;

/// An integer flag within `range`.
pub fn int(
    range: RangeInclusive<usize>,
) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let value: usize = text
            .trim()
            .parse()
            .map_err(|_| limits::expected_int(&range))?;
        limits::int(value, &range)
    }
}

/// A real flag, finite and within `range`.
pub fn real(range: Real) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let value: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("expected a number in {range}"))?;
        limits::real(value, &range)
    }
}

/// Checks, before any work, that a file flag names a place a file can be written: an existing
/// folder, and not a folder itself.
pub fn output_file(flag: &str, path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        bail!("{flag} {}: is a folder; give a file name", path.display());
    }
    let folder = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent,
        None => Path::new("."),
    };
    if !folder.is_dir() {
        bail!(
            "{flag} {}: the folder {} does not exist",
            path.display(),
            folder.display()
        );
    }
    Ok(())
}

/// A series method by name (`ts-order`, ...), or which names there are.
pub fn series_method(name: &str) -> Result<SeriesMethodKind, String> {
    SeriesMethodKind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = SeriesMethodKind::ALL.iter().map(|m| m.name()).collect();
        format!("`{name}` is not a series method ({})", names.join(", "))
    })
}

/// Writes `report` to the `--json` file, when one was given, and says where.
pub fn write_report(
    json: Option<&Path>,
    report: autodidact_core::eval::report::EvalReport,
) -> anyhow::Result<()> {
    if let Some(path) = json {
        report.write_json(path)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}
