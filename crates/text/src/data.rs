//! Text readers: plain corpora and labelled TSV/CSV sets.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{LabelledTexts, TextProblem};
use autodidact_core::error::DataError;

/// How a plain corpus is cut into texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextUnit {
    /// Every line with some non-whitespace content.
    Lines,
    /// Blocks of lines separated by blank (whitespace-only) lines, joined with `\n`.
    Documents,
}

/// Share of each class that goes to the test split of a single labelled file.
const TEST_SHARE: f64 = 0.2;

/// Reads a corpus of texts from a text file, a folder of `.txt`/`.raw` files (sorted by name, not
/// recursive) or a labelled TSV/CSV file (its text column only; labels are ignored).
pub fn read_corpus(path: &Path, unit: TextUnit) -> Result<Vec<String>> {
    read_corpus_at(path, unit).map_err(|e| DataError::read(path, e))
}

fn read_corpus_at(path: &Path, unit: TextUnit) -> Result<Vec<String>> {
    let mut texts = Vec::new();
    if path.is_dir() {
        let files = files_in(path, has_plain_text_extension)?;
        if files.is_empty() {
            bail!("{}: no .txt or .raw files in this folder", path.display());
        }
        for file in files {
            texts.extend(split_text(&read_utf8(&file)?, unit));
        }
    } else if !path.exists() {
        bail!("{}: no such file or folder", path.display());
    } else if is_labelled_file(path)? {
        texts = read_rows(path)?.into_iter().map(|row| row.text).collect();
    } else {
        texts = split_text(&read_utf8(path)?, unit);
    }
    if texts.is_empty() {
        bail!("{}: empty corpus (no text in it)", path.display());
    }
    Ok(texts)
}

/// Reads a labelled set: a `.tsv` (or extension-less tab-separated file such as the SMS Spam
/// Collection) whose header names a `label`/`class` column and a `sentence`/`content`/`text`/`sms`
/// column (without such a header: label first, text second), or a quoted `.csv` of `class,text` or
/// `class,title,description` rows (text = `title. description`).
///
/// Class names are the sorted distinct labels (numerically when all are integers); with a
/// `classes.txt` next to the file, labels `1..=N` are named by its lines in order.
pub fn read_labelled(path: &Path) -> Result<LabelledTexts> {
    read_labelled_at(path).map_err(|e| DataError::read(path, e))
}

fn read_labelled_at(path: &Path) -> Result<LabelledTexts> {
    let rows = read_rows(path)?;
    let class_names = match read_classes_txt(path)? {
        Some(names) => names,
        None => sorted_labels(&rows),
    };
    labelled_with_classes(path, rows, &class_names)
}

/// Loads a labelled problem from `path`.
///
/// * A folder with `train.tsv` and `test.tsv` (or `.csv`): these are the splits (`dev.*` is ignored).
/// * A labelled file, or a folder holding exactly one (`.tsv`, `.csv` or an extension-less file
///   such as `SMSSpamCollection`): it is split into train and test by a stratified split seeded
///   by `seed`: in every class, a shuffled `round(20 %)` of its texts goes to test and the rest to
///   train; both splits keep the file's order.
///
/// The test set uses the train set's class names; a test label unknown to train is an error.
pub fn load_text_problem(path: &Path, seed: u64) -> Result<TextProblem> {
    read_problem(path, seed).map_err(|e| DataError::read(path, e))
}

fn read_problem(path: &Path, seed: u64) -> Result<TextProblem> {
    if !path.exists() {
        bail!("{}: no such file or folder", path.display());
    }
    let name = problem_name(path);
    if path.is_dir() {
        let split_file = |stem: &str| {
            ["tsv", "csv"]
                .iter()
                .map(|ext| path.join(format!("{stem}.{ext}")))
                .find(|p| p.is_file())
        };
        if let (Some(train_path), Some(test_path)) = (split_file("train"), split_file("test")) {
            let train = read_labelled(&train_path)?;
            let test_rows = read_rows(&test_path)?;
            let test = labelled_with_classes(&test_path, test_rows, &train.class_names)
                .with_context(|| {
                    format!("test labels must be classes of {}", train_path.display())
                })?;
            return Ok(TextProblem { name, train, test });
        }
        let candidates = files_in(path, |p| {
            matches!(extension(p).as_deref(), Some("tsv" | "csv") | None)
        })?;
        match candidates.as_slice() {
            [file] => split_problem(name, file, seed),
            _ => bail!(
                "{}: expected train.tsv + test.tsv or exactly one labelled file (.tsv, .csv or \
                 no extension), found {}",
                path.display(),
                if candidates.is_empty() {
                    "none".to_string()
                } else {
                    candidates
                        .iter()
                        .map(|p| file_name(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        }
    } else {
        split_problem(name, path, seed)
    }
}

/// The texts to pre-train on without labels: the problem's train texts.
pub fn text_problem_corpus(problem: &TextProblem) -> Vec<String> {
    problem.train.texts.clone()
}

/// One labelled row as read, before its label is turned into a class index.
struct Row {
    label: String,
    text: String,
    line: usize,
}

fn split_problem(name: String, file: &Path, seed: u64) -> Result<TextProblem> {
    let all = read_labelled(file)?;
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); all.num_classes()];
    for (i, &label) in all.labels.iter().enumerate() {
        by_class[label as usize].push(i);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut train_idx, mut test_idx) = (Vec::new(), Vec::new());
    for mut members in by_class {
        members.shuffle(&mut rng);
        let n_test = (members.len() as f64 * TEST_SHARE).round() as usize;
        test_idx.extend_from_slice(&members[..n_test]);
        train_idx.extend_from_slice(&members[n_test..]);
    }
    if train_idx.is_empty() || test_idx.is_empty() {
        bail!(
            "{}: {} labelled texts are too few for a 80/20 train/test split",
            file.display(),
            all.len()
        );
    }
    train_idx.sort_unstable();
    test_idx.sort_unstable();
    Ok(TextProblem {
        name,
        train: all.subset(&train_idx),
        test: all.subset(&test_idx),
    })
}

/// The folder's name, or the file's stem unless that is a generic split name (then the folder's).
fn problem_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let generic = ["train", "test", "dev", "data", "all"].contains(&stem.to_lowercase().as_str());
    if path.is_file()
        && generic
        && let Some(parent) = path.parent().and_then(|p| p.file_name())
    {
        return parent.to_string_lossy().into_owned();
    }
    if stem.is_empty() {
        "text".to_string()
    } else {
        stem
    }
}

fn labelled_with_classes(
    path: &Path,
    rows: Vec<Row>,
    class_names: &[String],
) -> Result<LabelledTexts> {
    let index: HashMap<&str, u32> = class_names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i as u32))
        .collect();
    let numbered = read_classes_txt(path)?.is_some();
    let mut texts = Vec::with_capacity(rows.len());
    let mut labels = Vec::with_capacity(rows.len());
    for row in rows {
        let class = if numbered {
            // Labels 1..=N name the lines of classes.txt.
            row.label
                .parse::<usize>()
                .ok()
                .filter(|&k| (1..=class_names.len()).contains(&k))
                .map(|k| (k - 1) as u32)
        } else {
            index.get(row.label.as_str()).copied()
        };
        let Some(class) = class else {
            bail!(
                "{}:{}: label '{}' is not one of the classes {}",
                path.display(),
                row.line,
                row.label,
                if numbered {
                    format!("1..={} of classes.txt", class_names.len())
                } else {
                    format!("[{}]", class_names.join(", "))
                }
            );
        };
        labels.push(class);
        texts.push(row.text);
    }
    Ok(LabelledTexts {
        texts,
        labels,
        class_names: class_names.to_vec(),
    })
}

/// Distinct labels, sorted numerically when all are integers, else as strings.
fn sorted_labels(rows: &[Row]) -> Vec<String> {
    let distinct: BTreeSet<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let mut names: Vec<String> = distinct.into_iter().map(str::to_string).collect();
    let numeric: Option<Vec<i64>> = names.iter().map(|n| n.parse::<i64>().ok()).collect();
    if let Some(values) = numeric {
        let mut pairs: Vec<(i64, String)> = values.into_iter().zip(names).collect();
        pairs.sort();
        names = pairs.into_iter().map(|(_, n)| n).collect();
    }
    names
}

/// The lines of `classes.txt` next to `path`, if there is one.
fn read_classes_txt(path: &Path) -> Result<Option<Vec<String>>> {
    let Some(classes) = path.parent().map(|dir| dir.join("classes.txt")) else {
        return Ok(None);
    };
    if !classes.is_file() {
        return Ok(None);
    }
    let names: Vec<String> = read_utf8(&classes)?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    if names.is_empty() {
        bail!("{}: no class names in it", classes.display());
    }
    Ok(Some(names))
}

/// Whether `path` is read as a labelled file: `.tsv`/`.csv`, or an extension-less file whose
/// first line is a tab-separated header with a label column.
fn is_labelled_file(path: &Path) -> Result<bool> {
    Ok(match extension(path).as_deref() {
        Some("tsv" | "csv") => true,
        None => {
            let text = read_utf8(path)?;
            let first = text.lines().next().unwrap_or("");
            first.contains('\t') && header_columns(&split_tsv(first)).is_some()
        }
        Some(_) => false,
    })
}

fn read_rows(path: &Path) -> Result<Vec<Row>> {
    if !path.is_file() {
        bail!("{}: no such file", path.display());
    }
    let text = read_utf8(path)?;
    let rows = if extension(path).as_deref() == Some("csv") {
        csv_rows(path, &text)?
    } else {
        tsv_rows(path, &text)?
    };
    if rows.is_empty() {
        bail!("{}: no labelled rows in it", path.display());
    }
    Ok(rows)
}

/// Non-blank lines with their 1-based line numbers, `\r` stripped.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.trim().is_empty())
}

fn split_tsv(line: &str) -> Vec<&str> {
    line.split('\t').collect()
}

/// (label column, text column) when `fields` is a header naming both.
fn header_columns(fields: &[&str]) -> Option<(usize, Option<usize>)> {
    let find = |names: &[&str]| {
        fields
            .iter()
            .position(|f| names.contains(&f.trim().to_lowercase().as_str()))
    };
    let label = find(&["label", "class"])?;
    Some((label, find(&["sentence", "content", "text", "sms"])))
}

fn tsv_rows(path: &Path, text: &str) -> Result<Vec<Row>> {
    let mut lines = numbered_lines(text).peekable();
    let Some(&(first_no, first)) = lines.peek() else {
        return Ok(Vec::new());
    };
    let first_fields = split_tsv(first);
    let (n_columns, label_col, text_col) = match header_columns(&first_fields) {
        Some((label, Some(text))) => {
            lines.next();
            (first_fields.len(), label, text)
        }
        Some((_, None)) => bail!(
            "{}:{}: header has no text column (sentence, content, text or sms): found [{}]",
            path.display(),
            first_no,
            first_fields.join(", ")
        ),
        None => (2, 0, 1),
    };
    let mut rows = Vec::new();
    for (line_no, line) in lines {
        let fields = split_tsv(line);
        if fields.len() != n_columns {
            bail!(
                "{}:{}: expected {} tab-separated columns, found {}",
                path.display(),
                line_no,
                n_columns,
                fields.len()
            );
        }
        rows.push(checked_row(
            path,
            line_no,
            fields[label_col],
            fields[text_col].to_string(),
        )?);
    }
    Ok(rows)
}

fn csv_rows(path: &Path, text: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut n_columns = None;
    for (line_no, line) in numbered_lines(text) {
        let fields = split_csv(line)
            .map_err(|problem| anyhow!("{}:{}: {}", path.display(), line_no, problem))?;
        let expected = *n_columns.get_or_insert(fields.len());
        if fields.len() != expected || !(2..=3).contains(&fields.len()) {
            bail!(
                "{}:{}: expected {} comma-separated columns (class,text or class,title,description), found {}",
                path.display(),
                line_no,
                if (2..=3).contains(&expected) {
                    expected.to_string()
                } else {
                    "2 or 3".to_string()
                },
                fields.len()
            );
        }
        if rows.is_empty() && ["class", "label"].contains(&fields[0].trim().to_lowercase().as_str())
        {
            continue; // a header line
        }
        let text = match fields.as_slice() {
            [_, title, description]
                if !title.trim().is_empty() && !description.trim().is_empty() =>
            {
                format!("{}. {}", title.trim(), description.trim())
            }
            [_, title, description] => format!("{}{}", title.trim(), description.trim()),
            [_, text] => text.clone(),
            _ => unreachable!("column count checked above"),
        };
        rows.push(checked_row(path, line_no, &fields[0], text)?);
    }
    Ok(rows)
}

fn checked_row(path: &Path, line: usize, label: &str, text: String) -> Result<Row> {
    let label = label.trim();
    if label.is_empty() {
        bail!("{}:{}: empty label", path.display(), line);
    }
    if text.trim().is_empty() {
        bail!("{}:{}: empty text", path.display(), line);
    }
    Ok(Row {
        label: label.to_string(),
        text,
        line,
    })
}

/// Splits one CSV line: fields are bare or double-quoted, `""` inside quotes is a quote.
fn split_csv(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => {
                        return Err(format!(
                            "unterminated quoted field {} (a closing \" is missing)",
                            fields.len() + 1
                        ));
                    }
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => {
                    return Err(format!(
                        "unexpected '{c}' after the closing quote of field {}",
                        fields.len() + 1
                    ));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err(format!(
                            "stray '\"' inside unquoted field {}",
                            fields.len() + 1
                        ));
                    }
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

fn split_text(text: &str, unit: TextUnit) -> Vec<String> {
    let lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    match unit {
        TextUnit::Lines => lines
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect(),
        TextUnit::Documents => {
            let mut docs = Vec::new();
            let mut current: Vec<&str> = Vec::new();
            for line in lines {
                if line.trim().is_empty() {
                    if !current.is_empty() {
                        docs.push(current.join("\n"));
                        current.clear();
                    }
                } else {
                    current.push(line);
                }
            }
            if !current.is_empty() {
                docs.push(current.join("\n"));
            }
            docs
        }
    }
}

/// The file as UTF-8 (a leading byte-order mark dropped); invalid bytes are reported by line.
fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.drain(..'\u{feff}'.len_utf8());
            }
            Ok(text)
        }
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let line = err.as_bytes()[..valid]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            bail!("{}:{}: invalid UTF-8", path.display(), line)
        }
    }
}

/// Plain files directly in `dir` that `keep` accepts, sorted by name (hidden files skipped).
fn files_in(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list the folder", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("{}: cannot list the folder", dir.display()))?
            .path();
        if path.is_file() && !file_name(&path).starts_with('.') && keep(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A `.txt` or `.raw` name: a plain corpus, one text per line or block, never a labelled table.
fn has_plain_text_extension(path: &Path) -> bool {
    matches!(extension(path).as_deref(), Some("txt" | "raw"))
}

/// A `.txt` or `.raw` file (not a folder).
pub fn is_plain_text_file(path: &Path) -> bool {
    path.is_file() && has_plain_text_extension(path)
}

fn extension(path: &Path) -> Option<String> {
    path.extension().map(|e| e.to_string_lossy().to_lowercase())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn err_of<T: std::fmt::Debug>(r: Result<T>) -> String {
        format!("{:#}", r.unwrap_err())
    }

    #[test]
    fn corpus_lines_and_documents_with_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "a.txt",
            b"one\r\ntwo\r\n \r\n\r\nthree\r\nfour\r\n",
        );
        assert_eq!(
            read_corpus(&f, TextUnit::Lines).unwrap(),
            ["one", "two", "three", "four"]
        );
        assert_eq!(
            read_corpus(&f, TextUnit::Documents).unwrap(),
            ["one\ntwo", "three\nfour"]
        );
        // A folder reads its .txt/.raw files in name order and ignores others.
        write(dir.path(), "b.raw", b"five\n");
        write(dir.path(), "c.md", b"ignored\n");
        assert_eq!(
            read_corpus(dir.path(), TextUnit::Lines).unwrap(),
            ["one", "two", "three", "four", "five"]
        );
    }

    #[test]
    fn corpus_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.txt");
        assert!(err_of(read_corpus(&missing, TextUnit::Lines)).contains("nope.txt: no such file"));
        let empty = write(dir.path(), "empty.txt", b"\n  \r\n");
        assert!(
            err_of(read_corpus(&empty, TextUnit::Documents)).contains("empty.txt: empty corpus")
        );
        let bad = write(
            dir.path(),
            "bad.txt",
            b"fine\nalso fine\nbroken \xff here\n",
        );
        assert!(err_of(read_corpus(&bad, TextUnit::Lines)).ends_with("bad.txt:3: invalid UTF-8"));
        let other = tempfile::tempdir().unwrap();
        write(other.path(), "x.md", b"text\n");
        assert!(
            err_of(read_corpus(other.path(), TextUnit::Lines)).contains("no .txt or .raw files")
        );
    }

    #[test]
    fn corpus_of_a_labelled_file_is_its_text_column() {
        let dir = tempfile::tempdir().unwrap();
        let tsv = write(
            dir.path(),
            "s.tsv",
            b"sentence\tlabel\r\ngood film\t1\r\nbad film\t0\r\n",
        );
        assert_eq!(
            read_corpus(&tsv, TextUnit::Lines).unwrap(),
            ["good film", "bad film"]
        );
        let sms = write(
            dir.path(),
            "SMS",
            b"Label\tSMS\nham\thi there\nspam\tWIN now\n",
        );
        assert_eq!(
            read_corpus(&sms, TextUnit::Documents).unwrap(),
            ["hi there", "WIN now"]
        );
        // An extension-less file without a label header is plain text.
        let plain = write(dir.path(), "PLAIN", b"a\tb\nc\n");
        assert_eq!(read_corpus(&plain, TextUnit::Lines).unwrap(), ["a\tb", "c"]);
    }

    #[test]
    fn tsv_with_header_finds_columns_and_sorts_numeric_labels() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), "t.tsv", b"Text\tClass\nx y\t10\nz\t9\nw\t10\n");
        let set = read_labelled(&f).unwrap();
        assert_eq!(set.class_names, ["9", "10"]);
        assert_eq!(set.labels, [1, 0, 1]);
        assert_eq!(set.texts, ["x y", "z", "w"]);
        // No header: label first, text second; string labels sorted.
        let g = write(dir.path(), "u.tsv", b"spam\tWIN\nham\thello\n");
        let set = read_labelled(&g).unwrap();
        assert_eq!(
            (set.class_names.clone(), set.labels.clone()),
            (vec!["ham".into(), "spam".into()], vec![1, 0])
        );
    }

    #[test]
    fn malformed_tsv_rows_are_reported_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "t.tsv",
            b"label\tsentence\n0\tok\n1\ttoo\tmany\n",
        );
        assert!(
            err_of(read_labelled(&f))
                .ends_with("t.tsv:3: expected 2 tab-separated columns, found 3")
        );
        let f = write(
            dir.path(),
            "e.tsv",
            b"label\tsentence\r\n0\tok\r\n1\t  \r\n",
        );
        assert!(err_of(read_labelled(&f)).ends_with("e.tsv:3: empty text"));
        let f = write(dir.path(), "h.tsv", b"label\tfoo\n0\tok\n");
        assert!(err_of(read_labelled(&f)).contains("h.tsv:1: header has no text column"));
        let f = write(dir.path(), "only.tsv", b"label\tsentence\n");
        assert!(err_of(read_labelled(&f)).contains("only.tsv: no labelled rows"));
        // Truncated: the last row lost its text column.
        let f = write(dir.path(), "cut.tsv", b"label\tsentence\n0\tgood\n1");
        assert!(
            err_of(read_labelled(&f))
                .ends_with("cut.tsv:3: expected 2 tab-separated columns, found 1")
        );
    }

    #[test]
    fn quoted_csv_joins_title_and_description_and_uses_classes_txt() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "classes.txt", b"World\nSports\nBusiness\n");
        let f = write(
            dir.path(),
            "test.csv",
            b"\"2\",\"Goal!\",\"A \"\"late\"\" winner, at last\"\n\"1\",\"Talks\",\"Leaders meet\\again\"\n",
        );
        let set = read_labelled(&f).unwrap();
        assert_eq!(set.class_names, ["World", "Sports", "Business"]);
        assert_eq!(set.labels, [1, 0]);
        assert_eq!(
            set.texts,
            [
                "Goal!. A \"late\" winner, at last",
                "Talks. Leaders meet\\again"
            ]
        );
        let bad = write(
            dir.path(),
            "bad.csv",
            b"\"1\",\"a\",\"b\"\n\"5\",\"c\",\"d\"\n",
        );
        assert!(
            err_of(read_labelled(&bad))
                .contains("bad.csv:2: label '5' is not one of the classes 1..=3")
        );
    }

    #[test]
    fn malformed_csv_rows_are_reported_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[u8], &str); 5] = [
            (
                b"\"1\",\"a\",\"b\"\n\"2\",\"unterminated,\"x\n",
                "x.csv:2: unexpected 'x' after the closing quote",
            ),
            (
                b"\"1\",\"a\",\"b\"\n\"2\",\"a\",\"cut off\n",
                "x.csv:2: unterminated quoted field 3",
            ),
            (
                b"\"1\",\"a\",\"b\"\n\"2\",\"a\"\n",
                "x.csv:2: expected 3 comma-separated columns",
            ),
            (
                b"\"1\",\"a\",\"b\"\n\"2\",\"\",\"\"\n",
                "x.csv:2: empty text",
            ),
            (
                b"\"1\",\"a\",\"b\"\n\n\"2\",x\"y,\"c\"\n",
                "x.csv:3: stray '\"' inside unquoted field 2",
            ),
        ];
        for (content, expected) in cases {
            let f = write(dir.path(), "x.csv", content);
            let err = err_of(read_labelled(&f));
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }

    #[test]
    fn train_and_test_files_share_the_train_classes() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "train.tsv",
            b"label\tsentence\n1\ta\n0\tb\n1\tc\n",
        );
        write(dir.path(), "dev.tsv", b"label\tsentence\n7\tignored\n");
        write(dir.path(), "test.tsv", b"label\tcontent\n1\td\n1\te\n");
        let p = load_text_problem(dir.path(), 0).unwrap();
        assert_eq!(p.train.class_names, ["0", "1"]);
        // Test has only class "1" but keeps train's indices.
        assert_eq!(
            (p.test.labels.clone(), p.test.class_names.clone()),
            (vec![1, 1], p.train.class_names.clone())
        );
        write(dir.path(), "test.tsv", b"label\tcontent\n1\td\n2\te\n");
        let failed = load_text_problem(dir.path(), 0).unwrap_err();
        assert!(failed.downcast_ref::<DataError>().is_some(), "{failed:#}");
        let err = err_of(load_text_problem(dir.path(), 0));
        assert!(
            err.contains("test.tsv:3: label '2' is not one of the classes [0, 1]"),
            "{err}"
        );
    }

    #[test]
    fn single_file_is_split_stratified_and_seeded() {
        let dir = tempfile::tempdir().unwrap();
        let mut content = String::from("label\ttext\n");
        for i in 0..150 {
            let label = if i % 3 == 0 { "spam" } else { "ham" };
            content.push_str(&format!("{label}\tmessage {i}\n"));
        }
        let f = write(dir.path(), "msgs.tsv", content.as_bytes());
        let p = load_text_problem(&f, 7).unwrap();
        assert_eq!(p.name, "msgs");
        assert_eq!((p.train.len(), p.test.len()), (120, 30));
        let spam = |s: &LabelledTexts| s.labels.iter().filter(|&&l| l == 1).count();
        assert_eq!((spam(&p.train), spam(&p.test)), (40, 10));
        let mut all: Vec<&String> = p.train.texts.iter().chain(&p.test.texts).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 150);
        assert_eq!(load_text_problem(&f, 7).unwrap().test.texts, p.test.texts);
        assert_ne!(load_text_problem(&f, 8).unwrap().test.texts, p.test.texts);
        assert_eq!(text_problem_corpus(&p), p.train.texts);
        // A folder with one labelled file is that file.
        assert_eq!(
            load_text_problem(dir.path(), 7).unwrap().test.texts,
            p.test.texts
        );
        write(dir.path(), "other.csv", b"\"1\",\"x\"\n");
        assert!(err_of(load_text_problem(dir.path(), 7)).contains("found msgs.tsv, other.csv"));
    }

    /// A path under the shared data's `text/`; a missing one is a failure.
    fn shared_text(rel: &str) -> PathBuf {
        let path = crate::shared_data::shared_data().join("text").join(rel);
        assert!(path.exists(), "{} is missing", path.display());
        path
    }

    #[test]
    #[cfg_attr(
        not(shared_data),
        ignore = "needs ../shared/data (or AUTODIDACT_DATA); absent when this crate was built"
    )]
    fn real_sst2() {
        let dir = shared_text("sst2");
        let p = load_text_problem(&dir, 0).unwrap();
        assert_eq!(
            (p.name.as_str(), p.train.len(), p.test.len()),
            ("sst2", 67_349, 1_821)
        );
        assert_eq!(p.train.class_names, ["0", "1"]);
        assert_eq!(
            p.train.texts[0],
            "hide new secretions from the parental units"
        );
        assert!(p.train.texts.iter().all(|t| !t.ends_with('\r')));
    }

    #[test]
    #[cfg_attr(
        not(shared_data),
        ignore = "needs ../shared/data (or AUTODIDACT_DATA); absent when this crate was built"
    )]
    fn real_ag_news() {
        let file = shared_text("ag_news/test.csv");
        let set = read_labelled(&file).unwrap();
        assert_eq!(set.len(), 7_600);
        assert_eq!(set.class_names, ["World", "Sports", "Business", "Sci/Tech"]);
        assert_eq!(set.labels[0], 2);
        assert!(set.texts[0].starts_with("Fears for T N pension after talks. Unions representing"));
        let p = load_text_problem(file.parent().unwrap(), 1).unwrap();
        assert_eq!(
            (p.name.as_str(), p.train.len(), p.test.len()),
            ("ag_news", 6_080, 1_520)
        );
        for class in 0..4 {
            let count = p.test.labels.iter().filter(|&&l| l == class).count();
            assert_eq!(count, 380, "class {class}");
        }
    }

    #[test]
    #[cfg_attr(
        not(shared_data),
        ignore = "needs ../shared/data (or AUTODIDACT_DATA); absent when this crate was built"
    )]
    fn real_sms_spam() {
        let file = shared_text("sms_spam/SMSSpamCollection");
        let set = read_labelled(&file).unwrap();
        assert_eq!(
            (set.len(), set.class_names.clone()),
            (5_574, vec!["ham".to_string(), "spam".to_string()])
        );
        assert_eq!(set.labels.iter().filter(|&&l| l == 1).count(), 747);
        let p = load_text_problem(&file, 3).unwrap();
        assert_eq!(p.train.len() + p.test.len(), 5_574);
        assert_eq!(p.test.labels.iter().filter(|&&l| l == 1).count(), 149);
        assert_eq!(read_corpus(&file, TextUnit::Lines).unwrap().len(), 5_574);
    }

    #[test]
    #[cfg_attr(
        not(shared_data),
        ignore = "needs ../shared/data (or AUTODIDACT_DATA); absent when this crate was built"
    )]
    fn real_corpora() {
        let file = shared_text("tinyshakespeare.txt");
        let lines = read_corpus(&file, TextUnit::Lines).unwrap();
        assert_eq!(lines.len(), 32_777);
        assert_eq!(lines[0], "First Citizen:");
        let docs = read_corpus(&file, TextUnit::Documents).unwrap();
        let lines_in_docs: usize = docs.iter().map(|d| d.lines().count()).sum();
        assert_eq!(lines_in_docs, 32_777);
        assert_eq!(docs.len(), 7_222);
        let wiki = shared_text("wikitext2/wiki.test.raw");
        let wiki_lines = read_corpus(&wiki, TextUnit::Lines).unwrap();
        assert_eq!(wiki_lines.len(), 2_891);
        assert!(wiki_lines.iter().all(|l| !l.contains('\r')));
    }
}
