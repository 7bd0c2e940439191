//! The pairs file: a `.tsv` (or `.csv`) whose header names the two sides of every pair
//! (`image<TAB>caption`, `image<TAB>audio`) and optionally a `split` column; a split file
//! (`image<TAB>split`) may give the splits instead. `--data FOLDER` finds all three in a folder
//! laid out as Flickr8k is: the pairs file, the split file, and the images as a folder or an
//! archive.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use autodidact_core::error::DataError;

/// What an image is paired with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partner {
    /// A caption (column `caption` or `text`).
    Caption,
    /// A WAV recording (column `audio`): a path relative to the pairs file's folder.
    Audio,
}

impl Partner {
    pub fn name(self) -> &'static str {
        match self {
            Partner::Caption => "caption",
            Partner::Audio => "audio",
        }
    }
}

/// Which part of the data a pair belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    fn parse(s: &str) -> Option<Split> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" => Some(Split::Train),
            "val" | "valid" | "validation" | "dev" => Some(Split::Val),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
}

/// One row of a pairs file.
#[derive(Clone, Debug, PartialEq)]
pub struct PairRow {
    /// 1-based line in the file, for errors.
    pub line: usize,
    pub image: String,
    /// The caption, or the recording's path as written.
    pub partner: String,
    /// The split column's value, if the file has one.
    pub split: Option<Split>,
}

/// A pairs file read and checked line by line.
#[derive(Clone, Debug)]
pub struct PairsFile {
    pub path: PathBuf,
    pub partner: Partner,
    pub rows: Vec<PairRow>,
}

/// Where a paired data set's parts are.
#[derive(Clone, Debug, PartialEq)]
pub struct PairsLayout {
    pub pairs: PathBuf,
    /// A folder of images or a `.tar`/`.tar.gz`/`.tgz` of one.
    pub images: PathBuf,
    pub splits: Option<PathBuf>,
}

fn separator(path: &Path) -> char {
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if csv { ',' } else { '\t' }
}

/// The fields of a line; CSV fields may be double-quoted (`""` inside is a quote).
fn fields(line: &str, sep: char) -> Vec<String> {
    if sep == '\t' {
        return line.split('\t').map(str::to_string).collect();
    }
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (c, false) if c == sep => out.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    out.push(field);
    out
}

/// A table file: its header's columns (lower-cased, trimmed) and its other lines, each with its
/// 1-based number, blank lines skipped.
struct Table {
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    fn read(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let sep = separator(path);
        let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
        let header = header_fields(lines.next().unwrap_or_default(), sep);
        let rows = lines
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 2, fields(l, sep)))
            .collect();
        Ok(Self { header, rows })
    }
}

/// The header's columns, lower-cased and trimmed (the first line only is read).
fn header_of(path: &Path) -> Result<Vec<String>, DataError> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut first = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut first)
        .map_err(|e| DataError::io(path, e))?;
    Ok(header_fields(&first, separator(path)))
}

fn header_fields(line: &str, sep: char) -> Vec<String> {
    fields(line.trim_end_matches(['\r', '\n']), sep)
        .into_iter()
        .map(|f| f.trim().to_ascii_lowercase())
        .collect()
}

fn column(header: &[String], names: &[&str]) -> Option<usize> {
    header.iter().position(|h| names.contains(&h.as_str()))
}

impl PairsFile {
    /// Reads `path`: a header with an `image` column, one `caption`/`text` or `audio` column,
    /// and optionally `split`; then one pair per line.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let Table {
            header,
            rows: lines,
        } = Table::read(path)?;
        let image = column(&header, &["image"]).ok_or_else(|| {
            DataError::invalid(
                path,
                format!(
                    "line 1: the header names no `image` column (found {})",
                    header.join(", ")
                ),
            )
        })?;
        let (partner, other) = match (
            column(&header, &["caption", "text"]),
            column(&header, &["audio"]),
        ) {
            (Some(c), None) => (Partner::Caption, c),
            (None, Some(a)) => (Partner::Audio, a),
            (Some(_), Some(_)) => {
                return Err(DataError::invalid(
                    path,
                    "line 1: the header names both a caption and an audio column; a pairs file pairs images with one of them",
                ));
            }
            (None, None) => {
                return Err(DataError::invalid(
                    path,
                    "line 1: the header names no `caption` (or `text`) or `audio` column",
                ));
            }
        };
        let split = column(&header, &["split"]);
        let mut rows = Vec::new();
        for (number, f) in lines {
            let at = |c: usize| f.get(c).map(|s| s.trim()).unwrap_or_default();
            let problem =
                |message: String| DataError::invalid(path, format!("line {number}: {message}"));
            if f.len() < header.len() {
                return Err(problem(format!(
                    "{} fields, the header has {}",
                    f.len(),
                    header.len()
                )));
            }
            if at(image).is_empty() {
                return Err(problem("empty image name".into()));
            }
            if at(other).is_empty() {
                return Err(problem(format!("empty {}", partner.name())));
            }
            let split = match split {
                None => None,
                Some(c) => Some(Split::parse(at(c)).ok_or_else(|| {
                    problem(format!("split {:?}: expected train, val or test", at(c)))
                })?),
            };
            rows.push(PairRow {
                line: number,
                image: at(image).to_string(),
                partner: at(other).to_string(),
                split,
            });
        }
        if rows.is_empty() {
            return Err(DataError::invalid(path, "no pairs below the header"));
        }
        Ok(Self {
            path: path.to_path_buf(),
            partner,
            rows,
        })
    }
}

/// Reads a split file (`image<TAB>split`): each image's split.
pub fn read_splits(path: &Path) -> Result<HashMap<String, Split>, DataError> {
    let Table { header, rows } = Table::read(path)?;
    let (Some(image), Some(split)) = (column(&header, &["image"]), column(&header, &["split"]))
    else {
        return Err(DataError::invalid(
            path,
            "line 1: a split file's header names an `image` and a `split` column",
        ));
    };
    let mut out = HashMap::new();
    for (number, f) in rows {
        let name = f.get(image).map(|s| s.trim()).unwrap_or_default();
        let value = f.get(split).map(|s| s.trim()).unwrap_or_default();
        let s = Split::parse(value).ok_or_else(|| {
            DataError::invalid(
                path,
                format!("line {number}: split {value:?}: expected train, val or test"),
            )
        })?;
        if out.insert(name.to_string(), s).is_some_and(|old| old != s) {
            return Err(DataError::invalid(
                path,
                format!("line {number}: image {name} has two splits"),
            ));
        }
    }
    Ok(out)
}

fn is_archive(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    [".tar", ".tar.gz", ".tgz"]
        .iter()
        .any(|e| name.ends_with(e))
}

impl PairsLayout {
    /// Finds the parts of `path`: a folder holding a pairs file (a `.tsv`/`.csv` whose header
    /// names `image` and a partner column), the images (an `images/` folder or the one archive)
    /// and optionally a split file (header `image`, `split` and nothing else); or a pairs file,
    /// whose folder is searched for the rest.
    pub fn find(path: &Path) -> Result<Self, DataError> {
        let (folder, given) = if path.is_dir() {
            (path.to_path_buf(), None)
        } else if path.is_file() {
            let folder = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            (folder, Some(path.to_path_buf()))
        } else {
            return Err(DataError::invalid(path, "no such file or directory"));
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&folder)
            .map_err(|e| DataError::io(&folder, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        entries.sort();
        let tables: Vec<&PathBuf> = entries
            .iter()
            .filter(|p| {
                p.is_file()
                    && p.extension().is_some_and(|e| {
                        e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("csv")
                    })
            })
            .collect();
        let mut pairs = Vec::new();
        let mut splits = Vec::new();
        for table in tables {
            let header = header_of(table)?;
            let partner = column(&header, &["caption", "text", "audio"]).is_some();
            if header.iter().any(|h| h == "image") {
                if partner {
                    pairs.push(table.clone());
                } else if header.len() == 2 && header.iter().any(|h| h == "split") {
                    splits.push(table.clone());
                }
            }
        }
        let pairs = match (given, pairs.as_slice()) {
            (Some(file), _) if pairs.iter().any(|p| p.file_name() == file.file_name()) => file,
            (Some(file), _) => {
                return Err(DataError::invalid(
                    &file,
                    "is not a pairs file: a .tsv or .csv whose header names `image` and `caption` (or `audio`)",
                ));
            }
            (None, [one]) => one.clone(),
            (None, []) => {
                return Err(DataError::invalid(
                    &folder,
                    "holds no pairs file: a .tsv or .csv whose header names `image` and `caption` (or `audio`)",
                ));
            }
            (None, many) => {
                return Err(DataError::invalid(
                    &folder,
                    format!(
                        "holds {} pairs files ({}): pass the one to train on",
                        many.len(),
                        many.iter()
                            .map(|p| p.file_name().unwrap_or_default().to_string_lossy())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        };
        let images_dir = folder.join("images");
        let archives: Vec<&PathBuf> = entries
            .iter()
            .filter(|p| p.is_file() && is_archive(p))
            .collect();
        let images = if images_dir.is_dir() {
            images_dir
        } else {
            match archives.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(DataError::invalid(
                        &folder,
                        "holds no images: expected an images/ folder or a .tar/.tar.gz of them",
                    ));
                }
                _ => {
                    return Err(DataError::invalid(
                        &folder,
                        "holds several image archives and no images/ folder: keep one",
                    ));
                }
            }
        };
        let splits = match splits.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            _ => {
                return Err(DataError::invalid(
                    &folder,
                    "holds several split files (header `image`, `split`): keep one",
                ));
            }
        };
        Ok(Self {
            pairs,
            images,
            splits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_may_be_quoted() {
        assert_eq!(
            fields(r#"a.png,"a dog, running ""fast""",test"#, ','),
            ["a.png", r#"a dog, running "fast""#, "test"]
        );
        assert_eq!(fields("a\tb", '\t'), ["a", "b"]);
    }

    #[test]
    fn splits_accept_the_usual_names() {
        assert_eq!(Split::parse("Validation"), Some(Split::Val));
        assert_eq!(Split::parse(" test "), Some(Split::Test));
        assert_eq!(Split::parse("holdout"), None);
    }
}
