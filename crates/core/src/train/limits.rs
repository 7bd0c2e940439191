//! The accepted range of every numeric setting. One table serves the command line's flags, the
//! recipes and a run's `config.toml`, so a value refused in one is refused in all, with the same
//! words: `expected an integer in 1..=65536`.

use std::fmt;
use std::ops::RangeInclusive;

use crate::error::SettingError;

/// Samples per batch (image runs also need at least two and no more than the data set holds).
pub const BATCH_SIZE: RangeInclusive<usize> = 1..=65_536;
/// Passes over the data (0: the encoder as initialised, a random-init control).
pub const EPOCHS: RangeInclusive<usize> = 0..=1_000_000;
/// Optimiser steps.
pub const STEPS: RangeInclusive<usize> = 0..=1_000_000_000;
/// Steps between checkpoints, log lines or evaluations.
pub const EVERY: RangeInclusive<usize> = 1..=1_000_000_000;
/// Side of a ViT patch in pixels.
pub const VIT_PATCH: RangeInclusive<usize> = 1..=64;
/// Tokens per text sequence.
pub const CONTEXT: RangeInclusive<usize> = 2..=8_192;
/// Tokens a text step holds (batch times context): bounds a step's memory.
pub const TOKENS_PER_STEP: usize = 1 << 20;
/// Entries of a subword vocabulary.
pub const VOCAB_SIZE: RangeInclusive<usize> = 1..=1_000_000;
/// Widths of heads and encoders, and counts of prototypes.
pub const WIDTH: RangeInclusive<usize> = 1..=65_536;
/// Layers of an encoder or decoder.
pub const DEPTH: RangeInclusive<usize> = 0..=256;
/// Neighbours of a k-NN classifier or a search.
pub const NEIGHBOURS: RangeInclusive<usize> = 1..=1_000_000;
/// Entries of MoCo's queue.
pub const QUEUE: RangeInclusive<usize> = 0..=10_000_000;

/// Wall-clock minutes of a time budget (up to about two years).
pub const MINUTES: Real = Real::open_closed(0.0, 1e6);
/// Peak learning rates (0 trains nothing, which is allowed).
pub const LEARNING_RATE: Real = Real::closed(0.0, 10.0);
/// Weight decay.
pub const WEIGHT_DECAY: Real = Real::closed(0.0, 10.0);
/// Softmax temperatures.
pub const TEMPERATURE: Real = Real::open_closed(0.0, 100.0);
/// Probabilities and shares that may be 0 but not 1 (dropout, warm-up, a mask's share).
pub const SHARE: Real = Real::closed_open(0.0, 1.0);
/// Shares that may be 1 but not 0 (a fraction of the labels, a kept share).
pub const FRACTION: Real = Real::open_closed(0.0, 1.0);
/// Momenta of moving averages.
pub const MOMENTUM: Real = Real::closed(0.0, 1.0);
/// Weights of loss terms.
pub const LOSS_WEIGHT: Real = Real::closed(0.0, 1e6);

/// An interval of finite reals, each end open or closed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Real {
    pub min: f64,
    pub max: f64,
    pub min_open: bool,
    pub max_open: bool,
}

impl Real {
    pub const fn closed(min: f64, max: f64) -> Self {
        Self {
            min,
            max,
            min_open: false,
            max_open: false,
        }
    }

    pub const fn open_closed(min: f64, max: f64) -> Self {
        Self {
            min_open: true,
            ..Self::closed(min, max)
        }
    }

    pub const fn closed_open(min: f64, max: f64) -> Self {
        Self {
            max_open: true,
            ..Self::closed(min, max)
        }
    }

    pub fn contains(&self, v: f64) -> bool {
        let above = if self.min_open {
            v > self.min
        } else {
            v >= self.min
        };
        let below = if self.max_open {
            v < self.max
        } else {
            v <= self.max
        };
        v.is_finite() && above && below
    }
}

impl fmt::Display for Real {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (open, close) = (
            if self.min_open { '(' } else { '[' },
            if self.max_open { ')' } else { ']' },
        );
        write!(f, "{open}{}, {}{close}", self.min, self.max)
    }
}

/// `value` if it lies in `range`, else what was expected.
pub fn int(value: usize, range: &RangeInclusive<usize>) -> Result<usize, String> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(expected_int(range))
    }
}

/// What an integer setting accepts, in the words of an error message.
pub fn expected_int(range: &RangeInclusive<usize>) -> String {
    format!("expected an integer in {}..={}", range.start(), range.end())
}

/// `value` if it is finite and lies in `range`, else what was expected.
pub fn real(value: f64, range: &Real) -> Result<f64, String> {
    if range.contains(value) {
        Ok(value)
    } else {
        Err(format!("expected a number in {range}"))
    }
}

/// Checks named settings of a file (a recipe, a `config.toml`): the first value out of range
/// fails as `FILE: key = value: expected ...`.
pub struct Settings<'a> {
    source: &'a str,
}

impl<'a> Settings<'a> {
    pub fn of(source: &'a str) -> Self {
        Self { source }
    }

    /// Where the settings came from, as messages name it.
    pub fn source(&self) -> &str {
        self.source
    }

    pub fn int(&self, key: &str, value: usize, range: RangeInclusive<usize>) -> anyhow::Result<()> {
        int(value, &range)
            .map(|_| ())
            .map_err(|e| self.error(key, value, e))
    }

    pub fn real(&self, key: &str, value: f64, range: Real) -> anyhow::Result<()> {
        real(value, &range)
            .map(|_| ())
            .map_err(|e| self.error(key, value, e))
    }

    fn error(&self, key: &str, value: impl fmt::Display, expected: String) -> anyhow::Error {
        anyhow::Error::new(SettingError {
            origin: self.source.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            expected,
        })
    }

    /// Checks an optional setting when present.
    pub fn some_int(
        &self,
        key: &str,
        value: Option<usize>,
        range: RangeInclusive<usize>,
    ) -> anyhow::Result<()> {
        value.map_or(Ok(()), |v| self.int(key, v, range))
    }

    /// Checks an optional setting when present.
    pub fn some_real(&self, key: &str, value: Option<f64>, range: Real) -> anyhow::Result<()> {
        value.map_or(Ok(()), |v| self.real(key, v, range))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_keep_their_open_ends_and_refuse_nan() {
        assert!(!TEMPERATURE.contains(0.0) && TEMPERATURE.contains(100.0));
        assert!(SHARE.contains(0.0) && !SHARE.contains(1.0));
        assert!(!WEIGHT_DECAY.contains(f64::NAN) && !MINUTES.contains(f64::INFINITY));
        assert_eq!(LEARNING_RATE.to_string(), "[0, 10]");
        assert_eq!(
            real(-1.0, &TEMPERATURE).unwrap_err(),
            "expected a number in (0, 100]"
        );
        assert_eq!(
            int(0, &BATCH_SIZE).unwrap_err(),
            "expected an integer in 1..=65536"
        );
    }

    #[test]
    fn a_setting_out_of_range_names_the_file_the_key_and_the_range() {
        let e = Settings::of("r.toml")
            .int("batch_size", 0, BATCH_SIZE)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "r.toml: batch_size = 0: expected an integer in 1..=65536"
        );
    }
}
