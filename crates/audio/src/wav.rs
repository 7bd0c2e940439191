//! WAV files: integer PCM of 8 to 32 bits or 32-bit float, any number of channels (mixed down to
//! mono) at any rate (resampled to the caller's), read with `hound` and resampled with `rubato`.

use std::path::Path;

use autodidact_core::error::DataError;
use rubato::{FftFixedIn, Resampler};

/// Most samples a clip may hold, all channels together (about 23 minutes of 48 kHz mono): the
/// header's claim is checked against it before anything is read.
pub const MAX_SAMPLES: usize = 1 << 26;

/// The mono samples of the WAV file at `path`, in `[-1, 1]`, at `rate` samples per second.
pub fn read_wav(path: &Path, rate: u32) -> Result<Vec<f32>, DataError> {
    let (samples, from) = read_mono(path)?;
    resample(&samples, from, rate).map_err(|e| DataError::invalid(path, e))
}

/// The file's samples mixed down to mono, and its rate.
fn read_mono(path: &Path) -> Result<(Vec<f32>, u32), DataError> {
    let reader = hound::WavReader::open(path).map_err(|e| wav_error(path, e))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 || spec.sample_rate == 0 {
        return Err(DataError::invalid(
            path,
            "a WAV header with no channels or no rate",
        ));
    }
    let claimed = reader.len() as usize;
    if claimed > MAX_SAMPLES {
        return Err(DataError::invalid(
            path,
            format!("{claimed} samples is more than the {MAX_SAMPLES} a clip may hold"),
        ));
    }
    let bytes = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, e))?
        .len();
    let needed = claimed as u64 * u64::from(spec.bits_per_sample).div_ceil(8);
    if needed > bytes {
        return Err(DataError::invalid(
            path,
            format!(
                "truncated: the header claims {claimed} samples ({needed} bytes), the file has {bytes} bytes"
            ),
        ));
    }
    let interleaved: Result<Vec<f32>, hound::Error> = match (
        spec.sample_format,
        spec.bits_per_sample,
    ) {
        (hound::SampleFormat::Float, 32) => reader.into_samples::<f32>().collect(),
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect()
        }
        (format, bits) => {
            return Err(DataError::invalid(
                path,
                format!(
                    "{bits}-bit {format:?} samples are not supported (PCM 8-32 bit or 32-bit float)"
                ),
            ));
        }
    };
    let interleaved = interleaved.map_err(|e| wav_error(path, e))?;
    if interleaved.is_empty() {
        return Err(DataError::invalid(path, "no samples"));
    }
    let mono = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}

fn wav_error(path: &Path, err: hound::Error) -> DataError {
    match err {
        hound::Error::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            DataError::invalid(path, "truncated WAV file")
        }
        hound::Error::IoError(e) => DataError::io(path, e),
        other => DataError::invalid(path, format!("not a readable WAV file: {other}")),
    }
}

/// `samples` at `from` samples per second, resampled to `to` (an FFT resampler with an
/// anti-aliasing filter); the length becomes `round(len * to / from)`.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, String> {
    if from == to {
        return Ok(samples.to_vec());
    }
    if to == 0 {
        return Err("the target rate must be positive".to_string());
    }
    let expected = (samples.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let chunk = 1024;
    let mut resampler = FftFixedIn::<f32>::new(from as usize, to as usize, chunk, 2, 1)
        .map_err(|e| format!("cannot resample from {from} Hz to {to} Hz: {e}"))?;
    let delay = resampler.output_delay();
    let mut out = Vec::with_capacity(expected + delay + chunk);
    let mut at = 0;
    let fail = |e: rubato::ResampleError| format!("resampling failed: {e}");
    while out.len() < expected + delay {
        let need = resampler.input_frames_next();
        let end = (at + need).min(samples.len());
        let part = &samples[at.min(end)..end];
        let produced = if part.len() == need {
            resampler.process(&[part], None).map_err(fail)?
        } else if !part.is_empty() {
            // The end of the clip, padded with silence.
            resampler
                .process_partial(Some(&[part]), None)
                .map_err(fail)?
        } else {
            // Silence until the delayed tail has come out.
            resampler
                .process_partial(None::<&[&[f32]]>, None)
                .map_err(fail)?
        };
        at = end;
        out.extend_from_slice(&produced[0]);
    }
    Ok(out[delay..delay + expected].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{write_tone, write_wav_bytes};

    #[test]
    fn every_supported_sample_format_reads_back_as_the_same_signal() {
        let dir = tempfile::tempdir().unwrap();
        let tone: Vec<f32> = (0..800).map(|i| 0.5 * (i as f32 * 0.1).sin()).collect();
        for (bits, float) in [
            (8, false),
            (16, false),
            (24, false),
            (32, false),
            (32, true),
        ] {
            let path = dir.path().join(format!("t{bits}{float}.wav"));
            write_tone(&path, &tone, 8000, 1, bits, float).unwrap();
            let read = read_wav(&path, 8000).unwrap_or_else(|e| panic!("{bits} bit: {e}"));
            assert_eq!(read.len(), tone.len());
            let tolerance = if bits == 8 { 1.0 / 64.0 } else { 1e-4 };
            let worst = read
                .iter()
                .zip(&tone)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < tolerance, "{bits} bit: off by {worst}");
        }
    }

    #[test]
    fn stereo_is_mixed_down_and_another_rate_resampled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        // Left 0.5, right -0.1: the mono mix is 0.2 everywhere.
        let frames: Vec<f32> = (0..1600).flat_map(|_| [0.5, -0.1]).collect();
        write_tone(&path, &frames, 16000, 2, 16, false).unwrap();
        let mono = read_wav(&path, 16000).unwrap();
        assert_eq!(mono.len(), 1600);
        assert!(mono.iter().all(|v| (v - 0.2).abs() < 1e-3));
        // A 200 Hz sine at 16 kHz resampled to 8 kHz keeps its length ratio and its shape.
        let sine: Vec<f32> = (0..16000)
            .map(|i| (2.0 * std::f32::consts::PI * 200.0 * i as f32 / 16000.0).sin())
            .collect();
        let down = resample(&sine, 16000, 8000).unwrap();
        assert_eq!(down.len(), 8000);
        let expected = |i: usize| (2.0 * std::f32::consts::PI * 200.0 * i as f32 / 8000.0).sin();
        let worst = (100..7900)
            .map(|i| (down[i] - expected(i)).abs())
            .fold(0.0, f32::max);
        assert!(worst < 0.02, "resampled sine off by {worst}");
    }

    #[test]
    fn truncated_empty_and_foreign_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.wav");
        write_tone(&good, &[0.1; 400], 8000, 1, 16, false).unwrap();
        let bytes = std::fs::read(&good).unwrap();
        let cases: [(&str, Vec<u8>, &str); 4] = [
            (
                "truncated.wav",
                bytes[..bytes.len() - 100].to_vec(),
                "truncated",
            ),
            ("empty.wav", Vec::new(), "empty.wav"),
            (
                "text.wav",
                b"just some text, not audio\n".to_vec(),
                "not a readable WAV",
            ),
            (
                "silent.wav",
                write_wav_bytes(&[], 8000, 1, 16).unwrap(),
                "no samples",
            ),
        ];
        for (name, content, needle) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            let err = read_wav(&path, 8000).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
}
