//! Generated audio for tests and examples: WAV files of any sample format, and a small labelled
//! set of tones whose class is their pitch.

use std::io::Cursor;
use std::path::Path;

/// `samples` (interleaved when `channels` > 1, in `[-1, 1]`) as the bytes of a WAV file of
/// `bits`-bit integer PCM (8 to 32).
pub fn write_wav_bytes(
    samples: &[f32],
    rate: u32,
    channels: u16,
    bits: u16,
) -> Result<Vec<u8>, hound::Error> {
    let mut bytes = Cursor::new(Vec::new());
    write_to(&mut bytes, samples, rate, channels, bits, false)?;
    Ok(bytes.into_inner())
}

/// Writes `samples` to a WAV file at `path`: integer PCM of `bits` bits (8 to 32), or 32-bit
/// float.
pub fn write_tone(
    path: &Path,
    samples: &[f32],
    rate: u32,
    channels: u16,
    bits: u16,
    float: bool,
) -> Result<(), hound::Error> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    write_to(file, samples, rate, channels, bits, float)
}

fn write_to<W: std::io::Write + std::io::Seek>(
    out: W,
    samples: &[f32],
    rate: u32,
    channels: u16,
    bits: u16,
    float: bool,
) -> Result<(), hound::Error> {
    if !float && !(8..=32).contains(&bits) {
        return Err(hound::Error::Unsupported);
    }
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut writer = hound::WavWriter::new(out, spec)?;
    let full = (1i64 << (bits - 1)) as f32;
    for &s in samples {
        if float {
            writer.write_sample(s)?;
        } else {
            let v = (s * full).round().clamp(-full, full - 1.0) as i32;
            if bits == 8 {
                writer.write_sample(v as i8)?;
            } else {
                writer.write_sample(v)?;
            }
        }
    }
    writer.finalize()
}

/// Writes `<dir>/{train,test}/<class>/*.wav`: `per_class` train and 3 test clips of each of
/// `classes` classes, 16-bit at 8 kHz. Class `k` is a tone of `200 * (k + 1)` Hz with a little
/// seeded noise and a length of 0.25 to 0.5 s, so that clips differ in length as speech does.
pub fn write_tones(dir: &Path, classes: usize, per_class: usize) -> Result<(), hound::Error> {
    let rate = 8000;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    for (split, count) in [("train", per_class), ("test", 3)] {
        for class in 0..classes {
            let folder = dir.join(split).join(format!("tone{class}"));
            std::fs::create_dir_all(&folder)?;
            let pitch = 200.0 * (class + 1) as f32;
            for i in 0..count {
                let len = rate as usize / 4 + (i * 397) % (rate as usize / 4);
                let clip: Vec<f32> = (0..len)
                    .map(|t| {
                        let phase = 2.0 * std::f32::consts::PI * pitch * t as f32 / rate as f32;
                        0.5 * phase.sin() + 0.05 * noise()
                    })
                    .collect();
                write_tone(&folder.join(format!("{i}.wav")), &clip, rate, 1, 16, false)?;
            }
        }
    }
    Ok(())
}
