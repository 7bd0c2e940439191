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
