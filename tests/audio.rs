//! Audio on the command line: the classical MFCC baseline on generated tones, and the answers
//! to bad audio input. The library's own tests are in `crates/audio`.

mod common;

use autodidact::audio::synthetic::write_tones;
use common::{run_cli, stderr};

#[test]
fn the_mfcc_baseline_on_generated_tones() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("tones");
    write_tones(&data, 3, 5).unwrap();
    let json = tmp.path().join("mfcc.json");
    let out = run_cli(&[
        "bench",
        "mfcc",
        "--data",
        data.to_str().unwrap(),
        "--labels-per-class",
        "2,all",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{report}");
    assert_eq!(results[0]["protocol"], "linear");
    assert_eq!(results[0]["labels_per_class"], 2);
    assert_eq!(report["knn_features"], "standardised");
    for r in results {
        assert!(r["ssl_accuracy"].as_f64().unwrap() > 0.9, "{r}");
    }
}

#[test]
fn bad_audio_input_gets_one_line_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let fake = tmp.path().join("fake");
    std::fs::create_dir_all(fake.join("train/yes")).unwrap();
    std::fs::write(fake.join("train/yes/a.wav"), "not audio at all\n").unwrap();
    let manifest = tmp.path().join("m.csv");
    std::fs::write(&manifest, "path,label,split\nmissing.wav,1,train\n").unwrap();
    for (data, named) in [
        (empty.clone(), "empty".to_string()),
        (fake.clone(), "a.wav".to_string()),
        (manifest.clone(), "m.csv:2".to_string()),
    ] {
        let out = run_cli(&["bench", "mfcc", "--data", data.to_str().unwrap()]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{data:?} accepted");
        assert!(
            !err.contains("panicked") && err.lines().count() == 1,
            "{err}"
        );
        assert!(err.contains(&named), "{named}: {err}");
    }
}

#[test]
fn pretrain_eval_and_embed_an_audio_run_on_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("tones");
    write_tones(&data, 3, 5).unwrap();
    let data = data.to_str().unwrap();
    for method in ["audio-byol", "wav2vec2"] {
        let run = tmp.path().join(method);
        let out = run_cli(&[
            "pretrain",
            "--method",
            method,
            "--data",
            data,
            "--steps",
            "4",
            "--batch-size",
            "4",
            "--log-every",
            "1",
            "--out",
            run.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{method}: {}", stderr(&out));
        assert!(run.join("encoder.safetensors").exists());
        // wav2vec2's codebook health is plotted; BYOL has no codebook.
        assert_eq!(
            run.join("perplexity.png").exists(),
            method == "wav2vec2",
            "{method}"
        );
    }
    let run = tmp.path().join("audio-byol");
    let json = tmp.path().join("eval.json");
    let out = run_cli(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        data,
        "--protocol",
        "linear,finetune",
        "--labels-per-class",
        "2",
        "--baseline",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // 15 test clips are too few for a map: a warning, and the figures all the same.
    assert!(
        stderr(&out).contains("warning: no embedding pictures: a t-SNE map needs at least"),
        "{}",
        stderr(&out)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{report}");
    let linear = &results[0];
    assert_eq!(linear["protocol"], "linear");
    for key in ["ssl_accuracy", "baseline_accuracy", "mfcc_accuracy"] {
        let v = linear[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&v), "{key}: {linear}");
    }
    assert_eq!(results[1]["protocol"], "finetune");
    assert!(
        results[1].get("mfcc_accuracy").is_none(),
        "the MFCC baseline is frozen only"
    );

    let npy = tmp.path().join("test.npy");
    let out = run_cli(&[
        "embed",
        "--run",
        tmp.path().join("wav2vec2").to_str().unwrap(),
        "--data",
        data,
        "--split",
        "test",
        "--out",
        npy.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (values, shape) = autodidact::core::eval::npy::read_npy(&npy).unwrap();
    assert_eq!(shape, vec![9, 128], "3 test clips of 3 classes, 128 wide");
    assert!(values.iter().all(|v| v.is_finite()));

    // Another modality's flag is refused by name.
    let out = run_cli(&[
        "pretrain",
        "--method",
        "wav2vec2",
        "--data",
        data,
        "--encoder",
        "resnet18",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--encoder"), "{}", stderr(&out));
}

#[test]
fn pretraining_on_bad_audio_input_gets_one_line_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let truncated = tmp.path().join("cut");
    write_tones(&truncated, 2, 2).unwrap();
    let victim = truncated.join("train/tone0/0.wav");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let out = run_cli(&[
        "pretrain",
        "--method",
        "wav2vec2",
        "--data",
        truncated.to_str().unwrap(),
        "--steps",
        "1",
        "--out",
        tmp.path().join("run").to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        !err.contains("panicked") && err.lines().count() == 1,
        "{err}"
    );
    assert!(err.contains("0.wav"), "{err}");
    assert!(
        !tmp.path().join("run").exists(),
        "no run folder for data that cannot be read"
    );
}
