//! The vision methods on real digits: each lowers its loss in a short run without collapsing,
//! the collapse watch flags BYOL without its predictor, MoCo's queue and DINO's centre and
//! teacher survive an exact resume, and the masked-modelling methods draw their reconstructions.

mod common;

use std::sync::Arc;
use std::time::Instant;

use autodidact_vision::data::ImageSet;
use autodidact_vision::encoders::EncoderKind;
use autodidact_vision::eval::grid::grid_dims;
use autodidact_vision::methods::MethodKind;
use autodidact_vision::methods::byol::ByolConfig;
use autodidact_vision::methods::moco::MocoV2Config;
use autodidact_vision::train::config::RunConfig;
use autodidact_vision::train::metrics::{
    COLLAPSE_SPREAD, MetricsLine, TrainOptions, TrainSummary, read_metrics,
};
use autodidact_vision::train::trainer::pretrain;

/// A short run of `kind`: the first 512 digits, batch 64, `epochs` x 8 steps, metrics every step.
fn short_run(
    kind: MethodKind,
    cfg: toml::Table,
    epochs: usize,
) -> (Vec<MetricsLine>, TrainSummary) {
    let train = Arc::new(common::first(&common::bundled_mnist(), 512));
    let run_cfg = RunConfig {
        method: kind,
        method_config: cfg,
        checkpoint_every: 1000,
        ..common::mnist_run_config(epochs, 64)
    };
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let summary = pretrain(&run_cfg, train, dir.path(), &common::quiet()).unwrap();
    let metrics = read_metrics(dir.path()).unwrap();
    let curve: Vec<String> = metrics.iter().map(|m| format!("{:.3}", m.loss)).collect();
    println!(
        "{kind:?}: {} steps in {:.1} s; loss {}",
        summary.steps,
        start.elapsed().as_secs_f64(),
        curve.join(" ")
    );
    (metrics, summary)
}

/// A method's settings as the table a run's config holds.
fn table<C: serde::Serialize>(settings: &C) -> toml::Table {
    toml::Table::try_from(settings).expect("settings serialise")
}

fn mean_loss(lines: &[MetricsLine]) -> f64 {
    lines.iter().map(|m| m.loss).sum::<f64>() / lines.len() as f64
}

/// Runs `kind` with its defaults (changed by `adjust`) for 32 steps and checks that the mean loss
/// of the last four steps is at least `min_drop` below that of four steps from `first_step` on,
/// and that the embeddings stay spread out.
fn assert_learns(
    kind: MethodKind,
    adjust: impl FnOnce(&mut toml::Table),
    first_step: usize,
    min_drop: f64,
) {
    let mut cfg = kind.default_settings();
    adjust(&mut cfg);
    let (metrics, summary) = short_run(kind, cfg, 4);
    assert_eq!(metrics.len(), 32);
    assert!(metrics.iter().all(|m| m.loss.is_finite()));
    let head = mean_loss(&metrics[first_step..first_step + 4]);
    let tail = mean_loss(&metrics[metrics.len() - 4..]);
    println!("{kind:?}: loss {head:.3} -> {tail:.3}");
    assert!(
        tail < head - min_drop,
        "{kind:?}: loss should fall by {min_drop}: {head:.4} -> {tail:.4}"
    );
    let spread = metrics[metrics.len() - 1].spread;
    assert_eq!(
        summary.collapse_warnings, 0,
        "{kind:?} collapsed (spread {spread:.3})"
    );
    assert!(spread > 0.25, "{kind:?}: final spread {spread:.3}");
}

#[test]
fn byol_learns() {
    assert_learns(MethodKind::Byol, |_| {}, 0, 0.5);
}

#[test]
fn dcl_learns() {
    assert_learns(MethodKind::Dcl, |_| {}, 0, 0.3);
}

#[test]
fn simsiam_learns() {
    assert_learns(MethodKind::Simsiam, |_| {}, 0, 0.25);
}

#[test]
fn barlow_twins_learns() {
    assert_learns(MethodKind::Barlow, |_| {}, 0, 50.0);
}

#[test]
fn vicreg_learns() {
    assert_learns(MethodKind::Vicreg, |_| {}, 0, 1.0);
}

#[test]
fn mocov3_learns() {
    assert_learns(MethodKind::Mocov3, |_| {}, 0, 0.15);
}

#[test]
fn moco_learns_once_its_queue_is_full() {
    // Every new key makes the task harder until the queue is full (4 steps of 64 here), so the
    // loss rises at first; from then on it must fall.
    assert_learns(
        MethodKind::Moco,
        |c| {
            c.insert("queue_size".into(), toml::Value::Integer(256));
        },
        4,
        0.1,
    );
}

#[test]
fn collapse_watch_flags_byol_without_its_predictor() {
    // Momentum 0 (the target is the online network of the previous step) makes the ablation
    // collapse within a few steps; the same run with its predictor stays spread out.
    let broken = ByolConfig {
        predictor: false,
        ema_momentum: 0.0,
        ..ByolConfig::default()
    };
    let (metrics, summary) = short_run(MethodKind::Byol, table(&broken), 3);
    let last = metrics[metrics.len() - 1].spread;
    assert!(
        last < COLLAPSE_SPREAD,
        "spread {last:.3} should be collapsing"
    );
    assert!(summary.collapse_warnings > 0);

    let healthy = ByolConfig {
        predictor: true,
        ..broken
    };
    let (metrics, summary) = short_run(MethodKind::Byol, table(&healthy), 3);
    let last = metrics[metrics.len() - 1].spread;
    assert!(
        last > 0.5,
        "with the predictor the spread stays healthy: {last:.3}"
    );
    assert_eq!(summary.collapse_warnings, 0);
}

/// Runs `cfg` (8 steps) once whole and once split after 4 steps with `--resume`: the two loss
/// curves must match bit for bit, so everything a method keeps between steps was checkpointed.
fn assert_resume_is_exact(cfg: &RunConfig, train: Arc<ImageSet>) {
    let whole = tempfile::tempdir().unwrap();
    pretrain(cfg, train.clone(), whole.path(), &common::quiet()).unwrap();
    let split = tempfile::tempdir().unwrap();
    let first_half = TrainOptions {
        stop_after: Some(4),
        ..common::quiet()
    };
    pretrain(cfg, train.clone(), split.path(), &first_half).unwrap();
    let rest = TrainOptions {
        resume: true,
        ..common::quiet()
    };
    pretrain(cfg, train, split.path(), &rest).unwrap();
    let curve = |dir: &std::path::Path| {
        read_metrics(dir)
            .unwrap()
            .iter()
            .map(|m| (m.step, m.loss))
            .collect::<Vec<_>>()
    };
    let (a, b) = (curve(whole.path()), curve(split.path()));
    assert_eq!(a.len(), 8);
    assert_eq!(a, b);
}

#[test]
fn moco_resume_restores_queue_and_key_encoder_exactly() {
    // 8 steps of 32 with a 96-key queue: the queue wraps, and the resumed half starts with a full
    // queue whose contents, write position and key encoder must all come from the checkpoint.
    let train = Arc::new(common::first(&common::bundled_mnist(), 256));
    let cfg = RunConfig {
        method: MethodKind::Moco,
        method_config: table(&MocoV2Config {
            queue_size: 96,
            ..MocoV2Config::default()
        }),
        ..common::mnist_run_config(1, 32)
    };
    assert_resume_is_exact(&cfg, train);
}

#[test]
fn dino_learns_from_multi_crop_views() {
    // With DINO's defaults 32 steps do not leave the uniform plateau (loss 6.90 -> 6.86, about
    // ln 1024): a sharper teacher and a faster centre let this short run show the distillation
    // working (6.86 -> 6.33, spread above 0.5) without a dominant prototype taking over.
    assert_learns(
        MethodKind::Dino,
        |c| {
            c.insert("teacher_temperature".into(), toml::Value::Float(0.02));
            c.insert("center_momentum".into(), toml::Value::Float(0.5));
        },
        0,
        0.3,
    );
}

#[test]
fn dino_resume_restores_centre_and_teacher_exactly() {
    // 8 steps of 32 split after 4: the resumed half must start from the checkpoint's centre and
    // teacher (both change the loss), so its losses match an uninterrupted run's bit for bit.
    let train = Arc::new(common::first(&common::bundled_mnist(), 256));
    let cfg = RunConfig {
        method: MethodKind::Dino,
        method_config: MethodKind::Dino.default_settings(),
        ..common::mnist_run_config(1, 32)
    };
    assert_resume_is_exact(&cfg, train);
}

/// A short run of a masked-modelling method (32 steps of 64 digits): the mean loss of the last
/// four steps must be below `max_ratio` times that of the first four, and the run folder must
/// hold a reconstruction grid of 3 rows x 8 digits.
fn assert_reconstructs(kind: MethodKind, encoder: EncoderKind, max_ratio: f64) {
    let train = Arc::new(common::first(&common::bundled_mnist(), 512));
    let run_cfg = RunConfig {
        method: kind,
        encoder,
        method_config: kind.default_settings(),
        checkpoint_every: 1000,
        ..common::mnist_run_config(4, 64)
    };
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let summary = pretrain(&run_cfg, train, dir.path(), &common::quiet()).unwrap();
    let metrics = read_metrics(dir.path()).unwrap();
    assert_eq!(metrics.len(), 32);
    assert!(metrics.iter().all(|m| m.loss.is_finite()));
    let head = mean_loss(&metrics[..4]);
    let tail = mean_loss(&metrics[metrics.len() - 4..]);
    println!(
        "{kind:?}: {} steps in {:.1} s; loss {head:.4} -> {tail:.4}",
        summary.steps,
        start.elapsed().as_secs_f64()
    );
    assert!(
        tail < head * max_ratio,
        "{kind:?}: loss should fall below {max_ratio} x its start: {head:.4} -> {tail:.4}"
    );
    // Pooled reconstruction features are not watched for collapse (see Method::watches_collapse).
    assert_eq!(summary.collapse_warnings, 0);
    let png = dir.path().join("reconstruction.png");
    let img = image::open(&png)
        .unwrap_or_else(|e| panic!("{}: {e}", png.display()))
        .to_rgb8();
    let (w, h) = grid_dims(3, 8, 28, 28);
    assert_eq!((img.width() as usize, img.height() as usize), (w, h));
    // The first row holds the digits themselves: dark background, some bright strokes.
    let bright = img.pixels().filter(|p| p.0[0] > 200).count();
    let dark = img.pixels().filter(|p| p.0[0] < 50).count();
    assert!(bright > w * h / 20 && dark > w * h / 4, "{bright} {dark}");
}

#[test]
fn mae_learns_and_draws_its_reconstructions() {
    assert_reconstructs(MethodKind::Mae, EncoderKind::Vit, 0.8);
}

#[test]
fn inpainting_learns_and_draws_its_reconstructions() {
    assert_reconstructs(MethodKind::Inpaint, EncoderKind::Cnn, 0.8);
}

#[test]
fn mae_with_a_cnn_is_refused_with_a_message() {
    let train = Arc::new(common::first(&common::bundled_mnist(), 64));
    let run_cfg = RunConfig {
        method: MethodKind::Mae,
        ..common::mnist_run_config(1, 32)
    };
    let dir = tempfile::tempdir().unwrap();
    let err = pretrain(&run_cfg, train, dir.path(), &common::quiet()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("--encoder vit") && msg.contains("cnn"),
        "{msg}"
    );
    assert!(!dir.path().join("metrics.jsonl").exists());
}

#[test]
fn mae_resume_is_exact() {
    // The masks come from (seed, step), not from Burn's generator (which a resumed session
    // re-seeds at initialisation): a run split in two matches the whole run step for step, and
    // only the finished run draws its reconstructions.
    let train = Arc::new(common::first(&common::bundled_mnist(), 256));
    let cfg = RunConfig {
        method: MethodKind::Mae,
        encoder: EncoderKind::Vit,
        method_config: MethodKind::Mae.default_settings(),
        ..common::mnist_run_config(1, 32)
    };
    let curve = |dir: &std::path::Path| {
        read_metrics(dir)
            .unwrap()
            .iter()
            .map(|m| (m.step, m.loss))
            .collect::<Vec<_>>()
    };
    let whole = tempfile::tempdir().unwrap();
    pretrain(&cfg, train.clone(), whole.path(), &common::quiet()).unwrap();
    let split = tempfile::tempdir().unwrap();
    let first_half = TrainOptions {
        stop_after: Some(4),
        ..common::quiet()
    };
    pretrain(&cfg, train.clone(), split.path(), &first_half).unwrap();
    assert!(!split.path().join("reconstruction.png").exists());
    let rest = TrainOptions {
        resume: true,
        ..common::quiet()
    };
    pretrain(&cfg, train, split.path(), &rest).unwrap();
    assert!(split.path().join("reconstruction.png").exists());
    let (a, b) = (curve(whole.path()), curve(split.path()));
    assert_eq!(a.len(), 8);
    assert_eq!(a, b);
}
