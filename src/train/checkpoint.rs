//! Checkpoints: `checkpoints/step-NNNNNNNN/{model.bpk, optim.bpk, state.json}`, each written in a
//! temporary folder that is renamed into place, so a kill never leaves a half checkpoint.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

/// How many step checkpoints to keep besides the newest.
const KEEP_OLDER: usize = 1;

/// Loop state saved with each checkpoint; with the model and optimiser it makes resume exact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps done.
    pub step: usize,
    /// Steps the schedule spans (fixed once known; a time budget calibrates it).
    pub total_steps: Option<usize>,
    /// Training seconds spent so far (over all sessions of the run).
    pub elapsed_s: f64,
    /// Whether the run reached its end.
    pub finished: bool,
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = tmp_path(path);
    let mut file =
        fs::File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .with_context(|| format!("{}: cannot write", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("{}: cannot rename into place", path.display()))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The one metadata entry of an exported encoder.
const PRODUCER: &str = concat!("autodidact ", env!("CARGO_PKG_VERSION"));

/// Exports the backbone alone as SafeTensors (atomically). One metadata key: Burn's default three
/// come out of a `HashMap` in a new order each time, so equal encoders made unequal files.
pub fn save_encoder<M: Module>(encoder: &M, path: &Path) -> anyhow::Result<()> {
    let tmp = tmp_path(path);
    let mut store = SafetensorsStore::from_file(&tmp)
        .overwrite(true)
        .clear_metadata()
        .metadata("producer", PRODUCER);
    encoder
        .valid()
        .save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("{}: cannot write encoder: {e}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("{}: cannot rename into place", path.display()))
}

/// Loads a run folder's `encoder.safetensors` into `encoder`, or says that the run has not saved
/// one yet.
pub fn load_run_encoder<M: Module>(run_dir: &Path, encoder: M) -> anyhow::Result<M> {
    let path = run_dir.join("encoder.safetensors");
    if !path.exists() {
        bail!(
            "{}: missing; the run has not saved a checkpoint yet",
            path.display()
        );
    }
    load_encoder(encoder, &path)
}

/// Loads a backbone written by [`save_encoder`] into `encoder` (which fixes the architecture).
pub fn load_encoder<M: Module>(mut encoder: M, path: &Path) -> anyhow::Result<M> {
    let mut store = SafetensorsStore::from_file(path);
    let result = encoder
        .load_from(&mut store)
        .map_err(|e| anyhow::anyhow!("{}: cannot load encoder weights: {e}", path.display()))?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        bail!(
            "{}: encoder weights do not match the architecture in config.toml (missing: {:?}, errors: {:?})",
            path.display(),
            result.missing,
            result.errors
        );
    }
    Ok(encoder)
}

/// The checkpoint folder of a run.
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            dir: run_dir.join("checkpoints"),
        }
    }

    fn step_dir(&self, step: usize) -> PathBuf {
        self.dir.join(format!("step-{step:08}"))
    }

    /// Saves model, optimiser and loop state for `state.step`, then prunes old checkpoints.
    pub fn save<M: Module>(
        &self,
        model: &M,
        optim: &ModuleOptimizer,
        state: &TrainState,
    ) -> anyhow::Result<PathBuf> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("{}: cannot create", self.dir.display()))?;
        let final_dir = self.step_dir(state.step);
        let tmp = self.dir.join(format!(".tmp-step-{:08}", state.step));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).ok();
        }
        fs::create_dir_all(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
        // valid() merges BatchNorm running statistics that training threads update lazily;
        // saving the training copy directly could store stale ones.
        model
            .valid()
            .save_file(tmp.join("model.bpk"))
            .map_err(|e| anyhow::anyhow!("{}: cannot save model: {e}", tmp.display()))?;
        optim
            .save(tmp.join("optim.bpk"))
            .map_err(|e| anyhow::anyhow!("{}: cannot save optimiser: {e}", tmp.display()))?;
        write_atomic(&tmp.join("state.json"), &serde_json::to_vec_pretty(state)?)?;
        if final_dir.exists() {
            fs::remove_dir_all(&final_dir)
                .with_context(|| format!("{}: cannot replace", final_dir.display()))?;
        }
        fs::rename(&tmp, &final_dir)
            .with_context(|| format!("{}: cannot rename into place", final_dir.display()))?;
        self.prune()?;
        Ok(final_dir)
    }

    /// Complete checkpoints, oldest first.
    fn list(&self) -> Vec<(usize, PathBuf)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<(usize, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let step = name.strip_prefix("step-")?.parse().ok()?;
                e.path()
                    .join("state.json")
                    .exists()
                    .then(|| (step, e.path()))
            })
            .collect();
        found.sort();
        found
    }

    fn prune(&self) -> anyhow::Result<()> {
        let all = self.list();
        if all.len() > KEEP_OLDER + 1 {
            for (_, path) in &all[..all.len() - KEEP_OLDER - 1] {
                fs::remove_dir_all(path)
                    .with_context(|| format!("{}: cannot remove", path.display()))?;
            }
        }
        Ok(())
    }

    /// The newest complete checkpoint folder, if any.
    pub fn latest(&self) -> Option<PathBuf> {
        self.list().pop().map(|(_, p)| p)
    }

    /// Where a run starts: `fresh` with `model` and `optim` as built, or, when `resume` and a
    /// checkpoint exists, the newest checkpoint's model, optimiser and loop state.
    pub fn start<M: Module>(
        &self,
        model: M,
        optim: ModuleOptimizer,
        fresh: TrainState,
        resume: bool,
    ) -> anyhow::Result<(M, ModuleOptimizer, TrainState)> {
        match self.latest().filter(|_| resume) {
            Some(dir) => Self::load(&dir, model, optim),
            None => Ok((model, optim, fresh)),
        }
    }

    /// Loads model, optimiser and loop state from checkpoint folder `dir`.
    pub fn load<M: Module>(
        dir: &Path,
        model: M,
        optim: ModuleOptimizer,
    ) -> anyhow::Result<(M, ModuleOptimizer, TrainState)> {
        let model = model
            .try_load_file(dir.join("model.bpk"))
            .map_err(|e| anyhow::anyhow!("{}: cannot load model: {e}", dir.display()))?;
        let optim = optim
            .load(dir.join("optim.bpk"))
            .map_err(|e| anyhow::anyhow!("{}: cannot load optimiser: {e}", dir.display()))?;
        let state_path = dir.join("state.json");
        let text = fs::read(&state_path)
            .with_context(|| format!("{}: cannot read", state_path.display()))?;
        let state = serde_json::from_slice(&text)
            .with_context(|| format!("{}: invalid checkpoint state", state_path.display()))?;
        Ok((model, optim, state))
    }
}
