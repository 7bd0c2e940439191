//! Audio data sets, in the two layouts images have: class folders (`<root>/{train,test}/<class>/
//! *.wav`, or `<root>/<class>/*.wav` for a train split alone, or loose `*.wav` for unlabelled
//! audio), and a manifest (`.csv` or `.tsv` with a header `path,label` and an optional `split`
//! column of `train`/`test`, paths relative to the manifest).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::bail;
use autodidact_core::error::DataError;

use super::wav::read_wav;
use super::{AudioData, AudioSet};

/// Most clips a data set may hold.
pub const MAX_CLIPS: usize = 1_000_000;

/// Reads the data set at `path` (a folder or a manifest), every clip at `rate` samples per
/// second.
pub fn load_audio(path: &Path, rate: u32) -> anyhow::Result<AudioData> {
    let read = || -> anyhow::Result<AudioData> {
        if path.is_file() {
            return read_manifest(path, rate);
        }
        if !path.is_dir() {
            bail!("{}: no such file or folder", path.display());
        }
        let (train, test) = (path.join("train"), path.join("test"));
        if train.is_dir() {
            let train = read_class_folders(&train, rate, None)?;
            let test = test
                .is_dir()
                .then(|| read_class_folders(&test, rate, Some(&train.class_names)))
                .transpose()?;
            return Ok(AudioData { train, test });
        }
        Ok(AudioData {
            train: read_class_folders(path, rate, None)?,
            test: None,
        })
    };
    read().map_err(|e| DataError::read(path, e))
}

/// The clips of `<dir>/<class>/*.wav` (classes in name order, or `classes` when given, which a
/// test split must keep to), or of `<dir>/*.wav` unlabelled.
fn read_class_folders(
    dir: &Path,
    rate: u32,
    classes: Option<&[String]>,
) -> anyhow::Result<AudioSet> {
    let (folders, loose) = entries(dir)?;
    match (folders.is_empty(), loose.is_empty()) {
        (true, true) => bail!("{}: no .wav files and no class folders", dir.display()),
        (false, false) => bail!(
            "{}: loose .wav files beside class folders ({}); put each in its class's folder",
            dir.display(),
            loose[0].display()
        ),
        (true, false) => {
            let clips = read_all(&loose, rate)?;
            return Ok(AudioSet {
                rate,
                clips,
                labels: None,
                class_names: Vec::new(),
            });
        }
        (false, true) => {}
    }
    let names: Vec<String> = folders
        .iter()
        .map(|f| {
            f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let class_names = match classes {
        Some(known) => {
            if let Some(unknown) = names.iter().find(|n| !known.contains(n)) {
                bail!(
                    "{}: class folder `{unknown}` is not a class of the train split ({})",
                    dir.display(),
                    known.join(", ")
                );
            }
            known.to_vec()
        }
        None => names.clone(),
    };
    let mut clips = Vec::new();
    let mut labels = Vec::new();
    for (folder, name) in folders.iter().zip(&names) {
        let (_, files) = entries(folder)?;
        let label = class_names.iter().position(|c| c == name).unwrap_or(0) as u32;
        labels.extend(std::iter::repeat_n(label, files.len()));
        clips.extend(read_all(&files, rate)?);
    }
    Ok(AudioSet {
        rate,
        clips,
        labels: Some(labels),
        class_names,
    })
}

/// The sub-folders and the `.wav` files of `dir`, each in name order.
fn entries(dir: &Path) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut folders = Vec::new();
    let mut wavs = Vec::new();
    let list = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    for entry in list {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        if path.is_dir() {
            folders.push(path);
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        {
            wavs.push(path);
        }
        if folders.len() + wavs.len() > MAX_CLIPS {
            bail!("{}: more than {MAX_CLIPS} entries", dir.display());
        }
    }
    folders.sort();
    wavs.sort();
    Ok((folders, wavs))
}

fn read_all(files: &[PathBuf], rate: u32) -> anyhow::Result<Vec<Vec<f32>>> {
    files
        .iter()
        .map(|f| read_wav(f, rate).map_err(anyhow::Error::new))
        .collect()
}

/// One row of a manifest.
struct Row {
    line: usize,
    path: PathBuf,
    label: String,
    test: bool,
}

fn read_manifest(path: &Path, rate: u32) -> anyhow::Result<AudioData> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let tab = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    let split_line = |l: &str| -> Vec<String> {
        l.split(if tab { '\t' } else { ',' })
            .map(|f| f.trim().to_string())
            .collect()
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        bail!(
            "{}: empty manifest (expected a header `path,label[,split]`)",
            path.display()
        );
    };
    let header = split_line(header);
    let column = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(path_col), Some(label_col)) = (column("path"), column("label")) else {
        bail!(
            "{}:1: the header must name the columns `path` and `label` (and optionally `split`); found {}",
            path.display(),
            header.join(",")
        );
    };
    let split_col = column("split");
    let root = path.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    for (i, line) in lines {
        let at = format!("{}:{}", path.display(), i + 1);
        let fields = split_line(line);
        let field = |c: usize| fields.get(c).cloned().unwrap_or_default();
        let (file, label) = (field(path_col), field(label_col));
        if file.is_empty() || label.is_empty() {
            bail!("{at}: a row needs a path and a label");
        }
        let test = match split_col.map(field).as_deref() {
            None | Some("train") => false,
            Some("test") => true,
            Some(other) => bail!("{at}: split `{other}` is neither train nor test"),
        };
        let clip = root.join(&file);
        if !clip.is_file() {
            bail!("{at}: {} does not exist", clip.display());
        }
        rows.push(Row {
            line: i + 1,
            path: clip,
            label,
            test,
        });
        if rows.len() > MAX_CLIPS {
            bail!("{}: more than {MAX_CLIPS} rows", path.display());
        }
    }
    let class_names = class_order(rows.iter().filter(|r| !r.test).map(|r| r.label.as_str()));
    if class_names.is_empty() {
        bail!("{}: no train rows", path.display());
    }
    let mut sets = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for row in &rows {
        let Some(label) = class_names.iter().position(|c| *c == row.label) else {
            bail!(
                "{}:{}: label `{}` has no train rows",
                path.display(),
                row.line,
                row.label
            );
        };
        let (clips, labels) = &mut sets[usize::from(row.test)];
        clips.push(read_wav(&row.path, rate)?);
        labels.push(label as u32);
    }
    let [(train_clips, train_labels), (test_clips, test_labels)] = sets;
    let set = |clips, labels| AudioSet {
        rate,
        clips,
        labels: Some(labels),
        class_names: class_names.clone(),
    };
    Ok(AudioData {
        train: set(train_clips, train_labels),
        test: (!test_clips.is_empty()).then(|| set(test_clips, test_labels)),
    })
}

/// The distinct labels, numerically when all are integers (so `10` follows `9`), else by name.
fn class_order<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<String> {
    let distinct: BTreeSet<&str> = labels.collect();
    let mut names: Vec<String> = distinct.into_iter().map(str::to_string).collect();
    if names.iter().all(|n| n.parse::<i64>().is_ok()) {
        names.sort_by_key(|n| n.parse::<i64>().unwrap_or(0));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{write_tone, write_tones};

    #[test]
    fn class_folders_with_and_without_a_test_split() {
        let dir = tempfile::tempdir().unwrap();
        write_tones(dir.path(), 3, 4).unwrap();
        let data = load_audio(dir.path(), 8000).unwrap();
        assert_eq!(data.train.len(), 12);
        assert_eq!(data.train.class_names, ["tone0", "tone1", "tone2"]);
        assert_eq!(data.train.labels.as_ref().unwrap()[4], 1);
        let test = data.test.expect("a test split");
        assert_eq!((test.len(), test.labels.unwrap()[8]), (9, 2));
        // Lengths vary and nothing is cut: 0.25 s to 0.5 s at 8 kHz.
        let lengths: BTreeSet<usize> = data.train.clips.iter().map(Vec::len).collect();
        assert!(lengths.len() > 2 && lengths.iter().all(|&l| (2000..4000).contains(&l)));
        // The train folder alone is a labelled set without a test split.
        let alone = load_audio(&dir.path().join("train"), 16000).unwrap();
        assert!(alone.test.is_none());
        assert_eq!(alone.train.rate, 16000);
        assert_eq!(alone.train.clips[0].len(), 2 * data.train.clips[0].len());
    }

    #[test]
    fn a_manifest_with_splits_relative_paths_and_numeric_labels() {
        let dir = tempfile::tempdir().unwrap();
        let clips = dir.path().join("clips");
        std::fs::create_dir(&clips).unwrap();
        let mut manifest = String::from("path,label,split\n");
        for (i, (label, split)) in [(2, "train"), (10, "train"), (2, "test"), (10, "train")]
            .iter()
            .enumerate()
        {
            write_tone(
                &clips.join(format!("{i}.wav")),
                &[0.1; 100],
                8000,
                1,
                16,
                false,
            )
            .unwrap();
            manifest.push_str(&format!("clips/{i}.wav,{label},{split}\n"));
        }
        let path = dir.path().join("m.csv");
        std::fs::write(&path, &manifest).unwrap();
        let data = load_audio(&path, 8000).unwrap();
        assert_eq!(data.train.class_names, ["2", "10"]);
        assert_eq!(data.train.labels, Some(vec![0, 1, 1]));
        assert_eq!(data.test.unwrap().labels, Some(vec![0]));
    }

    #[test]
    fn bad_layouts_and_rows_are_one_line_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let clip = dir.path().join("a.wav");
        write_tone(&clip, &[0.1; 100], 8000, 1, 16, false).unwrap();
        let manifest = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let cases = [
            (empty.clone(), "no .wav files"),
            (
                manifest("missing.csv", "path,label\nb.wav,1\n"),
                "missing.csv:2",
            ),
            (
                manifest("header.csv", "file,class\na.wav,1\n"),
                "header.csv:1",
            ),
            (
                manifest("split.csv", "path,label,split\na.wav,1,dev\n"),
                "split `dev`",
            ),
            (
                manifest(
                    "unknown.csv",
                    "path,label,split\na.wav,1,train\na.wav,2,test\n",
                ),
                "unknown.csv:3",
            ),
        ];
        for (path, needle) in cases {
            let err = load_audio(&path, 8000).unwrap_err();
            assert!(err.downcast_ref::<DataError>().is_some(), "{err:#}");
            let message = format!("{err:#}");
            assert!(message.contains(needle), "{needle}: {message}");
            assert_eq!(message.lines().count(), 1, "{message}");
        }
    }
}
