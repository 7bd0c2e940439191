//! `autodidact._autodidact`: the native half of the Python package. The Python half
//! (`python/autodidact/__init__.py`) turns NumPy arrays into bytes and shapes, and back.

use std::path::PathBuf;

use autodidact_cli::api::{self, Input};
use autodidact_core::train::progress::{Follower, StepReport, follow};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

create_exception!(
    _autodidact,
    AutodidactError,
    PyException,
    "An error autodidact reports: the one line the command line prints."
);

fn to_py(err: anyhow::Error) -> PyErr {
    AutodidactError::new_err(format!("{err:#}"))
}

/// Hands every step to a Python callable; the first exception it raises (Ctrl-C included)
/// stops the run after a checkpoint and is raised once the run has stopped.
struct Callback {
    callable: Option<Py<PyAny>>,
    raised: std::sync::Arc<std::sync::Mutex<Option<PyErr>>>,
}

impl Follower for Callback {
    fn step(&mut self, r: &StepReport) {
        if self.raised.lock().map(|e| e.is_some()).unwrap_or(true) {
            return;
        }
        let outcome = Python::attach(|py| -> PyResult<()> {
            py.check_signals()?;
            let Some(callable) = &self.callable else {
                return Ok(());
            };
            let report = PyDict::new(py);
            report.set_item("step", r.step)?;
            report.set_item("total", r.total)?;
            report.set_item("loss", r.loss)?;
            report.set_item("lr", r.lr)?;
            report.set_item("per_second", r.per_s)?;
            report.set_item("unit", r.unit)?;
            report.set_item("eta_seconds", r.eta_s)?;
            report.set_item("held_out_loss", r.val_loss)?;
            callable.call1(py, (report,))?;
            Ok(())
        });
        if let Err(err) = outcome
            && let Ok(mut slot) = self.raised.lock()
        {
            *slot = Some(err);
        }
    }

    fn wants_stop(&mut self) -> bool {
        self.raised.lock().map(|e| e.is_some()).unwrap_or(true)
    }
}

/// Runs one verb of the command line (`["pretrain", "--method", "simclr", ...]`) with the
/// interpreter released; `progress(report)` hears every training step.
#[pyfunction]
#[pyo3(signature = (args, progress=None))]
fn run_verb(py: Python<'_>, args: Vec<String>, progress: Option<Py<PyAny>>) -> PyResult<()> {
    let raised = std::sync::Arc::new(std::sync::Mutex::new(None));
    let follower = Callback {
        callable: progress,
        raised: raised.clone(),
    };
    let outcome = py.detach(move || {
        let _following = follow(Box::new(follower));
        api::run_verb(args)
    });
    if let Some(err) = raised.lock().ok().and_then(|mut e| e.take()) {
        return Err(err);
    }
    outcome.map_err(to_py)
}

/// Embeddings as `(float32 bytes, rows, dimensions)`.
type Matrix<'py> = (Bound<'py, PyBytes>, usize, usize);

fn embed<'py>(py: Python<'py>, run: PathBuf, input: Input) -> PyResult<Matrix<'py>> {
    let emb = py.detach(|| api::embed(&run, input)).map_err(to_py)?;
    let bytes: Vec<u8> = emb.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok((PyBytes::new(py, &bytes), emb.n, emb.dim))
}

/// `n x channels x height x width` bytes of images.
#[pyfunction]
fn embed_images<'py>(
    py: Python<'py>,
    run: PathBuf,
    pixels: Bound<'py, PyBytes>,
    shape: [usize; 4],
) -> PyResult<Matrix<'py>> {
    let pixels = pixels.as_bytes().to_vec();
    embed(py, run, Input::Images { pixels, shape })
}

/// `n x channels x length` little-endian float32 series.
#[pyfunction]
fn embed_series<'py>(
    py: Python<'py>,
    run: PathBuf,
    values: Bound<'py, PyBytes>,
    shape: [usize; 3],
) -> PyResult<Matrix<'py>> {
    let values = floats(values.as_bytes());
    embed(py, run, Input::Series { values, shape })
}

/// Clips as little-endian float32 bytes, at the run's sample rate.
#[pyfunction]
fn embed_clips<'py>(
    py: Python<'py>,
    run: PathBuf,
    clips: Vec<Bound<'py, PyBytes>>,
) -> PyResult<Matrix<'py>> {
    let clips = clips.iter().map(|c| floats(c.as_bytes())).collect();
    embed(py, run, Input::Clips(clips))
}

/// Image or WAV files.
#[pyfunction]
fn embed_files<'py>(py: Python<'py>, run: PathBuf, paths: Vec<PathBuf>) -> PyResult<Matrix<'py>> {
    embed(py, run, Input::Files(paths))
}

/// Texts for a text run, captions for an image-caption run, file paths for the others.
#[pyfunction]
fn embed_strings<'py>(
    py: Python<'py>,
    run: PathBuf,
    strings: Vec<String>,
) -> PyResult<Matrix<'py>> {
    embed(py, run, Input::Strings(strings))
}

/// Token ids (int64 bytes) and the valid mask (float32 bytes) of `texts`, and their shape.
#[pyfunction]
fn tokenize<'py>(
    py: Python<'py>,
    run: PathBuf,
    texts: Vec<String>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, [usize; 2])> {
    let (ids, valid, shape) = py.detach(|| api::tokenize(&run, &texts)).map_err(to_py)?;
    let ids: Vec<u8> = ids.iter().flat_map(|v| v.to_le_bytes()).collect();
    let valid: Vec<u8> = valid.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok((PyBytes::new(py, &ids), PyBytes::new(py, &valid), shape))
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[pymodule]
fn _autodidact(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("AutodidactError", m.py().get_type::<AutodidactError>())?;
    m.add_function(wrap_pyfunction!(run_verb, m)?)?;
    m.add_function(wrap_pyfunction!(embed_images, m)?)?;
    m.add_function(wrap_pyfunction!(embed_series, m)?)?;
    m.add_function(wrap_pyfunction!(embed_clips, m)?)?;
    m.add_function(wrap_pyfunction!(embed_files, m)?)?;
    m.add_function(wrap_pyfunction!(embed_strings, m)?)?;
    m.add_function(wrap_pyfunction!(tokenize, m)?)?;
    Ok(())
}
