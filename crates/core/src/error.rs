//! The errors a caller may want to tell apart: every fallible function of the library returns
//! `anyhow::Error` (or one of these), and these ride inside it, so
//! `err.downcast_ref::<DataError>()` says a file was bad, `SettingError` a setting out of range,
//! `TrainError` a run that stopped on a NaN loss.

use std::fmt;
use std::path::PathBuf;

/// A file or folder handed to the library could not be read or is malformed; the message always
/// names it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A reader's own message, which names the file (and the line) itself.
    #[error("{message}")]
    Read { path: PathBuf, message: String },
}

impl DataError {
    /// A malformed-input error for `path`.
    pub fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An I/O error while reading `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    /// `err`, a reader's failure on `path` whose message names the file, as a `DataError`
    /// (kept as it is when it already is one).
    pub fn read(path: impl Into<PathBuf>, err: anyhow::Error) -> anyhow::Error {
        if err.is::<DataError>() {
            return err;
        }
        anyhow::Error::new(DataError::Read {
            path: path.into(),
            message: format!("{err:#}"),
        })
    }

    /// The file or folder at fault.
    pub fn path(&self) -> &std::path::Path {
        match self {
            DataError::Invalid { path, .. }
            | DataError::Io { path, .. }
            | DataError::Read { path, .. } => path,
        }
    }
}

/// A setting (a flag's value, a recipe's or a `config.toml`'s key) outside what it accepts.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{origin}: {key} = {value}: {expected}")]
pub struct SettingError {
    /// Where the setting came from (a file, "the settings").
    pub origin: String,
    pub key: String,
    pub value: String,
    /// What it accepts, in words ("expected a number in (0, 100]").
    pub expected: String,
}

/// Why a training run stopped short.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainError {
    /// The loss became NaN or infinite at `step`; the run stopped with its last good checkpoint
    /// (`kept`, if one was written) untouched.
    LossNotFinite {
        loss: f64,
        step: usize,
        kept: Option<PathBuf>,
    },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::LossNotFinite { loss, step, kept } => {
                let kept = kept
                    .as_ref()
                    .map_or("no checkpoint yet".to_string(), |p| p.display().to_string());
                write!(
                    f,
                    "loss became {loss} at step {step}; training stopped (last good checkpoint: \
                     {kept}). Try a lower learning rate (--lr) or a larger batch."
                )
            }
        }
    }
}

impl std::error::Error for TrainError {}
