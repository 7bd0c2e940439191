//! Readers for series data: the sktime/aeon `.ts` format and CSV (one series per row).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};

use super::{SeriesProblem, SeriesSet};
use autodidact_core::error::DataError;

/// Where the class label sits in a CSV row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelColumn {
    /// Every cell is a value: the set is unlabelled.
    None,
    /// The first cell is the label (the UCR archive's CSV/TSV layout).
    First,
    /// The last cell is the label.
    Last,
}

/// An error located at `path:line`.
fn at(path: &Path, line: usize, msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{}:{}: {}", path.display(), line, msg)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read series file", path.display()))?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned())
}

/// A value cell: `?`, `NaN` (any case) and, when `empty_is_missing`, an empty cell are missing.
fn parse_value(token: &str, empty_is_missing: bool) -> Option<f32> {
    let t = token.trim();
    if t == "?" || t.eq_ignore_ascii_case("nan") || (empty_is_missing && t.is_empty()) {
        return Some(f32::NAN);
    }
    t.parse::<f32>().ok()
}

/// The `.ts` header fields the reader uses.
#[derive(Default)]
struct TsHeader {
    dimensions: Option<usize>,
    univariate: Option<bool>,
    equal_length: Option<bool>,
    series_length: Option<usize>,
    class_labels: Option<Vec<String>>,
}

fn parse_bool(path: &Path, line: usize, key: &str, value: &str) -> anyhow::Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(at(
            path,
            line,
            format!("{key}: expected true or false, found '{value}'"),
        )),
    }
}

fn parse_count(path: &Path, line: usize, key: &str, value: &str) -> anyhow::Result<usize> {
    value
        .parse::<usize>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            at(
                path,
                line,
                format!("{key}: expected a positive integer, found '{value}'"),
            )
        })
}

/// Applies one `@key value` header line.
fn apply_header(path: &Path, line: usize, text: &str, h: &mut TsHeader) -> anyhow::Result<()> {
    let mut parts = text.split_whitespace();
    let key = parts.next().unwrap_or("@").to_ascii_lowercase();
    let rest: Vec<&str> = parts.collect();
    let value = rest.first().copied().unwrap_or("");
    let flag = || parse_bool(path, line, &key, value);
    match key.as_str() {
        "@timestamps" if flag()? => {
            return Err(at(path, line, "timestamped .ts series are not supported"));
        }
        "@univariate" => h.univariate = Some(flag()?),
        "@equallength" => h.equal_length = Some(flag()?),
        "@dimensions" => h.dimensions = Some(parse_count(path, line, &key, value)?),
        "@serieslength" => h.series_length = Some(parse_count(path, line, &key, value)?),
        "@classlabel" if flag()? => {
            let names: Vec<String> = rest[1..].iter().map(|s| s.to_string()).collect();
            if names.is_empty() {
                return Err(at(path, line, "@classLabel true lists no class labels"));
            }
            h.class_labels = Some(names);
        }
        "@targetlabel" if flag()? => {
            let msg = "regression targets (@targetLabel true) are not supported";
            return Err(at(path, line, msg));
        }
        // `false` flags, @problemName, @missing and headers this reader does not need; the
        // guards above have already checked that a flag reads true or false.
        _ => {}
    }
    Ok(())
}

/// Parses one data line into channel-major values; returns `(values, channels, len, label)`.
fn parse_ts_series(
    path: &Path,
    line: usize,
    text: &str,
    channels: Option<usize>,
    labelled: bool,
) -> anyhow::Result<(Vec<f32>, usize, usize, Option<String>)> {
    if text.contains('(') {
        return Err(at(path, line, "timestamped .ts series are not supported"));
    }
    let (body, label) = if labelled {
        let (body, label) = text.rsplit_once(':').ok_or_else(|| {
            at(
                path,
                line,
                "expected channels followed by ':<class label>', found no ':'",
            )
        })?;
        (body, Some(label.trim().to_string()))
    } else {
        (text, None)
    };
    let dims: Vec<&str> = body.split(':').collect();
    if let Some(expected) = channels
        && dims.len() != expected
    {
        return Err(at(
            path,
            line,
            format!("expected {expected} channels, found {}", dims.len()),
        ));
    }
    let mut values = Vec::new();
    let mut len = 0;
    for (c, dim) in dims.iter().enumerate() {
        let before = values.len();
        for token in dim.split(',') {
            let v = parse_value(token, false).ok_or_else(|| {
                at(
                    path,
                    line,
                    format!("channel {}: bad number '{}'", c + 1, token.trim()),
                )
            })?;
            values.push(v);
        }
        let n = values.len() - before;
        if c == 0 {
            len = n;
        } else if n != len {
            return Err(at(
                path,
                line,
                format!("channel {} has {n} values, channel 1 has {len}", c + 1),
            ));
        }
    }
    Ok((values, dims.len(), len, label))
}

/// Reads a `.ts` file (sktime/aeon format): `#` comments, `@key value` headers, `@data`, then one
/// series per line with channels separated by `:`, values by `,` and the class label last.
/// `?` and `NaN` are missing values (stored as NaN). Class indices follow `@classLabel`'s order.
pub fn read_ts(path: &Path) -> anyhow::Result<SeriesSet> {
    let text = read_text(path)?;
    let mut header = TsHeader::default();
    let mut in_data = false;
    let mut channels: Option<usize> = None;
    let mut set = SeriesSet {
        values: Vec::new(),
        lengths: Vec::new(),
        channels: 0,
        labels: None,
        class_names: Vec::new(),
    };
    let mut labels = Vec::new();
    let mut last_line = 1;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        last_line = line;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if !in_data {
            if !t.starts_with('@') {
                return Err(at(
                    path,
                    line,
                    format!("expected a @key header or @data, found '{}'", short(t)),
                ));
            }
            if t.eq_ignore_ascii_case("@data") {
                in_data = true;
                channels = header.dimensions.or(if header.univariate == Some(true) {
                    Some(1)
                } else {
                    None
                });
            } else {
                apply_header(path, line, t, &mut header)?;
            }
            continue;
        }
        let class_list = header.class_labels.as_deref();
        let (values, dims, len, label) =
            parse_ts_series(path, line, t, channels, class_list.is_some())?;
        channels = Some(dims);
        if header.equal_length == Some(true)
            && let Some(expected) = header.series_length
            && len != expected
        {
            return Err(at(
                path,
                line,
                format!("expected {expected} values per channel (@seriesLength), found {len}"),
            ));
        }
        if let (Some(names), Some(label)) = (class_list, label) {
            let idx = names.iter().position(|n| *n == label).ok_or_else(|| {
                at(
                    path,
                    line,
                    format!(
                        "class label '{label}' is not in @classLabel ({})",
                        names.join(" ")
                    ),
                )
            })?;
            labels.push(idx as u32);
        }
        set.values.push(values);
        set.lengths.push(len);
    }
    if !in_data {
        return Err(at(path, last_line, "missing @data line (no series found)"));
    }
    if set.values.is_empty() {
        return Err(at(path, last_line, "no series after @data"));
    }
    set.channels = channels.unwrap_or(1);
    if let Some(names) = header.class_labels {
        set.labels = Some(labels);
        set.class_names = names;
    }
    Ok(set)
}

/// The first 40 characters of `s`, for quoting a line in an error.
fn short(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// Splits a CSV/TSV row: tabs when the file's first line has a tab and no comma, else commas.
fn split_row(row: &str, tab: bool) -> Vec<&str> {
    if tab {
        row.split('\t').collect()
    } else {
        row.split(',').collect()
    }
}

/// Reads one univariate series per row (comma- or tab-separated). The first line is skipped as a
/// header when one of its value cells is not a number. Labels are strings: with `class_names` they
/// map into that list, otherwise the class names are the unique labels sorted (numerically when all
/// are numbers, else as strings). Empty cells, `?` and `NaN` are missing.
pub fn read_csv(
    path: &Path,
    label_column: LabelColumn,
    class_names: Option<&[String]>,
) -> anyhow::Result<SeriesSet> {
    let text = read_text(path)?;
    let rows: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let Some(&(_, first)) = rows.first() else {
        return Err(at(path, 1, "empty file (no series)"));
    };
    let tab = first.contains('\t') && !first.contains(',');
    let (first_values, _) = split_label(split_row(first, tab), label_column);
    let header = first_values.iter().any(|c| parse_value(c, true).is_none());
    let mut values = Vec::new();
    let mut lengths = Vec::new();
    let mut raw_labels: Vec<(usize, String)> = Vec::new();
    for &(line, row) in rows.iter().skip(usize::from(header)) {
        let (cells, label) = split_label(split_row(row, tab), label_column);
        if label_column != LabelColumn::None && (cells.is_empty() || label.is_none()) {
            return Err(at(
                path,
                line,
                "expected a label and at least one value, found one cell",
            ));
        }
        let series = cells
            .iter()
            .map(|c| {
                parse_value(c, true)
                    .ok_or_else(|| at(path, line, format!("bad number '{}'", c.trim())))
            })
            .collect::<anyhow::Result<Vec<f32>>>()?;
        lengths.push(series.len());
        values.push(series);
        if let Some(label) = label {
            raw_labels.push((line, label.trim().to_string()));
        }
    }
    if values.is_empty() {
        return Err(at(
            path,
            rows.last().map_or(1, |r| r.0),
            "no series (only a header line)",
        ));
    }
    let (labels, names) = match (label_column, class_names) {
        (LabelColumn::None, given) => (None, given.map(<[String]>::to_vec).unwrap_or_default()),
        (_, Some(given)) => {
            let idx = raw_labels
                .iter()
                .map(|(line, l)| {
                    given
                        .iter()
                        .position(|n| n == l)
                        .map(|i| i as u32)
                        .ok_or_else(|| {
                            at(
                                path,
                                *line,
                                format!(
                                    "class label '{l}' is not one of the classes ({})",
                                    given.join(", ")
                                ),
                            )
                        })
                })
                .collect::<anyhow::Result<Vec<u32>>>()?;
            (Some(idx), given.to_vec())
        }
        (_, None) => {
            let names = sorted_unique(raw_labels.iter().map(|(_, l)| l.as_str()));
            let idx = raw_labels
                .iter()
                .map(|(_, l)| names.iter().position(|n| n == l).unwrap_or(0) as u32)
                .collect();
            (Some(idx), names)
        }
    };
    Ok(SeriesSet {
        values,
        lengths,
        channels: 1,
        labels,
        class_names: names,
    })
}

/// Splits a row's cells into value cells and the label cell.
fn split_label(mut cells: Vec<&str>, label_column: LabelColumn) -> (Vec<&str>, Option<&str>) {
    let label = match label_column {
        LabelColumn::None => None,
        LabelColumn::First if !cells.is_empty() => Some(cells.remove(0)),
        LabelColumn::First => None,
        LabelColumn::Last => cells.pop(),
    };
    (cells, label)
}

/// Unique labels, in numeric order when every label is a number (so `10` follows `9`).
fn sorted_unique<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = labels
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_string)
        .collect();
    if names.iter().all(|n| n.parse::<f64>().is_ok()) {
        names.sort_by(|a, b| {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            x.total_cmp(&y)
        });
    }
    names
}

/// The series files a folder can hold, in order of preference.
const SERIES_EXTENSIONS: [&str; 3] = ["ts", "csv", "tsv"];

fn read_any(path: &Path, class_names: Option<&[String]>) -> anyhow::Result<SeriesSet> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("ts") => read_ts(path),
        Some("csv" | "tsv") => read_csv(path, LabelColumn::First, class_names),
        _ => bail!("{}: expected a .ts, .csv or .tsv file", path.display()),
    }
}

/// The `(name, train, test)` pair in `dir`: `<dir name>_TRAIN/_TEST` first, else the only pair.
fn find_pair(dir: &Path) -> anyhow::Result<(String, PathBuf, PathBuf)> {
    let folder = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list folder", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    files.sort();
    for ext in SERIES_EXTENSIONS {
        let (train, test) = (
            format!("{folder}_TRAIN.{ext}"),
            format!("{folder}_TEST.{ext}"),
        );
        if files.contains(&train) && files.contains(&test) {
            return Ok((folder, dir.join(train), dir.join(test)));
        }
    }
    let mut pairs = Vec::new();
    let mut lone = Vec::new();
    for ext in SERIES_EXTENSIONS {
        for f in &files {
            if let Some(stem) = f.strip_suffix(&format!("_TRAIN.{ext}")) {
                let test = format!("{stem}_TEST.{ext}");
                if files.contains(&test) {
                    pairs.push((stem.to_string(), dir.join(f), dir.join(test)));
                } else {
                    lone.push(f.clone());
                }
            }
        }
    }
    match pairs.len() {
        1 => Ok(pairs.remove(0)),
        0 if !lone.is_empty() => bail!(
            "{}: found {} but no matching _TEST file",
            dir.display(),
            lone.join(", ")
        ),
        0 => bail!(
            "{}: no series files (expected <Name>_TRAIN.ts and <Name>_TEST.ts, or .csv/.tsv)",
            dir.display()
        ),
        _ => {
            let names: Vec<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
            bail!(
                "{}: several train/test pairs ({}); pass one file or a folder with one pair",
                dir.display(),
                names.join(", ")
            )
        }
    }
}

/// Maps `test`'s labels into `train`'s class names (the two `.ts` headers may list them in different
/// orders).
fn align_classes(
    train: &SeriesSet,
    test: &mut SeriesSet,
    train_path: &Path,
    test_path: &Path,
) -> anyhow::Result<()> {
    if test.class_names == train.class_names {
        return Ok(());
    }
    let Some(labels) = test.labels.as_mut() else {
        return Ok(());
    };
    let map = test
        .class_names
        .iter()
        .map(|n| {
            train
                .class_names
                .iter()
                .position(|t| t == n)
                .map(|i| i as u32)
                .ok_or_else(|| {
                    anyhow!(
                        "{}: class '{n}' is not among {}'s classes",
                        test_path.display(),
                        train_path.display()
                    )
                })
        })
        .collect::<anyhow::Result<Vec<u32>>>()?;
    for l in labels.iter_mut() {
        *l = map[*l as usize];
    }
    test.class_names = train.class_names.clone();
    Ok(())
}

/// Loads a problem: a UCR folder holding `<Name>_TRAIN.ts` and `<Name>_TEST.ts` (name = folder
/// name, or the folder's only `*_TRAIN` / `*_TEST` pair), `.csv` / `.tsv` pairs (label in the first
/// column, as in the UCR archive's CSV/TSV releases; the test set uses the train set's class names),
/// or a single `.ts` / `.csv` / `.tsv` file (train only).
pub fn load_series(path: &Path) -> anyhow::Result<SeriesProblem> {
    read_problem(path).map_err(|e| DataError::read(path, e))
}

fn read_problem(path: &Path) -> anyhow::Result<SeriesProblem> {
    if path.is_file() {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("series");
        let name = stem.strip_suffix("_TRAIN").unwrap_or(stem).to_string();
        return Ok(SeriesProblem {
            name,
            train: read_any(path, None)?,
            test: None,
        });
    }
    if !path.is_dir() {
        bail!("{}: no such file or folder", path.display());
    }
    let (name, train_path, test_path) = find_pair(path)?;
    let train = read_any(&train_path, None)?;
    let mut test = read_any(&test_path, Some(&train.class_names))?;
    if train.channels != test.channels {
        bail!(
            "{} has {} channels but {} has {}",
            train_path.display(),
            train.channels,
            test_path.display(),
            test.channels
        );
    }
    align_classes(&train, &mut test, &train_path, &test_path)?;
    Ok(SeriesProblem {
        name,
        train,
        test: Some(test),
    })
}

impl SeriesSet {
    /// Z-normalises each channel of each series (NaN ignored; a flat channel is only centred).
    pub fn normalise_per_series(&mut self) {
        for (series, &len) in self.values.iter_mut().zip(&self.lengths) {
            for channel in series.chunks_mut(len.max(1)) {
                let (mut n, mut sum) = (0usize, 0.0f64);
                for &v in channel.iter().filter(|v| !v.is_nan()) {
                    n += 1;
                    sum += v as f64;
                }
                if n == 0 {
                    continue;
                }
                let mean = sum / n as f64;
                let var = channel
                    .iter()
                    .filter(|v| !v.is_nan())
                    .map(|&v| (v as f64 - mean).powi(2))
                    .sum::<f64>()
                    / n as f64;
                let std = var.sqrt();
                let scale = if std < 1e-8 { 1.0 } else { 1.0 / std };
                for v in channel.iter_mut() {
                    *v = ((*v as f64 - mean) * scale) as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Writes `text` to `<dir>/<name>` and returns its path.
    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        path
    }

    fn ts(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "x.ts", text);
        (dir, path)
    }

    /// The error of reading `text` as a `.ts` file, which must name `x.ts:<line>` and contain `what`.
    fn ts_error(text: &str, line: usize, what: &str) {
        let (_dir, path) = ts(text);
        let err = format!("{:#}", read_ts(&path).unwrap_err());
        assert!(
            err.contains(&format!("x.ts:{line}: ")),
            "no x.ts:{line} in: {err}"
        );
        assert!(err.contains(what), "no '{what}' in: {err}");
    }

    const UNIVARIATE: &str = "# comment\n@problemName Toy\n@timeStamps false\n@univariate true\n\
        @equalLength true\n@seriesLength 3\n@classLabel true b a\n@data\n1,2,3:a\n4.5,-5,6e1:b\n";

    #[test]
    fn ts_univariate_with_labels() {
        let (_dir, path) = ts(UNIVARIATE);
        let set = read_ts(&path).unwrap();
        assert_eq!(set.values, vec![vec![1.0, 2.0, 3.0], vec![4.5, -5.0, 60.0]]);
        assert_eq!(set.lengths, vec![3, 3]);
        assert_eq!(set.channels, 1);
        // Indices follow the header's order (b, a), not sorted order.
        assert_eq!(set.labels, Some(vec![1, 0]));
        assert_eq!(set.class_names, vec!["b", "a"]);
    }

    #[test]
    fn ts_multivariate_unequal_length_and_missing() {
        let text = "@PROBLEMNAME m\n@Dimensions 2\n@equalLength false\n@classLabel true x y\n\
            @DATA\n1,2,3:4,5,6:y\n\n7,?:NaN,8:x\r\n";
        let (_dir, path) = ts(text);
        let set = read_ts(&path).unwrap();
        assert_eq!(set.channels, 2);
        assert_eq!(set.lengths, vec![3, 2]);
        assert_eq!(set.channel(0, 1), &[4.0, 5.0, 6.0]);
        assert_eq!(set.channel(1, 0)[0], 7.0);
        assert!(set.channel(1, 0)[1].is_nan() && set.channel(1, 1)[0].is_nan());
        assert_eq!(set.channel(1, 1)[1], 8.0);
        assert_eq!(set.labels, Some(vec![1, 0]));
    }

    #[test]
    fn ts_without_labels_takes_channels_from_the_first_line() {
        let (_dir, path) = ts("@classLabel false\n@data\n1,2:3,4\n5:6\n");
        let set = read_ts(&path).unwrap();
        assert_eq!(
            (set.channels, set.labels.clone(), set.lengths.clone()),
            (2, None, vec![2, 1])
        );
        ts_error(
            "@classLabel false\n@data\n1,2:3,4\n5:6:7\n",
            4,
            "expected 2 channels, found 3",
        );
    }

    #[test]
    fn ts_malformed_input_names_file_and_line() {
        ts_error("", 1, "missing @data");
        ts_error("@classLabel true a\n", 1, "missing @data");
        ts_error("@classLabel true a\n@data\n", 2, "no series after @data");
        ts_error(
            "@classLabel true a\n@data\n# only a comment\n",
            3,
            "no series",
        );
        ts_error(
            "@dimensions 2\n@classLabel true a\n@data\n1,2:3,4:a\n1,2:a\n",
            5,
            "expected 2 channels, found 1",
        );
        ts_error(
            "@classLabel true a\n@data\n1,2x,3:a\n",
            3,
            "bad number '2x'",
        );
        ts_error("@classLabel true a\n@data\n1,,3:a\n", 3, "bad number ''");
        ts_error(
            "@classLabel true a b\n@data\n1,2:c\n",
            3,
            "class label 'c' is not in @classLabel (a b)",
        );
        ts_error(
            "@dimensions 2\n@classLabel true a\n@data\n1,2:3:a\n",
            4,
            "channel 2 has 1 values, channel 1 has 2",
        );
        ts_error(
            "@timeStamps true\n@data\n",
            1,
            "timestamped .ts series are not supported",
        );
        ts_error("@classLabel false\n@data\n(0,1),(1,2)\n", 3, "timestamped");
        ts_error(
            "@equalLength true\n@seriesLength 3\n@classLabel true a\n@data\n1,2:a\n",
            5,
            "expected 3 values",
        );
        ts_error("@classLabel true a\n@data\n1,2,3\n", 3, "found no ':'");
        ts_error("@classLabel true\n@data\n", 1, "lists no class labels");
        ts_error(
            "@dimensions two\n@data\n",
            1,
            "expected a positive integer, found 'two'",
        );
        ts_error("1,2,3\n@data\n", 1, "expected a @key header or @data");
        // Truncated: the last line stops mid-number.
        ts_error(
            "@classLabel true a\n@data\n1,2,3:a\n1,2,3e",
            4,
            "found no ':'",
        );
        ts_error(
            "@classLabel true a\n@data\n1,2,3:a\n1,2,3e:a",
            4,
            "bad number '3e'",
        );
    }

    #[test]
    fn csv_with_header_and_first_label() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "a.csv",
            "label,t0,t1,t2\n10,1,2,3\n9,4,,?\n\nb,NaN,5,6\n",
        );
        let set = read_csv(&path, LabelColumn::First, None).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(set.values[0], vec![1.0, 2.0, 3.0]);
        assert!(
            set.values[1][1].is_nan() && set.values[1][2].is_nan() && set.values[2][0].is_nan()
        );
        // Mixed labels sort as strings.
        assert_eq!(set.class_names, vec!["10", "9", "b"]);
        assert_eq!(set.labels, Some(vec![0, 1, 2]));
    }

    #[test]
    fn csv_numeric_labels_sort_numerically_and_last_column_works() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "a.csv", "1,2,10\n3,4,9\n5,6,10\n");
        let set = read_csv(&path, LabelColumn::Last, None).unwrap();
        assert_eq!(set.class_names, vec!["9", "10"]);
        assert_eq!(set.labels, Some(vec![1, 0, 1]));
        assert_eq!(set.values[1], vec![3.0, 4.0]);
    }

    #[test]
    fn csv_without_labels_or_header_and_tab_separated() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "a.csv", "1,2,3\n4,5\n");
        let set = read_csv(&path, LabelColumn::None, None).unwrap();
        assert_eq!(
            (set.labels.clone(), set.lengths.clone()),
            (None, vec![3, 2])
        );
        let path = write(dir.path(), "b.tsv", "2\t1.5\t2.5\n1\t3\t4\n");
        let set = read_csv(&path, LabelColumn::First, None).unwrap();
        assert_eq!(set.values, vec![vec![1.5, 2.5], vec![3.0, 4.0]]);
        assert_eq!(set.labels, Some(vec![1, 0]));
    }

    #[test]
    fn csv_given_class_names_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["b".to_string(), "a".to_string()];
        let path = write(dir.path(), "a.csv", "a,1,2\nb,3,4\n");
        let set = read_csv(&path, LabelColumn::First, Some(&names)).unwrap();
        assert_eq!(set.labels, Some(vec![1, 0]));
        let cases = [
            (
                "a,1,2\nc,3,4\n",
                "a.csv:2: class label 'c' is not one of the classes (b, a)",
            ),
            ("a,1,2\nb,3,x\n", "a.csv:2: bad number 'x'"),
            ("", "a.csv:1: empty file"),
            ("h,t0\n", "a.csv:1: no series"),
            (
                "a,1\nb\n",
                "a.csv:2: expected a label and at least one value",
            ),
        ];
        for (text, want) in cases {
            let path = write(dir.path(), "a.csv", text);
            let err = format!(
                "{:#}",
                read_csv(&path, LabelColumn::First, Some(&names)).unwrap_err()
            );
            assert!(err.contains(want), "expected '{want}' in: {err}");
        }
    }

    #[test]
    fn load_series_folder_pair_single_file_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("Toy");
        std::fs::create_dir(&folder).unwrap();
        let err = load_series(&folder).unwrap_err();
        // A caller can tell a bad file from any other failure, and which path it was.
        let bad = err.downcast_ref::<DataError>().expect("a data error");
        assert_eq!(bad.path(), folder.as_path());
        let err = format!("{err:#}");
        assert!(err.contains("Toy: no series files"), "{err}");
        write(&folder, "Other_TRAIN.ts", UNIVARIATE);
        let err = format!("{:#}", load_series(&folder).unwrap_err());
        assert!(err.contains("no matching _TEST"), "{err}");
        // Test header lists the classes in another order: labels are mapped to the train order.
        write(
            &folder,
            "Other_TEST.ts",
            "@classLabel true a b\n@data\n1,2,3:a\n",
        );
        let p = load_series(&folder).unwrap();
        assert_eq!(p.name, "Other");
        let test = p.test.unwrap();
        assert_eq!(
            (test.labels, test.class_names),
            (Some(vec![1]), vec!["b".to_string(), "a".to_string()])
        );
        // The folder-named pair wins over any other pair.
        write(&folder, "Toy_TRAIN.csv", "x,1,2\ny,3,4\n");
        write(&folder, "Toy_TEST.csv", "y,5,6\n");
        let p = load_series(&folder).unwrap();
        assert_eq!(p.name, "Toy");
        assert_eq!(p.test.unwrap().labels, Some(vec![1]));
        let single = load_series(&folder.join("Toy_TRAIN.csv")).unwrap();
        assert_eq!(
            (
                single.name.as_str(),
                single.test.is_none(),
                single.train.len()
            ),
            ("Toy", true, 2)
        );
        // Channel counts must agree.
        write(
            &folder,
            "Toy_TRAIN.ts",
            "@dimensions 2\n@classLabel true a\n@data\n1:2:a\n",
        );
        write(&folder, "Toy_TEST.ts", "@classLabel true a\n@data\n1:a\n");
        let err = format!("{:#}", load_series(&folder).unwrap_err());
        assert!(
            err.contains("Toy_TRAIN.ts has 2 channels but") && err.contains("Toy_TEST.ts has 1"),
            "{err}"
        );
    }

    #[test]
    fn normalise_per_series_per_channel_ignoring_nan() {
        let mut set = SeriesSet {
            values: vec![vec![1.0, 3.0, f32::NAN, 5.0, 5.0, 5.0]],
            lengths: vec![3],
            channels: 2,
            labels: None,
            class_names: vec![],
        };
        set.normalise_per_series();
        let v = &set.values[0];
        assert!((v[0] + 1.0).abs() < 1e-6 && (v[1] - 1.0).abs() < 1e-6 && v[2].is_nan());
        // A flat channel is centred, not divided by ~0.
        assert_eq!(&v[3..], &[0.0, 0.0, 0.0]);
    }

    /// A UCR problem of the shared data; a missing one is a failure.
    fn ucr(name: &str) -> SeriesProblem {
        let dir = crate::shared_data::shared_data().join("ucr").join(name);
        load_series(&dir).unwrap_or_else(|e| panic!("{e:#}"))
    }

    #[test]
    #[cfg_attr(
        not(shared_data),
        ignore = "needs ../shared/data (or AUTODIDACT_DATA); absent when this crate was built"
    )]
    fn real_ucr_gunpoint() {
        let p = ucr("GunPoint");
        let test = p.test.as_ref().unwrap();
        assert_eq!((p.train.len(), test.len(), p.train.channels), (50, 150, 1));
        assert!(
            p.train
                .lengths
                .iter()
                .chain(&test.lengths)
                .all(|&l| l == 150)
        );
        assert_eq!(p.train.num_classes(), 2);
    }

    #[test]
    #[cfg_attr(
        not(shared_data),
        ignore = "needs ../shared/data (or AUTODIDACT_DATA); absent when this crate was built"
    )]
    fn real_ucr_basic_motions() {
        let p = ucr("BasicMotions");
        let test = p.test.as_ref().unwrap();
        assert_eq!(
            (p.train.len(), test.len(), p.train.channels, test.channels),
            (40, 40, 6, 6)
        );
        assert_eq!(p.train.num_classes(), 4);
    }

    #[test]
    #[cfg_attr(
        not(shared_data),
        ignore = "needs ../shared/data (or AUTODIDACT_DATA); absent when this crate was built"
    )]
    fn real_ucr_japanese_vowels() {
        let p = ucr("JapaneseVowels");
        let test = p.test.as_ref().unwrap();
        assert_eq!(
            (p.train.len(), test.len(), p.train.channels),
            (270, 370, 12)
        );
        let all: Vec<usize> = p
            .train
            .lengths
            .iter()
            .chain(&test.lengths)
            .copied()
            .collect();
        assert_eq!((all.iter().min(), all.iter().max()), (Some(&7), Some(&29)));
        assert_eq!(p.train.num_classes(), 9);
        let labels = p.train.labels.as_ref().unwrap();
        assert!((0..9).all(|c| labels.iter().filter(|&&l| l == c).count() == 30));
    }
}
