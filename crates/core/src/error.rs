//! Errors a caller may want to tell apart from the rest: every fallible function returns
//! `anyhow::Error`, and these ride inside it (`err.downcast_ref::<TrainError>()`).

use std::fmt;
use std::path::PathBuf;

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
