//! Series pre-training end to end on generated `.ts` problems: learning, evaluation, resume, the
//! command line and its answers to malformed files.

mod common;

use common::fixtures::write_problem;
use common::{mean, quiet, run_cli, stderr, stdout};

use std::path::Path;

use autodidact::data::split::sample_fraction;
use autodidact::series::SeriesSet;
use autodidact::series::data::load_series;
use autodidact::series::encoder::SeriesEncoderConfig;
use autodidact::series::eval::{SeriesBaselineConfig, baseline_at, embed_series};
use autodidact::series::methods::SeriesMethodKind;
use autodidact::series::train::{SeriesRunConfig, pretrain};
use autodidact::train::checkpoint::load_encoder;
use autodidact::train::metrics::{TrainOptions, read_metrics};

/// A small encoder keeps the tests fast; the architecture is the real one.
fn small_run(
    method: SeriesMethodKind,
    data: &Path,
    train: &SeriesSet,
    steps: usize,
) -> SeriesRunConfig {
    let mut cfg = SeriesRunConfig::defaults(method, data.to_path_buf(), train);
    cfg.encoder = SeriesEncoderConfig {
        hidden: 16,
        out_dim: 32,
        depth: 4,
        dropout: 0.1,
    };
    cfg.steps = steps;
    cfg.log_every = 1;
    cfg.checkpoint_every = 10;
    cfg.seed = 3;
    cfg
}

#[test]
fn every_series_method_lowers_its_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("Waves");
    write_problem(&data, "Waves", 16, 48);
    let problem = load_series(&data).unwrap();
    for method in [
        SeriesMethodKind::TsOrder,
        SeriesMethodKind::TsMask,
        SeriesMethodKind::TsContrast,
    ] {
        let run = tmp.path().join(method.name());
        std::fs::create_dir_all(&run).unwrap();
        let cfg = small_run(method, &data, &problem.train, 80);
        let summary = pretrain(&cfg, &problem.train, &run, &quiet()).unwrap();
        assert_eq!(summary.steps, 80);
        let losses: Vec<f64> = read_metrics(&run).unwrap().iter().map(|m| m.loss).collect();
        let (first, last) = (mean(&losses[..10]), mean(&losses[losses.len() - 10..]));
        assert!(
            last < 0.8 * first,
            "{}: loss {first:.4} -> {last:.4}",
            method.name()
        );
    }
}

#[test]
fn a_pretrained_representation_separates_the_classes_and_the_baseline_learns() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("Waves");
    write_problem(&data, "Waves", 20, 48);
    let problem = load_series(&data).unwrap();
    let test = problem.test.as_ref().unwrap();
    let run_dir = tmp.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let cfg = small_run(SeriesMethodKind::TsContrast, &data, &problem.train, 60);
    let summary = pretrain(&cfg, &problem.train, &run_dir, &quiet()).unwrap();
    let device = cfg.device.device().unwrap();
    let encoder = load_encoder(cfg.build_encoder(&device), &summary.encoder_path).unwrap();
    let train_emb = embed_series(&encoder, &problem.train, &cfg.scaler, &device);
    let test_emb = embed_series(&encoder, test, &cfg.scaler, &device);
    let labels = problem.train.labels.as_ref().unwrap();
    let pred = autodidact::eval::svm::svm_predict(
        &train_emb,
        labels,
        2,
        &test_emb,
        &autodidact::eval::svm::SvmConfig::default(),
    );
    let acc = autodidact::eval::knn::accuracy(&pred, test.labels.as_ref().unwrap());
    assert!(acc > 0.8, "svm on the representation: {acc}");

    let baseline = SeriesBaselineConfig {
        steps: 80,
        ..SeriesBaselineConfig::default()
    };
    let base = baseline_at(&cfg, &problem.train, test, 1.0, &baseline, 0, &device).unwrap();
    assert!(base > 0.75, "supervised baseline: {base}");
    assert_eq!(sample_fraction(labels, 0.1, 0).len(), 4);
}

#[test]
fn a_resumed_series_run_ends_where_an_uninterrupted_one_does() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("Waves");
    write_problem(&data, "Waves", 8, 32);
    let problem = load_series(&data).unwrap();
    let cfg = small_run(SeriesMethodKind::TsContrast, &data, &problem.train, 20);
    let straight = tmp.path().join("straight");
    let resumed = tmp.path().join("resumed");
    for dir in [&straight, &resumed] {
        std::fs::create_dir_all(dir).unwrap();
    }
    pretrain(&cfg, &problem.train, &straight, &quiet()).unwrap();
    let stop = TrainOptions {
        stop_after: Some(10),
        ..quiet()
    };
    pretrain(&cfg, &problem.train, &resumed, &stop).unwrap();
    let again = TrainOptions {
        resume: true,
        ..quiet()
    };
    let summary = pretrain(&cfg, &problem.train, &resumed, &again).unwrap();
    assert_eq!(summary.steps, 20);
    assert_eq!(common::loss_curve(&straight), common::loss_curve(&resumed));
    let device = cfg.device.device().unwrap();
    let embed = |dir: &Path| {
        let encoder =
            load_encoder(cfg.build_encoder(&device), &dir.join("encoder.safetensors")).unwrap();
        embed_series(&encoder, &problem.train, &cfg.scaler, &device).data
    };
    let (a, b) = (embed(&straight), embed(&resumed));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "encoders differ by {worst}");
}

#[test]
fn pretrain_eval_and_bench_ucr_on_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ucr");
    let data = root.join("Waves");
    write_problem(&data, "Waves", 10, 40);
    let run = tmp.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());
    let out = run_cli(&[
        "pretrain", "--method", "ts-order", "--data", data_s, "--steps", "12", "--out", run_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = tmp.path().join("eval.json");
    let out = run_cli(&[
        "eval",
        "--run",
        run_s,
        "--data",
        data_s,
        "--protocol",
        "svm,linear,knn",
        "--labels-fraction",
        "0.2,1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1-NN Euclidean"), "{}", stdout(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    assert_eq!(results[0]["protocol"], "svm");
    assert_eq!(results[0]["labels_fraction"], 0.2);
    assert_eq!(results[5]["labels_fraction"], 1.0);
    for r in results {
        let acc = r["ssl_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{r}");
    }

    // The test split's representations as a matrix: 20 series (10 per class) x 320.
    let npy = tmp.path().join("test.npy");
    let out = run_cli(&[
        "embed",
        "--run",
        run_s,
        "--data",
        data_s,
        "--split",
        "test",
        "--out",
        npy.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (values, shape) = autodidact::eval::npy::read_npy(&npy).unwrap();
    assert_eq!(shape, vec![20, 320]);
    assert!(values.iter().all(|v| v.is_finite()));

    // The benchmark on a folder of problems, with a recipe that shortens the runs.
    let recipes = tmp.path().join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(recipes.join("ucr-ts-contrast.toml"), "steps = 10\n").unwrap();
    let bench_json = tmp.path().join("ucr.json");
    let out = run_cli(&[
        "bench",
        "ucr",
        "--data",
        root.to_str().unwrap(),
        "--methods",
        "ts-contrast",
        "--labels-fraction",
        "1",
        "--no-baseline",
        "--recipes",
        recipes.to_str().unwrap(),
        "--runs",
        tmp.path().join("runs").to_str().unwrap(),
        "--json",
        bench_json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bench_json).unwrap()).unwrap();
    let rows = report["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "svm and linear: {report}");
    for key in [
        "dataset",
        "method",
        "protocol",
        "accuracy",
        "baseline_1nn_euclidean",
        "supervised_baseline",
        "seconds",
    ] {
        assert!(rows[0].get(key).is_some(), "{key} missing in {}", rows[0]);
    }
    assert_eq!(rows[0]["dataset"], "Waves");
    assert_eq!(rows[0]["method"], "ts-contrast");
    let config =
        std::fs::read_to_string(tmp.path().join("runs/Waves-ts-contrast/config.toml")).unwrap();
    assert!(
        config.contains("steps = 10"),
        "the recipe was applied: {config}"
    );
}

#[test]
fn malformed_series_files_get_one_line_errors_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("1,2,3:a\n", "@data"),
        (
            "@dimensions 2\n@classLabel true a\n@data\n1,2:3,4:a\n1,2:a\n",
            ":5:",
        ),
        ("@classLabel true a\n@data\n1,x,3:a\n", "'x'"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("Bad{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("Bad{i}_TRAIN.ts")), text).unwrap();
        std::fs::write(dir.join(format!("Bad{i}_TEST.ts")), text).unwrap();
        let out = run_cli(&[
            "pretrain",
            "--method",
            "ts-mask",
            "--data",
            dir.to_str().unwrap(),
            "--out",
            tmp.path().join(format!("run{i}")).to_str().unwrap(),
        ]);
        let err = stderr(&out);
        assert!(!out.status.success(), "should fail: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&format!("Bad{i}_TRAIN.ts")), "{err}");
        assert!(err.contains(needle), "`{needle}` not in: {err}");
    }
}
