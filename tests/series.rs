//! Series on the command line: pretrain, eval and `bench ucr` on generated `.ts` problems, and
//! the answers to malformed files. The library's own tests are in `crates/series/tests`.

mod common;

use common::fixtures::write_problem;
use common::{run_cli, stderr, stdout};

#[test]
fn pretrain_eval_and_bench_ucr_on_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ucr");
    let data = root.join("Waves");
    write_problem(&data, "Waves", 10, 40);
    let run = tmp.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());
    // Flags of another modality are refused by name before anything is read or written.
    for (flag, value) in [
        ("--tokenizer", "char"),
        ("--encoder", "cnn"),
        ("--no-cache", ""),
    ] {
        let mut args = vec![
            "pretrain", "--method", "ts-order", "--data", data_s, "--out", run_s,
        ];
        args.push(flag);
        if !value.is_empty() {
            args.push(value);
        }
        let out = run_cli(&args);
        let err = stderr(&out);
        assert!(!out.status.success() && err.contains(flag), "{flag}: {err}");
        assert!(
            err.contains("series methods") && err.lines().count() == 1,
            "{err}"
        );
        assert!(!run.exists());
    }
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
    // 20 test series are too few for a map: a warning, and the figures all the same.
    assert!(
        stderr(&out).contains("warning: no embedding pictures: a t-SNE map needs at least"),
        "{}",
        stderr(&out)
    );
    // Another modality's flags are refused by name, before any work; k-NN's features apply to
    // every modality.
    for (flags, named) in [
        (&["--pool", "grid"][..], "--pool"),
        (&["--labels-per-class", "10"][..], "--labels-per-class"),
        (&["--finetune-lr", "0.001"][..], "--finetune-lr"),
        (&["--no-cache"][..], "--no-cache"),
    ] {
        let mut args = vec!["eval", "--run", run_s, "--data", data_s];
        args.extend_from_slice(flags);
        let out = run_cli(&args);
        assert!(!out.status.success(), "{flags:?} accepted");
        let err = stderr(&out);
        assert!(
            err.contains(named) && err.contains("series run") && err.lines().count() == 1,
            "{err}"
        );
    }
    let out = run_cli(&[
        "eval",
        "--run",
        run_s,
        "--data",
        data_s,
        "--protocol",
        "knn",
        "--knn-features",
        "raw",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
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

#[test]
fn eval_draws_a_map_of_the_test_series_by_class() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("Waves");
    write_problem(&data, "Waves", 50, 24);
    let run = tmp.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());
    let out = run_cli(&[
        "pretrain", "--method", "ts-order", "--data", data_s, "--steps", "2", "--out", run_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_cli(&[
        "eval",
        "--run",
        run_s,
        "--data",
        data_s,
        "--protocol",
        "knn",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let map = run.join("plots").join("embedding-map.png");
    assert!(
        stdout(&out).contains("embedding-map.png"),
        "{}",
        stdout(&out)
    );
    let img = image::open(&map).unwrap();
    assert_eq!((img.width(), img.height()), (900, 600));
}
