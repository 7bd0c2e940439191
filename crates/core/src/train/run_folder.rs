//! Run folders: which folders are ours to replace, and one process at a time in each.
//!
//! A run folder holds only names that autodidact writes ([`OURS`]); [`MARKER`] is written into
//! it first. `--force` replaces a folder only when every entry in it is one of ours, never the
//! current directory or one of its parents, never a folder holding the data. A folder whose run
//! stopped before its first checkpoint is replaced without `--force`: it holds nothing to lose.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::checkpoint::Checkpoints;

/// Written first into every run folder.
pub const MARKER: &str = ".autodidact-run";
/// Held locked by the process training into the folder.
const LOCK: &str = ".lock";
/// Every name a run folder may hold: what pre-training, evaluation and the demo write there.
const OURS: &[&str] = &[
    MARKER,
    LOCK,
    "config.toml",
    "tokenizer.json",
    "metrics.jsonl",
    "checkpoints",
    "encoder.safetensors",
    "reconstruction.png",
    "report.md",
    "results.json",
    "plots",
];

/// A run folder this process holds the lock of; the lock goes with it.
#[derive(Debug)]
pub struct RunFolder {
    path: PathBuf,
    _lock: File,
    created: bool,
    replaced: bool,
}

impl RunFolder {
    /// Opens `out` for a new run: a new folder, an empty one, or one of ours to replace, which
    /// takes `force` unless its run never saved a checkpoint. `keep` are paths the run reads (its
    /// data): a folder holding one of them is never replaced.
    pub fn create(out: &Path, force: bool, keep: &[&Path]) -> anyhow::Result<Self> {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .with_context(|| format!("{}: cannot create", parent.display()))?;
        }
        match fs::create_dir(out) {
            Ok(()) => return Self::lock(out, true, false),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("{}: cannot create", out.display())),
        }
        if !out.is_dir() {
            bail!(
                "{}: exists and is not a folder; choose another --out",
                out.display()
            );
        }
        let entries = entry_names(out)?;
        if entries.is_empty() {
            return Self::lock(out, false, false);
        }
        let foreign: Vec<&String> = entries.iter().filter(|n| !is_ours(n)).collect();
        if !foreign.is_empty() {
            bail!(
                "{}: not an autodidact run folder (it holds {}); nothing was removed, choose another --out",
                out.display(),
                list(&foreign)
            );
        }
        let mut folder = Self::lock(out, false, true)?;
        if Checkpoints::new(out).latest().is_some() && !force {
            bail!(
                "{}: run folder exists; pass --resume to continue it or --force to replace it",
                out.display()
            );
        }
        refuse_to_replace(out, keep)?;
        for name in entries.iter().filter(|n| n.as_str() != LOCK) {
            remove(&out.join(name))?;
        }
        folder.write_marker()?;
        folder.replaced = true;
        Ok(folder)
    }

    /// Opens the run in `dir` to continue it (`--resume`).
    pub fn resume(dir: &Path) -> anyhow::Result<Self> {
        if !dir.join("config.toml").is_file() {
            bail!(
                "{}: no run to resume (no config.toml: the run never started); run it without --resume",
                dir.display()
            );
        }
        Self::lock(dir, false, false)
    }

    fn lock(path: &Path, created: bool, replacing: bool) -> anyhow::Result<Self> {
        let lock_path = path.join(LOCK);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("{}: cannot create", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => bail!(
                "{}: another autodidact process is using this run folder",
                path.display()
            ),
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("{}: cannot lock", lock_path.display()));
            }
        }
        let folder = Self {
            path: path.to_path_buf(),
            _lock: lock,
            created,
            replaced: false,
        };
        if !replacing {
            folder.write_marker()?;
        }
        Ok(folder)
    }

    fn write_marker(&self) -> anyhow::Result<()> {
        let marker = self.path.join(MARKER);
        fs::write(
            &marker,
            "An autodidact run folder: `autodidact pretrain --force` may replace it.\n",
        )
        .with_context(|| format!("{}: cannot write", marker.display()))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether an earlier run's files were removed to make room for this one.
    pub fn replaced(&self) -> bool {
        self.replaced
    }

    /// After a failed run: if it saved no checkpoint, removes what it wrote (and the folder, if
    /// this process created it), so that nothing blocks running it again.
    pub fn discard_if_unstarted(self) {
        if Checkpoints::new(&self.path).latest().is_some() {
            return;
        }
        if self.created {
            fs::remove_dir_all(&self.path).ok();
        } else if let Ok(names) = entry_names(&self.path) {
            for name in names.iter().filter(|n| is_ours(n)) {
                remove(&self.path.join(name)).ok();
            }
        }
    }
}

fn is_ours(name: &str) -> bool {
    let base = name.strip_suffix(".tmp").unwrap_or(name);
    OURS.contains(&base)
}

fn entry_names(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("{}: cannot read", dir.display()))? {
        let entry = entry.with_context(|| format!("{}: cannot read", dir.display()))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

fn list(names: &[&String]) -> String {
    const SHOWN: usize = 3;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

/// Refuses a folder whose removal would take the working directory or the run's inputs with it.
fn refuse_to_replace(out: &Path, keep: &[&Path]) -> anyhow::Result<()> {
    let target =
        fs::canonicalize(out).with_context(|| format!("{}: cannot resolve", out.display()))?;
    if let Ok(cwd) = std::env::current_dir().and_then(fs::canonicalize)
        && cwd.starts_with(&target)
    {
        bail!(
            "{}: is the current directory or one of its parents; not replacing it, choose another --out",
            out.display()
        );
    }
    for path in keep {
        if let Ok(kept) = fs::canonicalize(path)
            && kept.starts_with(&target)
        {
            bail!(
                "{}: holds the data {}; not replacing it, choose another --out",
                out.display(),
                path.display()
            );
        }
    }
    Ok(())
}

fn remove(path: &Path) -> anyhow::Result<()> {
    let result = if path.is_dir() && !path.is_symlink() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    result.with_context(|| format!("{}: cannot remove", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x").unwrap();
    }

    fn err(result: anyhow::Result<RunFolder>) -> String {
        format!("{:#}", result.unwrap_err())
    }

    #[test]
    fn a_new_folder_gets_the_marker_and_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("runs/a");
        let folder = RunFolder::create(&out, false, &[]).unwrap();
        assert!(out.join(MARKER).is_file());
        let second = err(RunFolder::create(&out, true, &[]));
        assert!(second.contains("another autodidact process"), "{second}");
        drop(folder);
        RunFolder::create(&out, true, &[]).unwrap();
    }

    #[test]
    fn force_refuses_a_folder_holding_anything_else_and_removes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mine");
        touch(&out.join("config.toml"));
        touch(&out.join("thesis.tex"));
        let e = err(RunFolder::create(&out, true, &[]));
        assert!(
            e.contains("not an autodidact run folder (it holds thesis.tex)"),
            "{e}"
        );
        assert!(out.join("thesis.tex").is_file() && out.join("config.toml").is_file());
    }

    #[test]
    fn a_run_with_a_checkpoint_needs_force_and_one_without_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        touch(&out.join("config.toml"));
        touch(&out.join("checkpoints/.tmp-step-00000003/model.bpk"));
        let folder = RunFolder::create(&out, false, &[]).unwrap();
        assert!(folder.replaced() && !out.join("config.toml").exists());
        drop(folder);
        touch(&out.join("checkpoints/step-00000004/state.json"));
        let e = err(RunFolder::create(&out, false, &[]));
        assert!(e.contains("pass --resume to continue it or --force"), "{e}");
        RunFolder::create(&out, true, &[]).unwrap();
        assert!(!out.join("checkpoints").exists() && out.join(MARKER).exists());
    }

    #[test]
    fn force_never_replaces_a_folder_holding_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        touch(&out.join("checkpoints/step-00000004/state.json"));
        let data = out.join("checkpoints");
        let e = err(RunFolder::create(&out, true, &[&data]));
        assert!(e.contains("holds the data"), "{e}");
        assert!(out.join("checkpoints/step-00000004/state.json").exists());
    }

    #[test]
    fn a_failed_run_without_a_checkpoint_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let folder = RunFolder::create(&out, false, &[]).unwrap();
        touch(&out.join("config.toml"));
        folder.discard_if_unstarted();
        assert!(!out.exists());
        // A folder the user made stays, emptied of what the run wrote.
        fs::create_dir(&out).unwrap();
        let folder = RunFolder::create(&out, false, &[]).unwrap();
        touch(&out.join("config.toml"));
        folder.discard_if_unstarted();
        assert!(out.is_dir() && !out.join("config.toml").exists());
    }

    #[test]
    fn resume_needs_a_config() {
        let dir = tempfile::tempdir().unwrap();
        let e = err(RunFolder::resume(dir.path()));
        assert!(e.contains("no run to resume"), "{e}");
    }
}
