//! Checkpoints: `checkpoints/step-NNNNNNNN/{model.bpk, optim.bpk, state.json}`, each written in a
//! temporary folder, made durable (files and folders synced), then renamed into place, so a kill
//! at any instant leaves the newest complete checkpoint or the one before it. `state.json` holds
//! the other two files' checksums: a damaged checkpoint is found on resume, which then falls back
//! to the older one.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::module::{ModuleVisitor, Param};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use crate::train::progress::Observer;

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
    /// Loss of the last step taken (none before the first).
    #[serde(default)]
    pub last_loss: Option<f64>,
    /// The last held-out loss, for methods that measure one.
    #[serde(default)]
    pub val_loss: Option<f64>,
}

impl TrainState {
    /// The state of a run before its first step.
    pub fn fresh(total_steps: Option<usize>) -> Self {
        Self {
            step: 0,
            total_steps,
            elapsed_s: 0.0,
            finished: false,
            last_loss: None,
            val_loss: None,
        }
    }
}

/// What `state.json` holds: the loop state and the checksums of the checkpoint's other files.
#[derive(Serialize, Deserialize)]
struct StateFile {
    #[serde(flatten)]
    state: TrainState,
    /// CRC-32 of each file of the checkpoint (absent in checkpoints made before them).
    #[serde(default)]
    checksums: BTreeMap<String, u32>,
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = tmp_path(path);
    let mut file =
        fs::File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .with_context(|| format!("{}: cannot write", tmp.display()))?;
    rename_durably(&tmp, path)
}

/// Renames `from` to `to` and syncs the folder, so the new name survives a power cut.
fn rename_durably(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::rename(from, to).with_context(|| format!("{}: cannot rename into place", to.display()))?;
    sync_parent(to)
}

/// Flushes a file written by another library (Burn's recorders) to the disk.
fn sync_file(path: &Path) -> anyhow::Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("{}: cannot sync", path.display()))
}

/// Flushes a folder's entries (names created, renamed or removed) to the disk.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("{}: cannot sync", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn sync_parent(path: &Path) -> anyhow::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => sync_dir(Path::new(".")),
    }
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
    sync_file(&tmp)?;
    rename_durably(&tmp, path)
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

const STATE: &str = "state.json";
const FILES: [&str; 2] = ["model.bpk", "optim.bpk"];

impl Checkpoints {
    pub fn new(run_dir: &Path) -> Self {
        Self {
            dir: run_dir.join("checkpoints"),
        }
    }

    fn step_dir(&self, step: usize) -> PathBuf {
        self.dir.join(format!("step-{step:08}"))
    }

    /// Saves model, optimiser and loop state for `state.step`, then prunes old checkpoints. The
    /// previous checkpoint of the same step, if any, is set aside until the new one is durable.
    /// Weights that are not finite are refused: the last good checkpoint stays the newest.
    pub fn save<M: Module>(
        &self,
        model: &M,
        optim: &ModuleOptimizer,
        state: &TrainState,
    ) -> anyhow::Result<PathBuf> {
        // valid() merges BatchNorm running statistics that training threads update lazily;
        // saving the training copy directly could store stale ones.
        let model = model.valid();
        if let Some(param) = first_non_finite(&model) {
            let kept = self
                .latest()
                .map_or("none yet".to_string(), |p| p.display().to_string());
            bail!(
                "step {}: weights are not finite ({param}); not saved as a checkpoint (last good checkpoint: {kept}). \
                 Try a lower learning rate (--lr).",
                state.step
            );
        }
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("{}: cannot create", self.dir.display()))?;
        let final_dir = self.step_dir(state.step);
        let tmp = self.dir.join(format!(".tmp-step-{:08}", state.step));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)
                .with_context(|| format!("{}: cannot remove", tmp.display()))?;
        }
        fs::create_dir_all(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
        model
            .save_file(tmp.join(FILES[0]))
            .map_err(|e| anyhow::anyhow!("{}: cannot save model: {e}", tmp.display()))?;
        optim
            .save(tmp.join(FILES[1]))
            .map_err(|e| anyhow::anyhow!("{}: cannot save optimiser: {e}", tmp.display()))?;
        let mut checksums = BTreeMap::new();
        for name in FILES {
            let path = tmp.join(name);
            sync_file(&path)?;
            checksums.insert(name.to_string(), checksum(&path)?);
        }
        let record = StateFile {
            state: state.clone(),
            checksums,
        };
        // Written last, and the temporary folder synced after it (by write_atomic).
        write_atomic(&tmp.join(STATE), &serde_json::to_vec_pretty(&record)?)?;
        let aside = self.dir.join(format!(".old-step-{:08}", state.step));
        if final_dir.exists() {
            rename_durably(&final_dir, &aside)?;
        }
        rename_durably(&tmp, &final_dir)?;
        if aside.exists() {
            fs::remove_dir_all(&aside)
                .with_context(|| format!("{}: cannot remove", aside.display()))?;
        }
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
                e.path().join(STATE).exists().then(|| (step, e.path()))
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

    /// Tidies what a killed save left: a checkpoint set aside for its replacement goes back if
    /// the replacement never arrived; unfinished temporary folders are removed.
    pub fn recover(&self) -> anyhow::Result<()> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Ok(());
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if let Some(step) = name.strip_prefix(".old-step-") {
                let final_dir = self.dir.join(format!("step-{step}"));
                if final_dir.join(STATE).exists() {
                    fs::remove_dir_all(&path)
                        .with_context(|| format!("{}: cannot remove", path.display()))?;
                } else {
                    if final_dir.exists() {
                        fs::remove_dir_all(&final_dir)
                            .with_context(|| format!("{}: cannot remove", final_dir.display()))?;
                    }
                    rename_durably(&path, &final_dir)?;
                }
            } else if name.starts_with(".tmp-step-") {
                fs::remove_dir_all(&path)
                    .with_context(|| format!("{}: cannot remove", path.display()))?;
            }
        }
        Ok(())
    }

    /// Where a run starts: `fresh` with `model` and `optim` as built, or, when `resume` and a
    /// checkpoint exists, the newest checkpoint that loads. A damaged newest checkpoint is
    /// renamed `step-N.damaged` and the one before it is used, saying so to `observer`.
    pub fn start<M: Module>(
        &self,
        model: M,
        optim: ModuleOptimizer,
        fresh: TrainState,
        resume: bool,
        observer: &mut dyn Observer,
    ) -> anyhow::Result<(M, ModuleOptimizer, TrainState)> {
        self.recover()?;
        if !resume {
            return Ok((model, optim, fresh));
        }
        let mut found = self.list();
        let mut damaged: Vec<(PathBuf, anyhow::Error)> = Vec::new();
        while let Some((_, dir)) = found.pop() {
            match Self::load(&dir, model.clone(), optim.clone()) {
                Ok(loaded) => {
                    for (bad, err) in &damaged {
                        let aside = set_aside_damaged(bad)?;
                        observer.message(&format!(
                            "warning: checkpoint {} cannot be loaded ({err:#}); kept as {}",
                            bad.display(),
                            aside.display()
                        ));
                    }
                    if !damaged.is_empty() {
                        observer.message(&format!("warning: resuming from {}", dir.display()));
                    }
                    return Ok(loaded);
                }
                Err(err) => damaged.push((dir, err)),
            }
        }
        match damaged.first() {
            Some((dir, err)) => Err(anyhow::anyhow!(
                "{}: no checkpoint of this run can be loaded: {err:#}",
                dir.display()
            )),
            None => Ok((model, optim, fresh)),
        }
    }

    /// Loads model, optimiser and loop state from checkpoint folder `dir`, checking the files
    /// against the checksums `state.json` records.
    pub fn load<M: Module>(
        dir: &Path,
        model: M,
        optim: ModuleOptimizer,
    ) -> anyhow::Result<(M, ModuleOptimizer, TrainState)> {
        let state_path = dir.join(STATE);
        let text = fs::read(&state_path)
            .with_context(|| format!("{}: cannot read", state_path.display()))?;
        let record: StateFile = serde_json::from_slice(&text)
            .with_context(|| format!("{}: invalid checkpoint state", state_path.display()))?;
        for (name, expected) in &record.checksums {
            let path = dir.join(name);
            let found = checksum(&path)?;
            if found != *expected {
                bail!(
                    "{}: damaged (checksum {found:08x}, state.json recorded {expected:08x})",
                    path.display()
                );
            }
        }
        let model_path = dir.join(FILES[0]);
        let model = quietly_unless_panic(&model_path, || model.try_load_file(&model_path))?
            .map_err(|e| anyhow::anyhow!("{}: cannot load model: {e}", dir.display()))?;
        let optim_path = dir.join(FILES[1]);
        let optim = quietly_unless_panic(&optim_path, || optim.load(&optim_path))?
            .map_err(|e| anyhow::anyhow!("{}: cannot load optimiser: {e}", dir.display()))?;
        Ok((model, optim, record.state))
    }
}

/// Runs Burn's reader of `path`, turning a panic into an error naming the file: Burn 0.22 panics
/// on some damaged files (an optimiser record tensor without its parameter id), which a
/// checkpoint written before the checksums cannot catch before reading.
fn quietly_unless_panic<T>(path: &Path, read: impl FnOnce() -> T) -> anyhow::Result<T> {
    // The hook is global: two readers swapping it at once could leave it silenced.
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = HOOK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    std::panic::set_hook(hook);
    result.map_err(|_| anyhow::anyhow!("{}: damaged (Burn could not read it)", path.display()))
}

/// Renames checkpoint `dir` to `<dir>.damaged` (replacing an earlier one of that name) and
/// returns the new name.
fn set_aside_damaged(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".damaged");
    let aside = dir.with_file_name(name);
    if aside.exists() {
        fs::remove_dir_all(&aside)
            .with_context(|| format!("{}: cannot remove", aside.display()))?;
    }
    rename_durably(dir, &aside)?;
    Ok(aside)
}

fn checksum(path: &Path) -> anyhow::Result<u32> {
    let bytes = fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(crc32fast::hash(&bytes))
}

/// The name of the first parameter of `model` holding a NaN or an infinity, if any.
fn first_non_finite<M: Module>(model: &M) -> Option<String> {
    struct FiniteCheck {
        path: Vec<String>,
        bad: Option<String>,
    }
    impl ModuleVisitor for FiniteCheck {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            // A sum is finite only if every term is (or the weights are absurdly large).
            if self.bad.is_none() && !param.val().sum().into_scalar::<f32>().is_finite() {
                self.bad = Some(self.path.join("."));
            }
        }
    }
    let mut check = FiniteCheck {
        path: Vec::new(),
        bad: None,
    };
    model.visit(&mut check);
    check.bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::{OptimizerConfig, build_optimizer};
    use crate::train::progress::Silent;
    use burn::nn::{Linear, LinearConfig};

    fn linear(value: f32) -> Linear {
        let device = Device::flex();
        let mut layer = LinearConfig::new(2, 2).init(&device);
        layer.weight = Param::from_tensor(Tensor::full([2, 2], value, &device));
        layer
    }

    fn state(step: usize) -> TrainState {
        TrainState {
            step,
            ..TrainState::fresh(Some(10))
        }
    }

    #[test]
    fn non_finite_weights_are_never_saved_as_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path());
        let optim = build_optimizer(&OptimizerConfig::default());
        let good = checkpoints.save(&linear(0.5), &optim, &state(2)).unwrap();
        for bad in [f32::NAN, f32::INFINITY] {
            let err = checkpoints
                .save(&linear(bad), &optim, &state(3))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("step 3: weights are not finite (weight)"),
                "{err}"
            );
            assert!(err.contains(&good.display().to_string()), "{err}");
            assert_eq!(checkpoints.latest(), Some(good.clone()));
        }
    }

    #[test]
    fn a_checkpoint_set_aside_for_its_replacement_comes_back_if_the_replacement_never_did() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path());
        let optim = build_optimizer(&OptimizerConfig::default());
        let saved = checkpoints.save(&linear(0.5), &optim, &state(4)).unwrap();
        // Killed between moving step 4 aside and renaming its new copy into place.
        let aside = dir.path().join("checkpoints/.old-step-00000004");
        fs::rename(&saved, &aside).unwrap();
        fs::create_dir_all(dir.path().join("checkpoints/.tmp-step-00000004")).unwrap();
        assert_eq!(checkpoints.latest(), None);
        let (_, _, loaded) = checkpoints
            .start(
                linear(0.0),
                optim.clone(),
                TrainState::fresh(None),
                true,
                &mut Silent,
            )
            .unwrap();
        assert_eq!(loaded, state(4));
        assert!(!aside.exists() && !dir.path().join("checkpoints/.tmp-step-00000004").exists());
        // Saving the same step again replaces it whole.
        let again = TrainState {
            finished: true,
            ..state(4)
        };
        checkpoints.save(&linear(0.25), &optim, &again).unwrap();
        let (_, _, loaded) = checkpoints
            .start(
                linear(0.0),
                optim,
                TrainState::fresh(None),
                true,
                &mut Silent,
            )
            .unwrap();
        assert!(loaded.finished);
    }

    #[test]
    fn a_checkpoint_whose_files_do_not_match_their_checksums_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path());
        let optim = build_optimizer(&OptimizerConfig::default());
        let saved = checkpoints.save(&linear(0.5), &optim, &state(1)).unwrap();
        let model = saved.join("model.bpk");
        let mut bytes = fs::read(&model).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        fs::write(&model, bytes).unwrap();
        let err = Checkpoints::load(&saved, linear(0.0), optim)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.bpk: damaged (checksum"), "{err}");
    }

    /// Keeps the messages it is told.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl Observer for Recorder {
        fn step(&mut self, _: &crate::train::progress::StepReport) {}
        fn message(&mut self, text: &str) {
            self.0.push(text.to_string());
        }
    }

    #[test]
    fn a_damaged_newest_checkpoint_is_set_aside_and_said_to_the_observer() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path());
        let optim = build_optimizer(&OptimizerConfig::default());
        checkpoints.save(&linear(0.5), &optim, &state(1)).unwrap();
        let newest = checkpoints.save(&linear(0.25), &optim, &state(2)).unwrap();
        fs::write(newest.join("model.bpk"), b"not a model").unwrap();
        let mut said = Recorder::default();
        let (_, _, loaded) = checkpoints
            .start(linear(0.0), optim, TrainState::fresh(None), true, &mut said)
            .unwrap();
        assert_eq!(loaded, state(1));
        assert!(newest.with_file_name("step-00000002.damaged").is_dir());
        assert_eq!(said.0.len(), 2, "{:?}", said.0);
        assert!(said.0[0].contains("cannot be loaded"), "{:?}", said.0);
        assert!(said.0[1].contains("resuming from"), "{:?}", said.0);
    }

    #[test]
    fn a_reader_that_panics_gives_an_error_naming_the_file() {
        let path = Path::new("/run/x/optim.bpk");
        let err =
            quietly_unless_panic(path, || -> usize { panic!("param_id missing") }).unwrap_err();
        assert!(err.to_string().contains("/run/x/optim.bpk"), "{err}");
        assert_eq!(quietly_unless_panic(path, || 7).unwrap(), 7);
        // The hook is back: a panic elsewhere still reaches it.
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = seen.clone();
        let _guard = HOOK_TEST.lock().unwrap_or_else(|p| p.into_inner());
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |_| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst)
        }));
        let _ = quietly_unless_panic(path, || -> usize { panic!("quiet") });
        assert!(
            !seen.load(std::sync::atomic::Ordering::SeqCst),
            "silenced inside"
        );
        let _ = std::panic::catch_unwind(|| panic!("loud"));
        std::panic::set_hook(previous);
        assert!(
            seen.load(std::sync::atomic::Ordering::SeqCst),
            "restored after"
        );
    }

    /// Tests that swap the panic hook run one at a time.
    static HOOK_TEST: std::sync::Mutex<()> = std::sync::Mutex::new(());
}
