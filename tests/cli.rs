//! The command line end to end on tiny generated data, and its answers to bad input.

mod common;

use std::path::Path;
use std::process::Output;

use common::fixtures::write_folder;
use common::{run_cli as autodidact, stderr, stdout};

/// Asserts a clean failure: non-zero exit, one line on stderr that mentions `needle`, no panic.
fn assert_clean_error(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.contains(needle), "`{needle}` not in: {err}");
}

/// Runs `pretrain` on `data` into `run` (no decoded-image cache) with `flags` added.
fn pretrain(data: &str, run: &str, flags: &[&str]) -> Output {
    let mut args = vec!["pretrain", "--data", data, "--out", run, "--no-cache"];
    args.extend_from_slice(flags);
    autodidact(&args)
}

/// Runs `embed` on `run` over `data` into `npy` and reads the values and shape back.
fn embed(run: &str, data: &str, npy: &Path) -> (Vec<f32>, Vec<usize>) {
    let out = autodidact(&[
        "embed",
        "--run",
        run,
        "--data",
        data,
        "--out",
        npy.to_str().unwrap(),
        "--no-cache",
    ]);
    assert!(out.status.success(), "embed failed: {}", stderr(&out));
    autodidact::eval::npy::read_npy(npy).unwrap()
}

#[test]
fn pretrain_eval_embed_on_an_image_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("shapes");
    write_folder(&data, 24);
    let run = tmp.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());
    let out = pretrain(data_s, run_s, &["--epochs", "2", "--batch-size", "16"]);
    assert!(out.status.success(), "pretrain failed: {}", stderr(&out));
    for file in ["config.toml", "metrics.jsonl", "encoder.safetensors"] {
        assert!(run.join(file).exists(), "{file} missing");
    }

    let again = autodidact(&[
        "pretrain",
        "--data",
        data_s,
        "--out",
        run_s,
        "--epochs",
        "1",
        "--batch-size",
        "16",
    ]);
    assert_clean_error(&again, "--force");

    let json = tmp.path().join("eval.json");
    let out = autodidact(&[
        "eval",
        "--run",
        run_s,
        "--data",
        data_s,
        "--labels-per-class",
        "1,all",
        "--baseline",
        "--json",
        json.to_str().unwrap(),
        "--no-cache",
    ]);
    assert!(out.status.success(), "eval failed: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["protocol"], "knn");
    assert_eq!(results[0]["labels_per_class"], 1);
    assert_eq!(results[3]["labels_per_class"], "all");
    for r in results {
        let acc = r["ssl_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        assert!(r["baseline_accuracy"].as_f64().is_some());
    }

    let (values, shape) = embed(run_s, data_s, &tmp.path().join("emb.npy"));
    assert_eq!(shape, vec![48, 256]);
    assert!(values.iter().all(|v| v.is_finite()));
    // 48 test images are too few for a t-SNE map: the figures stand, a warning says why.
    assert!(
        stderr(&out).contains("no embedding pictures"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn eval_draws_an_embedding_map_and_a_neighbour_grid_into_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("shapes");
    write_folder(&data, 60);
    let run = tmp.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());
    let out = pretrain(data_s, run_s, &["--epochs", "1", "--batch-size", "32"]);
    assert!(out.status.success(), "pretrain failed: {}", stderr(&out));
    let eval = || {
        autodidact(&[
            "eval",
            "--run",
            run_s,
            "--data",
            data_s,
            "--protocol",
            "knn",
            "--labels-per-class",
            "all",
            "--no-cache",
        ])
    };
    let out = eval();
    assert!(out.status.success(), "eval failed: {}", stderr(&out));
    let map = run.join("plots").join("embedding-map.png");
    let grid = run.join("plots").join("neighbours.png");
    let first = std::fs::read(&map).unwrap();
    let img = image::load_from_memory(&first).unwrap();
    assert_eq!((img.width(), img.height()), (900, 600));
    // 8 rows of a query and its 8 neighbours, 12-pixel images scaled to 72.
    let tiles = image::open(&grid).unwrap();
    assert_eq!(
        (tiles.width(), tiles.height()),
        (9 * 72 + 10 * 2, 8 * 72 + 9 * 2)
    );
    assert!(eval().status.success());
    assert_eq!(std::fs::read(&map).unwrap(), first, "the map is seeded");
}

#[test]
fn zero_epochs_saves_the_seeded_initial_encoder_as_a_control() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("shapes");
    write_folder(&data, 8);
    let data_s = data.to_str().unwrap();
    // The initial encoder's file and its embeddings of the train images.
    let init = |name: &str, seed: &str| {
        let run = tmp.path().join(name);
        let run_s = run.to_str().unwrap();
        let out = pretrain(
            data_s,
            run_s,
            &["--epochs", "0", "--batch-size", "8", "--seed", seed],
        );
        assert!(out.status.success(), "pretrain failed: {}", stderr(&out));
        let said = stdout(&out);
        assert!(said.contains("as initialised"), "{said}");
        let (values, shape) = embed(run_s, data_s, &tmp.path().join(format!("{name}.npy")));
        assert_eq!(shape, vec![16, 256]);
        assert!(values.iter().all(|v| v.is_finite()));
        (
            std::fs::read(run.join("encoder.safetensors")).unwrap(),
            values,
        )
    };
    let (a, b, c) = (init("a", "1"), init("b", "1"), init("c", "2"));
    assert!(a.0 == b.0, "the same seed must write the same encoder file");
    assert!(
        a.1 == b.1,
        "the same seed must give the same initial encoder"
    );
    assert!(a.1 != c.1, "another seed must give another initial encoder");
}

#[test]
fn a_vit_with_its_own_patch_side_trains_evaluates_and_embeds() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("shapes");
    write_folder(&data, 8);
    let run = tmp.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());
    let pretrain_with = |extra: &[&str]| {
        let flags = [&["--epochs", "1", "--batch-size", "8", "--force"], extra].concat();
        pretrain(data_s, run_s, &flags)
    };
    // 12x12 images: a 5-pixel patch does not tile them, and the CNN has no patches.
    let mae = ["--method", "mae", "--vit-patch"];
    assert_clean_error(
        &pretrain_with(&[&mae[..], &["5"]].concat()),
        "5-pixel patch",
    );
    assert_clean_error(&pretrain_with(&["--vit-patch", "6"]), "--vit-patch");
    let out = pretrain_with(&[&mae[..], &["6"]].concat());
    assert!(out.status.success(), "pretrain failed: {}", stderr(&out));
    let cfg: toml::Table = std::fs::read_to_string(run.join("config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(cfg["vit_patch"].as_integer(), Some(6));

    // Loading the checkpoint needs the patch: a 4-pixel ViT would not fit its weights.
    let json = tmp.path().join("eval.json");
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--run",
            run_s,
            "--data",
            data_s,
            "--protocol",
            "knn",
            "--labels-per-class",
            "all",
            "--json",
            json.to_str().unwrap(),
            "--no-cache",
        ];
        args.extend_from_slice(extra);
        let out = autodidact(&args);
        let report = out.status.success().then(|| {
            serde_json::from_slice::<serde_json::Value>(&std::fs::read(&json).unwrap()).unwrap()
        });
        (out, report)
    };
    let (out, report) = eval(&["--baseline"]);
    let report = report.unwrap_or_else(|| panic!("eval failed: {}", stderr(&out)));
    assert!(report["results"][0]["baseline_accuracy"].as_f64().is_some());
    assert_eq!(report["vit_blocks"], 4);
    // A shallower read-out is recorded; a depth the ViT does not have is refused by name.
    let (out, report) = eval(&["--vit-blocks", "2"]);
    let report = report.unwrap_or_else(|| panic!("eval failed: {}", stderr(&out)));
    assert_eq!(report["vit_blocks"], 2);
    assert_clean_error(&eval(&["--vit-blocks", "5"]).0, "--vit-blocks 5");
    let (_, shape) = embed(run_s, data_s, &tmp.path().join("emb.npy"));
    // The 16 train images; MAE reads a 4x4 grid (each of its 2x2 tokens of width 128 fills four
    // cells).
    assert_eq!(shape, vec![16, 2048]);
}

#[test]
fn corrupt_png_is_named_in_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("imgs");
    write_folder(&data, 2);
    let bad = data.join("train/dark/broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nnot really a png").unwrap();
    let out = autodidact(&[
        "pretrain",
        "--data",
        data.to_str().unwrap(),
        "--out",
        tmp.path().join("run").to_str().unwrap(),
        "--no-cache",
    ]);
    assert_clean_error(&out, "broken.png");
}

#[test]
fn truncated_idx_file_is_named_in_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28];
    images.extend(vec![0u8; 500]);
    std::fs::write(dir.join("train-images-idx3-ubyte"), &images).unwrap();
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 100];
    labels.extend(vec![0u8; 100]);
    std::fs::write(dir.join("train-labels-idx1-ubyte"), &labels).unwrap();
    let out = autodidact(&[
        "pretrain",
        "--data",
        dir.to_str().unwrap(),
        "--out",
        tmp.path().join("run").to_str().unwrap(),
    ]);
    assert_clean_error(&out, "train-images-idx3-ubyte");
}

#[test]
fn empty_folder_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = autodidact(&[
        "pretrain",
        "--data",
        empty.to_str().unwrap(),
        "--out",
        tmp.path().join("run").to_str().unwrap(),
        "--no-cache",
    ]);
    assert_clean_error(&out, "empty");
}

#[test]
fn tar_with_a_non_image_member_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("data.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut png = Vec::new();
    image::GrayImage::new(8, 8)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    for (name, bytes) in [("train/a/0.png", &png[..]), ("train/a/notes.txt", b"hello")] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, bytes).unwrap();
    }
    builder.finish().unwrap();
    drop(builder);
    let out = autodidact(&[
        "pretrain",
        "--data",
        path.to_str().unwrap(),
        "--out",
        tmp.path().join("run").to_str().unwrap(),
        "--no-cache",
    ]);
    assert_clean_error(&out, "notes.txt");
}

#[test]
fn unknown_flag_fails_with_usage() {
    let out = autodidact(&["pretrain", "--no-such-flag"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--no-such-flag"));
}

#[test]
fn missing_run_folder_is_a_one_line_error() {
    let out = autodidact(&[
        "eval",
        "--run",
        "/nonexistent/run",
        "--data",
        "/nonexistent/data",
    ]);
    assert_clean_error(&out, "/nonexistent/run");
}

#[test]
fn bench_writes_its_figures_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("step.json");
    let out = autodidact(&[
        "bench",
        "simclr-step",
        "--batch-size",
        "8",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["bench"], "simclr-step");
    assert!(v["images_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v["repeats"], 2);
    assert_eq!(v["settings"]["batch_size"], 8);

    let out = autodidact(&["bench", "augment", "--images", "64"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("augment: "));
}

#[test]
fn recipe_settings_apply_and_flags_override_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("shapes");
    write_folder(&data, 12);
    let recipe = tmp.path().join("r.toml");
    std::fs::write(
        &recipe,
        format!(
            "method = \"byol\"\ndata = {:?}\nepochs = 5\nbatch_size = 8\nseed = 3\n\
             [method_config]\nema_momentum = 0.9\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let run = tmp.path().join("run");
    let out = autodidact(&[
        "pretrain",
        "--recipe",
        recipe.to_str().unwrap(),
        "--epochs",
        "1",
        "--out",
        run.to_str().unwrap(),
        "--no-cache",
    ]);
    assert!(out.status.success(), "pretrain failed: {}", stderr(&out));
    let cfg: toml::Table = std::fs::read_to_string(run.join("config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(cfg["method"].as_str(), Some("byol"));
    assert_eq!(cfg["batch_size"].as_integer(), Some(8));
    assert_eq!(cfg["seed"].as_integer(), Some(3));
    assert_eq!(cfg["budget"]["epochs"].as_integer(), Some(1), "{cfg:?}");
    assert_eq!(cfg["method_config"]["ema_momentum"].as_float(), Some(0.9));

    std::fs::write(&recipe, "method = \"byol\"\nbatchsize = 8\n").unwrap();
    let out = autodidact(&["pretrain", "--recipe", recipe.to_str().unwrap()]);
    assert_clean_error(&out, "batchsize");
}

#[test]
fn a_temperature_reaches_the_methods_that_have_one_and_is_refused_by_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("shapes");
    write_folder(&data, 12);
    let data_s = data.to_str().unwrap();
    let run = tmp.path().join("run");
    let flags = ["--epochs", "1", "--batch-size", "8", "--temperature", "0.3"];
    let out = pretrain(data_s, run.to_str().unwrap(), &flags);
    assert!(out.status.success(), "pretrain failed: {}", stderr(&out));
    let cfg: toml::Table = std::fs::read_to_string(run.join("config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(cfg["method_config"]["temperature"].as_float(), Some(0.3));
    assert!(cfg["method_config"].get("queue_size").is_none(), "{cfg:?}");

    let byol = tmp.path().join("byol");
    let mut flags = flags.to_vec();
    flags.extend(["--method", "byol"]);
    let out = pretrain(data_s, byol.to_str().unwrap(), &flags);
    assert_clean_error(&out, "--temperature does not apply to --method byol");
    assert!(!byol.exists());
}

#[test]
fn export_writes_onnx_and_pytorch_files_stating_their_preprocessing_and_refuses_bad_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("shapes");
    write_folder(&data, 30);
    let run = tmp.path().join("run");
    let (data_s, run_s) = (data.to_str().unwrap(), run.to_str().unwrap());
    let out = pretrain(data_s, run_s, &["--epochs", "1", "--batch-size", "16"]);
    assert!(out.status.success(), "pretrain failed: {}", stderr(&out));
    let out = autodidact(&["export", "--run", run_s, "--format", "onnx"]);
    assert!(out.status.success(), "export failed: {}", stderr(&out));
    let bytes = std::fs::read(run.join("encoder.onnx")).unwrap();
    // ModelProto field 1 (ir_version) = 8 first, then the producer's name.
    assert_eq!(&bytes[..2], &[0x08, 0x08]);
    let text = String::from_utf8_lossy(&bytes);
    for needle in [
        "autodidact.preprocessing",
        "(pixels / 255 - 0.5) / 0.25",
        "BatchNormalization",
    ] {
        assert!(text.contains(needle), "no {needle} in the file");
    }
    let folder = tmp.path().to_str().unwrap();
    let out = autodidact(&[
        "export", "--run", run_s, "--format", "onnx", "--out", folder,
    ]);
    assert_clean_error(&out, "is a folder");
    let missing = tmp.path().join("nowhere").join("encoder.onnx");
    let out = autodidact(&[
        "export",
        "--run",
        run_s,
        "--format",
        "onnx",
        "--out",
        missing.to_str().unwrap(),
    ]);
    assert_clean_error(&out, "does not exist");
    let out = autodidact(&["export", "--run", data_s, "--format", "onnx"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}
