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
    }
    cfg
}

#[test]
fn every_audio_method_lowers_its_loss_and_logs_its_health() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("tones");
    autodidact_audio::synthetic::write_tones(&data, 4, 8).unwrap();
    let audio = load_audio(&data, 8000).unwrap();
    for method in AudioMethodKind::ALL.iter().copied() {
        let run = tmp.path().join(method.name());
        std::fs::create_dir_all(&run).unwrap();
        let cfg = small_run(method, &data, 60);
        cfg.validate("test").unwrap();
        let summary = pretrain(&cfg, &audio.train, &run, &quiet()).unwrap();
        assert_eq!(summary.steps, 60);
        let metrics = read_metrics(&run).unwrap();
        let losses: Vec<f64> = metrics.iter().map(|m| m.loss).collect();
        let (first, last) = (mean(&losses[..10]), mean(&losses[losses.len() - 10..]));
        assert!(
            last < 0.8 * first,
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
