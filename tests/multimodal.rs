//! Multimodal runs on the command line: pretrain, eval (retrieval, zero-shot, the image tower's
//! probe), search with a contact sheet, and the answers to bad input. The library's own tests
//! are in `crates/multimodal`.

mod common;

use autodidact::multimodal::synthetic::{
    write_caption_pairs, write_labelled_pictures, write_speech_pairs,
};
use common::{run_cli, stderr};

#[test]
fn pretrain_eval_and_search_an_image_caption_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("pairs");
    write_caption_pairs(&data, 6).unwrap();
    let run = tmp.path().join("clip");
    let out = run_cli(&[
        "pretrain",
        "--method",
        "clip",
        "--data",
        data.to_str().unwrap(),
        "--steps",
        "30",
        "--batch-size",
        "16",
        "--vocab-size",
        "200",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for file in [
        "config.toml",
        "tokenizer.json",
        "encoder.safetensors",
        "metrics.jsonl",
    ] {
        assert!(run.join(file).exists(), "{file}");
    }

    let labelled = tmp.path().join("colours");
    write_labelled_pictures(&labelled, &["red", "green", "blue", "yellow"], 4).unwrap();
    let json = tmp.path().join("eval.json");
    let out = run_cli(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        labelled.to_str().unwrap(),
        "--prompt",
        "a {label} square",
        "--labels-per-class",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for way in ["image_to_text", "text_to_image"] {
        for k in ["r1", "r5", "r10"] {
            let v = report["retrieval"][way][k].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&v), "{way} {k}: {report}");
        }
    }
    assert_eq!(report["zero_shot"]["chance"], 0.25);
    let zero_shot = report["zero_shot"]["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&zero_shot), "{report}");
    assert_eq!(report["results"][0]["protocol"], "linear", "{report}");

    let sheet = tmp.path().join("sheet.png");
    let out = run_cli(&[
        "search",
        "--run",
        run.to_str().unwrap(),
        "--query",
        "a blue square",
        "-k",
        "3",
        "--sheet",
        sheet.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().filter(|l| l.contains(".png")).count(),
        4,
        "{text}"
    );
    let png = image::open(&sheet).unwrap();
    assert_eq!((png.width(), png.height()), (3 * 132 + 4, 136));

    let picture = data.join("images").join("0000.png");
    let out = run_cli(&[
        "search",
        "--run",
        run.to_str().unwrap(),
        "--image",
        picture.to_str().unwrap(),
        "-k",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("captions nearest to"));
}

#[test]
fn an_image_speech_run_classifies_images_by_recordings_of_each_class() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("pairs");
    write_speech_pairs(&data, 3, 6).unwrap();
    let run = tmp.path().join("siglip");
    let out = run_cli(&[
        "pretrain",
        "--method",
        "siglip",
        "--data",
        data.to_str().unwrap(),
        "--steps",
        "4",
        "--batch-size",
        "6",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let labelled = tmp.path().join("colours");
    write_labelled_pictures(&labelled, &["tone0", "tone1", "tone2"], 2).unwrap();
    let json = tmp.path().join("eval.json");
    let out = run_cli(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        labelled.to_str().unwrap(),
        "--class-audio",
        data.join("tones").join("test").to_str().unwrap(),
        "--labels-per-class",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["zero_shot"]["images"], 9, "{report}");
    assert!(
        report.get("audio_tower").is_none(),
        "no --partner-data, no audio probe"
    );
    // The audio tower's own probe on labelled recordings, through the same suite.
    let out = run_cli(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        labelled.to_str().unwrap(),
        "--class-audio",
        data.join("tones").join("test").to_str().unwrap(),
        "--partner-data",
        data.join("tones").to_str().unwrap(),
        "--labels-per-class",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let probe = &report["audio_tower"][0];
    assert_eq!(probe["protocol"], "linear", "{report}");
    let accuracy = probe["ssl_accuracy"].as_f64().unwrap_or(-1.0);
    assert!((0.0..=1.0).contains(&accuracy), "{report}");
    // Caption pairs are not what a speech run reads: refused by name, not a panic.
    let captions = tmp.path().join("captions");
    write_caption_pairs(&captions, 1).unwrap();
    let out = run_cli(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        captions.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("captions.tsv") && err.contains("pairs images with caption"),
        "{err}"
    );
    // A prompt means nothing to speech.
    let out = run_cli(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        labelled.to_str().unwrap(),
        "--prompt",
        "a {label}",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--class-audio"), "{}", stderr(&out));
}

#[test]
fn bad_pairs_input_gets_one_line_naming_the_flag_or_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("pairs");
    write_caption_pairs(&data, 1).unwrap();
    let run = tmp.path().join("run");
    let out = run_cli(&[
        "pretrain",
        "--method",
        "clip",
        "--data",
        data.to_str().unwrap(),
        "--lock-image",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--lock-image") && stderr(&out).contains("--init-image"),
        "{}",
        stderr(&out)
    );
    assert!(!run.exists(), "no run folder for refused settings");

    std::fs::write(
        data.join("captions.tsv"),
        "image\tcaption\n0000.png\ta red square\n0001.png\t\n",
    )
    .unwrap();
    let out = run_cli(&[
        "pretrain",
        "--method",
        "siglip",
        "--data",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("captions.tsv") && err.contains("line 3: empty caption"),
        "{err}"
    );

    let out = run_cli(&[
        "pretrain",
        "--method",
        "clip",
        "--data",
        data.to_str().unwrap(),
        "--init",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--init does not apply"),
        "{}",
        stderr(&out)
    );
}
