//! Pre-training end to end on real digits: learning, determinism, exact resume, checkpoints.

mod common;

use std::sync::Arc;

use autodidact_vision::encoders::{EncoderKind, ImageEncoder, Pooling};
use autodidact_vision::eval::embed::embed_images;
use autodidact_vision::eval::knn::{KnnConfig, accuracy, knn_predict};
use autodidact_vision::train::checkpoint::load_encoder;
use autodidact_vision::train::metrics::{TrainOptions, read_metrics};
use autodidact_vision::train::trainer::pretrain;
use burn::prelude::*;

use common::{mnist_run_config as config, quiet};

#[test]
fn simclr_learns_digit_features_that_beat_chance() {
    let digits = common::bundled_mnist();
    let train = common::first(&digits, 2048);
    let test = digits.subset(&(9000..10000).collect::<Vec<_>>());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(3, 128);
    pretrain(&cfg, Arc::new(train.clone()), dir.path(), &quiet()).unwrap();

    let metrics = read_metrics(dir.path()).unwrap();
    let head: f64 = metrics[..5].iter().map(|m| m.loss).sum::<f64>() / 5.0;
    let tail: f64 = metrics[metrics.len() - 5..]
        .iter()
        .map(|m| m.loss)
        .sum::<f64>()
        / 5.0;
    assert!(
        tail < head - 0.3,
        "loss should fall: {head:.3} -> {tail:.3}"
    );

    let device = Device::flex();
    let knn_accuracy = |encoder: &ImageEncoder| {
        let bank = embed_images(encoder, Pooling::Mean, &train, 28, &device);
        let queries = embed_images(encoder, Pooling::Mean, &test, 28, &device);
        let pred = knn_predict(
            &bank,
            train.labels.as_ref().unwrap(),
            10,
            &queries,
            &KnnConfig::default(),
        );
        accuracy(&pred, test.labels.as_ref().unwrap())
    };
    let trained = load_encoder(
        ImageEncoder::new(EncoderKind::Cnn, 1, &device),
        &dir.path().join("encoder.safetensors"),
    )
    .unwrap();
    let acc = knn_accuracy(&trained);
    assert!(
        acc > 0.6,
        "k-NN accuracy {acc:.3} should beat chance (0.1) widely"
    );
}

#[test]
fn same_seed_gives_the_same_loss_curve() {
    let train = Arc::new(common::first(&common::bundled_mnist(), 256));
    let cfg = config(1, 64);
    let losses = |dir: &std::path::Path| {
        pretrain(&cfg, train.clone(), dir, &quiet()).unwrap();
        read_metrics(dir)
            .unwrap()
            .iter()
            .map(|m| m.loss)
            .collect::<Vec<_>>()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = losses(a.path());
    assert_eq!(first.len(), 4);
    assert_eq!(first, losses(b.path()));
}

#[test]
fn resume_continues_exactly_where_the_run_stopped() {
    let train = Arc::new(common::first(&common::bundled_mnist(), 256));
    let cfg = config(2, 64); // 8 steps, checkpoint every 4
    let whole = tempfile::tempdir().unwrap();
    pretrain(&cfg, train.clone(), whole.path(), &quiet()).unwrap();

    let split = tempfile::tempdir().unwrap();
    let first_part = TrainOptions {
        stop_after: Some(4),
        ..quiet()
    };
    pretrain(&cfg, train.clone(), split.path(), &first_part).unwrap();
    assert_eq!(read_metrics(split.path()).unwrap().len(), 4);
    let rest = TrainOptions {
        resume: true,
        ..quiet()
    };
    pretrain(&cfg, train, split.path(), &rest).unwrap();

    assert_eq!(
        common::loss_curve(whole.path()),
        common::loss_curve(split.path())
    );
    // The exported encoders agree too (BatchNorm statistics included: eval mode uses them).
    let device = Device::flex();
    let probe = common::first(&common::bundled_mnist(), 32);
    let embed = |dir: &std::path::Path| {
        let encoder = load_encoder(
            ImageEncoder::new(EncoderKind::Cnn, 1, &device),
            &dir.join("encoder.safetensors"),
        )
        .unwrap();
        embed_images(&encoder, Pooling::Mean, &probe, 28, &device).data
    };
    let (a, b) = (embed(whole.path()), embed(split.path()));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "encoders differ by {worst}");
}

#[test]
fn a_damaged_newest_checkpoint_falls_back_to_the_older_one() {
    let train = Arc::new(common::first(&common::bundled_mnist(), 256));
    let cfg = config(2, 64); // 8 steps, checkpoints at 4 and 8
    let whole = tempfile::tempdir().unwrap();
    pretrain(&cfg, train.clone(), whole.path(), &quiet()).unwrap();
    let run = tempfile::tempdir().unwrap();
    pretrain(&cfg, train.clone(), run.path(), &quiet()).unwrap();
    let checkpoints = run.path().join("checkpoints");
    // A save cut short: half the model's bytes, and a temporary folder left behind.
    let newest = checkpoints.join("step-00000008/model.bpk");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::create_dir_all(checkpoints.join(".tmp-step-00000009")).unwrap();
    std::fs::write(run.path().join("encoder.safetensors"), b"stale").unwrap();

    let resume = TrainOptions {
        resume: true,
        ..quiet()
    };
    let summary = pretrain(&cfg, train, run.path(), &resume).unwrap();
    assert_eq!(summary.steps, 8);
    assert!(checkpoints.join("step-00000008.damaged").is_dir());
    assert!(!checkpoints.join(".tmp-step-00000009").exists());
    let encoder = |dir: &std::path::Path| std::fs::read(dir.join("encoder.safetensors")).unwrap();
    assert!(
        encoder(whole.path()) == encoder(run.path()),
        "steps 4-8 trained again from the older checkpoint give the uninterrupted run's encoder"
    );
}

#[test]
fn too_few_images_for_a_batch_is_an_error_not_a_panic() {
    let train = Arc::new(common::first(&common::bundled_mnist(), 10));
    let dir = tempfile::tempdir().unwrap();
    let err = pretrain(&config(1, 64), train, dir.path(), &quiet()).unwrap_err();
    assert!(err.to_string().contains("fewer than one batch"), "{err}");
}

#[test]
fn a_time_budget_ends_on_time_with_the_schedule_finished() {
    let data = Arc::new(common::first(&common::bundled_mnist(), 512));
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1, 32);
    cfg.budget = autodidact_vision::train::config::Budget::Minutes(0.1);
    let start = std::time::Instant::now();
    let summary = pretrain(&cfg, data, dir.path(), &quiet()).unwrap();
    let took = start.elapsed().as_secs_f64();
    // Loading, the last checkpoint and a loaded test machine come on top of the 6 s.
    assert!(took < 6.0 + 10.0, "a 6 s budget took {took:.1} s");
    assert!(summary.steps > 6, "{} steps", summary.steps);
    let lines = read_metrics(dir.path()).unwrap();
    let last = lines.last().unwrap();
    // Warm-up 5% then cosine to zero: the last step's rate is a small fraction of the peak.
    assert!(
        last.lr < 0.15 * cfg.optimizer.lr,
        "lr {} at step {} of a finished schedule (peak {})",
        last.lr,
        last.step,
        cfg.optimizer.lr
    );
}
