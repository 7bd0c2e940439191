//! Short real runs of each audio method on synthetic tones: the loss falls, the run records its
//! health figures, resumes exactly, and its encoder embeds clips.

use autodidact_audio::data::load_audio;
use autodidact_audio::encoder::AudioEncoding;
use autodidact_audio::methods::AudioMethodKind;
use autodidact_audio::train::{AudioRunConfig, EncoderVisitor, pretrain, with_run_encoder};
use autodidact_core::train::metrics::{TrainOptions, read_metrics};
use burn::prelude::*;

fn quiet() -> TrainOptions {
    TrainOptions {
        quiet: true,
        ..TrainOptions::default()
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// A small run: wav2vec 2.0 at a quarter of its default widths.
fn small_run(method: AudioMethodKind, data: &std::path::Path, steps: usize) -> AudioRunConfig {
    let mut cfg = AudioRunConfig::defaults(method, data.to_path_buf(), 8000);
    cfg.steps = steps;
    cfg.batch_size = 8;
    cfg.log_every = 1;
    cfg.optimizer.lr = 2e-3;
    if method == AudioMethodKind::Wav2Vec2 {
        let sizes: toml::Table = toml::from_str(
            "conv_channels = 32\nd_model = 32\nlayers = 2\nheads = 2\npos_conv_kernel = 8\npos_conv_groups = 4",
        )
        .unwrap();
        cfg.method_config
            .insert("sizes".into(), toml::Value::Table(sizes));
        // Settled codebook choices from the start: a short run's targets are not Gumbel noise.
        cfg.method_config
            .insert("gumbel_start".into(), toml::Value::Float(0.5));
    }
    cfg
}

/// Writes `n` unlabelled clips of four 120 ms steady tones each, the pitches drawn per clip from
/// eight: a hidden frame's pitch follows from its visible neighbours in the same tone, and
/// differs from the frames of the clip's other tones (a syllable-like structure).
fn write_syllables(dir: &std::path::Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut state = 0x9e37_79b9u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..n {
        let mut clip = Vec::new();
        let mut last = usize::MAX;
        for _ in 0..4 {
            let mut pitch = (next() % 8) as usize;
            if pitch == last {
                pitch = (pitch + 1) % 8;
            }
            last = pitch;
            let hz = 250.0 * (1.0 + pitch as f32 * 0.5);
            clip.extend(
                (0..960).map(|t| 0.5 * (2.0 * std::f32::consts::PI * hz * t as f32 / 8000.0).sin()),
            );
        }
        autodidact_audio::synthetic::write_tone(
            &dir.join(format!("{i}.wav")),
            &clip,
            8000,
            1,
            16,
            false,
        )
        .unwrap();
    }
}

#[test]
fn every_audio_method_lowers_its_loss_and_logs_its_health() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("syllables");
    write_syllables(&data, 32);
    let audio = load_audio(&data, 8000).unwrap();
    // The syllables for wav2vec 2.0; BYOL's views of a clip need no structure inside it.
    for method in AudioMethodKind::ALL.iter().copied() {
        let run = tmp.path().join(method.name());
        std::fs::create_dir_all(&run).unwrap();
        // The contrastive task leaves chance only once the codebook's choices settle.
        let steps = if method == AudioMethodKind::Wav2Vec2 {
            200
        } else {
            60
        };
        let cfg = small_run(method, &data, steps);
        cfg.validate("test").unwrap();
        let summary = pretrain(&cfg, &audio.train, &run, &quiet()).unwrap();
        assert_eq!(summary.steps, steps);
        let metrics = read_metrics(&run).unwrap();
        let losses: Vec<f64> = metrics.iter().map(|m| m.loss).collect();
        let (first, last) = (mean(&losses[..10]), mean(&losses[losses.len() - 10..]));
        // wav2vec 2.0's loss starts at ln(11) and stays far above 0 even as it learns; its
        // contrastive accuracy is checked below.
        let ratio = if method == AudioMethodKind::Wav2Vec2 {
            0.9
        } else {
            0.8
        };
        assert!(
            last < ratio * first,
            "{}: loss {first:.4} -> {last:.4}",
            method.name()
        );
        assert!(
            metrics
                .iter()
                .all(|m| m.grad_norm.is_some_and(|g| g.is_finite() && g > 0.0)),
            "{}: every logged step has its gradient norm",
            method.name()
        );
        if method == AudioMethodKind::Wav2Vec2 {
            let accuracy: Vec<f64> = metrics
                .iter()
                .map(|m| m.method["contrastive_accuracy"])
                .collect();
            let (first, last) = (
                mean(&accuracy[..10]),
                mean(&accuracy[accuracy.len() - 10..]),
            );
            assert!(
                last > first + 0.1,
                "contrastive accuracy {first:.3} -> {last:.3}"
            );
            let last = metrics.last().unwrap();
            for key in [
                "perplexity_0",
                "perplexity_1",
                "contrastive_accuracy",
                "hidden_share",
            ] {
                assert!(
                    last.method.contains_key(key),
                    "metrics lack {key}: {:?}",
                    last.method
                );
            }
            let share = last.method["hidden_share"];
            assert!((0.05..0.95).contains(&share), "hidden share {share}");
        }
    }
}

#[test]
fn a_resumed_audio_run_ends_where_an_uninterrupted_one_does() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("tones");
    autodidact_audio::synthetic::write_tones(&data, 2, 6).unwrap();
    let audio = load_audio(&data, 8000).unwrap();
    let cfg = small_run(AudioMethodKind::Wav2Vec2, &data, 6);
    let (whole, parts) = (tmp.path().join("whole"), tmp.path().join("parts"));
    std::fs::create_dir_all(&whole).unwrap();
    std::fs::create_dir_all(&parts).unwrap();
    let a = pretrain(&cfg, &audio.train, &whole, &quiet()).unwrap();
    let first = TrainOptions {
        stop_after: Some(3),
        ..quiet()
    };
    pretrain(&cfg, &audio.train, &parts, &first).unwrap();
    let resume = TrainOptions {
        resume: true,
        ..quiet()
    };
    let b = pretrain(&cfg, &audio.train, &parts, &resume).unwrap();
    assert_eq!(a.steps, b.steps);
    assert!(
        (a.final_loss - b.final_loss).abs() < 1e-5,
        "{} vs {}",
        a.final_loss,
        b.final_loss
    );
}

struct EmbedTwo(Vec<Vec<f32>>);

impl EncoderVisitor for EmbedTwo {
    type Output = [usize; 2];
    fn visit<E: AudioEncoding>(self, encoder: E) -> [usize; 2] {
        let e = encoder.embed(&self.0, 8000);
        assert!(e.clone().into_data().iter::<f32>().all(f32::is_finite));
        e.dims()
    }
}

#[test]
fn a_run_s_encoder_loads_and_embeds_clips() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("tones");
    autodidact_audio::synthetic::write_tones(&data, 2, 4).unwrap();
    let audio = load_audio(&data, 8000).unwrap();
    for method in AudioMethodKind::ALL.iter().copied() {
        let run = tmp.path().join(method.name());
        std::fs::create_dir_all(&run).unwrap();
        let cfg = small_run(method, &data, 2);
        pretrain(&cfg, &audio.train, &run, &quiet()).unwrap();
        let clips = audio.train.clips[..2].to_vec();
        let dims = with_run_encoder(&cfg, &run, &Device::flex(), EmbedTwo(clips)).unwrap();
        assert_eq!(dims[0], 2, "{}", method.name());
    }
}
