//! The command line never deletes what is not ours, never crashes on a flag, refuses a run opened
//! against data of another shape, and keeps one process per run folder.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::fixtures::{sentences, write_image_folder, write_problem};
use common::{binary, run_cli as autodidact, stderr, stdout};

/// Asserts a clean failure: an exit code (no signal), one line on stderr naming `needle`.
fn assert_clean_error(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(out.status.code().is_some(), "killed by a signal: {err}");
    assert!(!out.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.contains(needle), "`{needle}` not in: {err}");
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A tiny series problem at `dir/Waves`.
fn series_data(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("Waves");
    write_problem(&data, "Waves", 6, 24);
    data
}

/// A quick series pre-training into `out` with `flags` added (three steps unless they say).
fn pretrain_series(data: &Path, out: &Path, flags: &[&str]) -> Output {
    let mut args = vec![
        "pretrain",
        "--method",
        "ts-order",
        "--data",
        s(data),
        "--out",
        s(out),
        "--batch-size",
        "4",
    ];
    if !flags.contains(&"--steps") {
        args.extend_from_slice(&["--steps", "3"]);
    }
    args.extend_from_slice(flags);
    autodidact(&args)
}

/// Runs the binary in `cwd`.
fn autodidact_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

#[test]
fn force_never_deletes_a_folder_that_is_not_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("papers")).unwrap();
    std::fs::write(home.join("thesis.tex"), "years of work").unwrap();
    // The report's case: missing data, the current directory as --out, --force.
    let out = autodidact_in(
        &home,
        &[
            "pretrain",
            "--data",
            "/nonexistent",
            "--out",
            ".",
            "--force",
        ],
    );
    assert_clean_error(&out, "/nonexistent");
    // Readable data: the folder is still not ours.
    let data = series_data(dir.path());
    let out = autodidact_in(
        &home,
        &[
            "pretrain",
            "--method",
            "ts-order",
            "--data",
            s(&data),
            "--out",
            ".",
            "--force",
        ],
    );
    assert_clean_error(
        &out,
        "not an autodidact run folder (it holds papers, thesis.tex)",
    );
    let out = pretrain_series(&data, &home, &["--force"]);
    assert_clean_error(&out, "not an autodidact run folder");
    let out = autodidact_in(&home, &["demo", "--out", "."]);
    assert_clean_error(&out, "not an autodidact run folder");
    assert_eq!(
        std::fs::read_to_string(home.join("thesis.tex")).unwrap(),
        "years of work"
    );
    assert!(home.join("papers").is_dir());
}

#[test]
fn force_replaces_a_run_but_never_the_current_directory_or_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = series_data(dir.path());
    let run = dir.path().join("run");
    let first = pretrain_series(&data, &run, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let again = pretrain_series(&data, &run, &[]);
    assert_clean_error(&again, "pass --resume to continue it or --force");
    let forced = pretrain_series(&data, &run, &["--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("replacing the earlier run"));
    // From inside the run folder, `--out .` is the current directory.
    let out = autodidact_in(
        &run,
        &[
            "pretrain",
            "--method",
            "ts-order",
            "--data",
            s(&data),
            "--out",
            ".",
            "--steps",
            "3",
            "--batch-size",
            "4",
            "--force",
        ],
    );
    assert_clean_error(&out, "is the current directory or one of its parents");
    // A run folder that holds the data it trains on.
    let inner = run.join("checkpoints").join("Waves");
    write_problem(&inner, "Waves", 6, 24);
    let out = pretrain_series(&inner, &run, &["--force"]);
    assert_clean_error(&out, "holds the data");
    assert!(inner.join("Waves_TRAIN.ts").is_file());
}

#[test]
fn a_run_that_fails_before_its_first_checkpoint_does_not_block_a_rerun() {
    let dir = tempfile::tempdir().unwrap();
    // Too few tokens for one window of the context: the run fails inside the training loop.
    let corpus = dir.path().join("tiny.txt");
    std::fs::write(&corpus, "a short line\n").unwrap();
    let run = dir.path().join("run");
    let args = [
        "pretrain",
        "--method",
        "clm",
        "--data",
        s(&corpus),
        "--out",
        s(&run),
        "--context",
        "64",
    ];
    for _ in 0..2 {
        let out = autodidact(&args);
        assert_clean_error(&out, "too few for windows of 64");
        assert!(!run.exists(), "the failed run left {}", run.display());
    }
    // A run killed before its first checkpoint leaves its folder; the same command replaces it.
    let data = series_data(dir.path());
    std::fs::create_dir_all(run.join("checkpoints/.tmp-step-00000001")).unwrap();
    std::fs::write(run.join("config.toml"), "method = \"ts-order\"\n").unwrap();
    let out = pretrain_series(&data, &run, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Every numeric flag of every verb, with values outside its range: a one-line error naming the
/// flag, never a panic or a signal.
#[test]
fn bad_flag_values_get_one_line_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = series_data(dir.path());
    let d = s(&data);
    let missing = dir.path().join("missing");
    let unmade = missing.join("run");
    let pretrain: &[&str] = &["pretrain", "--data", d, "--out", s(&unmade)];
    let cases: &[(&[&str], &str, &[&str])] = &[
        (pretrain, "--batch-size", &["0", "-1", "65537", "x"]),
        (pretrain, "--epochs", &["-1", "1e9", "nan"]),
        (pretrain, "--minutes", &["0", "-5", "nan", "inf", "1e300"]),
        (pretrain, "--steps", &["-3", "99999999999"]),
        (pretrain, "--lr", &["-1e-3", "nan", "inf", "11"]),
        (pretrain, "--weight-decay", &["-1", "nan"]),
        (pretrain, "--temperature", &["0", "-0.1", "inf"]),
        (pretrain, "--vit-patch", &["0", "65"]),
        (pretrain, "--context", &["0", "1", "8193"]),
        (pretrain, "--vocab-size", &["0", "1000001"]),
        (pretrain, "--checkpoint-every", &["0"]),
        (pretrain, "--log-every", &["0"]),
        (&["eval", "--run", d, "--data", d], "--knn-k", &["0"]),
        (
            &["eval", "--run", d, "--data", d],
            "--knn-temperature",
            &["0", "nan"],
        ),
        (&["eval", "--run", d, "--data", d], "--linear-steps", &["0"]),
        (
            &["eval", "--run", d, "--data", d],
            "--linear-lr",
            &["-1", "inf"],
        ),
        (
            &["eval", "--run", d, "--data", d],
            "--finetune-epochs",
            &["0"],
        ),
        (
            &["eval", "--run", d, "--data", d],
            "--finetune-dropout",
            &["1", "-0.5"],
        ),
        (
            &["eval", "--run", d, "--data", d],
            "--layer-lr-decay",
            &["0", "1.5"],
        ),
        (&["eval", "--run", d, "--data", d], "--vit-blocks", &["0"]),
        (
            &["generate", "--run", d, "--prompt", "a"],
            "--tokens",
            &["0"],
        ),
        (
            &["generate", "--run", d, "--prompt", "a"],
            "--temperature",
            &["-1", "nan"],
        ),
        (
            &["search", "--run", d, "--corpus", d, "--query", "a"],
            "--k",
            &["0"],
        ),
        (&["demo"], "--epochs", &["-1", "1001"]),
        (&["bench", "simclr-step"], "--batch-size", &["0", "100000"]),
        (&["bench", "knn"], "--bank", &["0", "1000000000"]),
        (&["bench", "augment"], "--threads", &["0"]),
    ];
    for (verb, flag, values) in cases {
        for value in *values {
            let mut args: Vec<String> = verb.iter().map(|a| a.to_string()).collect();
            // `--flag=-1`: a value that starts with a dash is read as the flag's.
            args.push(format!("{flag}={value}"));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = autodidact(&args);
            let needle = format!("'{value}' for '{flag}");
            assert_clean_error(&out, &needle);
            assert!(stderr(&out).contains("expected"), "{}", stderr(&out));
        }
    }
    assert!(
        !missing.exists(),
        "a refused run created {}",
        unmade.display()
    );
    // Path flags: a file to write in a folder that does not exist, or that is a folder.
    let out = autodidact(&[
        "eval",
        "--run",
        d,
        "--data",
        d,
        "--json",
        s(&missing.join("r.json")),
    ]);
    assert_clean_error(
        &out,
        &format!("r.json: the folder {} does not exist", missing.display()),
    );
    let out = autodidact(&["embed", "--run", d, "--data", d, "--out", d]);
    assert_clean_error(&out, "is a folder; give a file name");
    // The case: a text run with a batch of zero sequences.
    let corpus = dir.path().join("small.txt");
    std::fs::write(&corpus, "some text\n".repeat(50)).unwrap();
    let out = autodidact(&[
        "pretrain",
        "--method",
        "clm",
        "--tokenizer",
        "char",
        "--data",
        s(&corpus),
        "--batch-size",
        "0",
        "--steps",
        "5",
        "--out",
        s(&dir.path().join("clm")),
    ]);
    assert_clean_error(&out, "--batch-size");
    // Recipes are held to the same ranges, naming the file and the key.
    let recipe = dir.path().join("bad.toml");
    std::fs::write(&recipe, "lr = -1.0\n").unwrap();
    let out = autodidact(&["pretrain", "--recipe", s(&recipe), "--data", d]);
    assert_clean_error(&out, "bad.toml: lr = -1: expected a number in [0, 10]");
    std::fs::write(&recipe, "[method_config]\nproj_dim = 0\n").unwrap();
    let out = autodidact(&["pretrain", "--recipe", s(&recipe), "--data", d]);
    assert_clean_error(&out, "method_config.proj_dim = 0");
}

#[test]
fn a_run_opened_against_images_of_another_shape_names_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let grey = dir.path().join("grey");
    let colour = dir.path().join("colour");
    write_image_folder(&grey, 4, 12, false);
    write_image_folder(&colour, 4, 12, true);
    let run = dir.path().join("run");
    let out = autodidact(&[
        "pretrain",
        "--data",
        s(&grey),
        "--out",
        s(&run),
        "--epochs",
        "0",
        "--no-cache",
        "--batch-size",
        "4",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for verb in ["eval", "embed"] {
        let npy = dir.path().join("e.npy");
        let mut args = vec![verb, "--run", s(&run), "--data", s(&colour), "--no-cache"];
        if verb == "embed" {
            args.extend_from_slice(&["--out", s(&npy)]);
        }
        let out = autodidact(&args);
        assert_clean_error(&out, "3 channel(s)");
        assert!(stderr(&out).contains("1 channel(s)"), "{}", stderr(&out));
    }
    // A series run read against images, and an image run against a series problem.
    let data = series_data(dir.path());
    let series_run = dir.path().join("series-run");
    assert!(pretrain_series(&data, &series_run, &[]).status.success());
    let out = autodidact(&["eval", "--run", s(&series_run), "--data", s(&grey)]);
    assert_clean_error(&out, "series-run learnt from series: ");
    assert!(
        stderr(&out).contains("grey: no series files"),
        "{}",
        stderr(&out)
    );
    let out = autodidact(&[
        "embed",
        "--run",
        s(&run),
        "--data",
        s(&data),
        "--out",
        "x.npy",
    ]);
    assert_clean_error(&out, "run learnt from images: ");
    // A text run whose tokenizer.json is another run's: both sizes are named.
    let corpus = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text.repeat(40)).unwrap();
        path
    };
    let text_run = |name: &str, corpus: &Path| {
        let run = dir.path().join(name);
        let out = autodidact(&[
            "pretrain",
            "--method",
            "clm",
            "--data",
            s(corpus),
            "--out",
            s(&run),
            "--model",
            "tiny",
            "--context",
            "8",
            "--batch-size",
            "2",
            "--steps",
            "1",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        run
    };
    let cats = text_run("cats", &corpus("cats.txt", "the cat sat on the mat\n"));
    let other = text_run("other", &corpus("other.txt", "xyzw qq\n"));
    std::fs::copy(other.join("tokenizer.json"), cats.join("tokenizer.json")).unwrap();
    let out = autodidact(&[
        "generate",
        "--run",
        s(&cats),
        "--prompt",
        "x",
        "--tokens",
        "2",
    ]);
    assert_clean_error(&out, "tokenizer.json holds");
    assert!(stderr(&out).contains("token.weight"), "{}", stderr(&out));
}

/// The `final loss` figure of a `pretrain` summary.
fn final_loss(out: &Output) -> String {
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| l.starts_with("done:"))
        .unwrap_or_else(|| panic!("no summary in: {text}"));
    line.split("final loss ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no final loss in: {line}"))
        .to_string()
}

#[test]
fn resuming_a_finished_run_reports_its_own_final_loss() {
    let dir = tempfile::tempdir().unwrap();
    let data = series_data(dir.path());
    let run = dir.path().join("series");
    // Logged at steps 0 and 4 only: the last logged loss is not the last step's.
    let first = pretrain_series(&data, &run, &["--steps", "6", "--log-every", "4"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let resumed = autodidact(&["pretrain", "--resume", "--out", s(&run)]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(final_loss(&resumed), final_loss(&first));
    assert_ne!(final_loss(&first), "NaN");

    let corpus = dir.path().join("corpus.txt");
    let text: Vec<String> = sentences(60).into_iter().map(|(_, s)| s).collect();
    std::fs::write(&corpus, text.join("\n")).unwrap();
    let run = dir.path().join("text");
    let args = [
        "pretrain",
        "--method",
        "clm",
        "--data",
        s(&corpus),
        "--out",
        s(&run),
        "--model",
        "tiny",
        "--context",
        "16",
        "--batch-size",
        "4",
        "--steps",
        "6",
        "--log-every",
        "4",
    ];
    let first = autodidact(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    let resumed = autodidact(&["pretrain", "--resume", "--out", s(&run)]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(final_loss(&resumed), final_loss(&first));
    let held_out = |o: &Output| {
        stdout(o)
            .lines()
            .find(|l| l.starts_with("held-out"))
            .map(String::from)
    };
    assert_eq!(held_out(&resumed), held_out(&first));
    assert!(held_out(&first).is_some());
    // Settings belong to the run's config.toml.
    let out = autodidact(&["pretrain", "--resume", "--out", s(&run), "--lr", "0.1"]);
    assert_clean_error(&out, "--lr does not apply with --resume");
}

/// Runs the binary: its output, or None if it was still running after `limit` (then killed).
fn output_within(args: &[&str], limit: Duration) -> Option<Output> {
    let mut child = Command::new(binary())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(child.wait_with_output().unwrap())
}

#[test]
fn a_second_process_cannot_train_into_a_run_folder_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = series_data(dir.path());
    let run = dir.path().join("run");
    let mut first = Command::new(binary())
        .args([
            "pretrain",
            "--method",
            "ts-order",
            "--data",
            s(&data),
            "--out",
            s(&run),
            "--steps",
            "1000000",
            "--batch-size",
            "4",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !run.join("config.toml").exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Were it let in, the resumed run would train beside the first for hours: a minute to refuse.
    let resumed = output_within(
        &["pretrain", "--resume", "--out", s(&run)],
        Duration::from_secs(60),
    );
    let forced = pretrain_series(&data, &run, &["--force"]);
    first.kill().unwrap();
    first.wait().unwrap();
    let resumed = resumed.expect("the resumed run trained beside the first instead of refusing");
    assert_clean_error(
        &resumed,
        "another autodidact process is using this run folder",
    );
    assert_clean_error(
        &forced,
        "another autodidact process is using this run folder",
    );
    assert!(
        run.join("config.toml").is_file(),
        "the busy run was left alone"
    );
}

/// Checkpoints are durable before they replace anything: every file and the temporary folder
/// are synced before the rename into place, and the checkpoints folder after it.
#[test]
#[cfg_attr(
    not(has_strace),
    ignore = "needs strace (apt-get install strace); absent when this crate was built"
)]
fn checkpoints_are_synced_before_and_after_their_rename() {
    let dir = tempfile::tempdir().unwrap();
    let data = series_data(dir.path());
    let run = dir.path().join("run");
    let log = dir.path().join("strace.log");
    let out = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2",
        ])
        .arg("-o")
        .arg(&log)
        .arg(binary())
        .args([
            "pretrain",
            "--method",
            "ts-order",
            "--data",
            s(&data),
            "--out",
            s(&run),
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--checkpoint-every",
            "1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let trace = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    let rename = lines
        .iter()
        .position(|l| {
            l.contains("rename") && l.contains(".tmp-step-00000001") && l.contains("/step-00000001")
        })
        .unwrap_or_else(|| panic!("no rename of the step-1 checkpoint in:\n{trace}"));
    // A file may be synced under a temporary name of its own before it is renamed in the folder.
    let synced_before = |name: &str| {
        lines[..rename]
            .iter()
            .any(|l| l.contains("sync(") && l.contains(&format!(".tmp-step-00000001{name}")))
    };
    for name in ["/model.bpk", "/optim.bpk", "/state.json", ">"] {
        assert!(
            synced_before(name),
            "{name} not synced before the rename:\n{trace}"
        );
    }
    assert!(
        lines[rename..]
            .iter()
            .any(|l| l.contains("sync(") && l.contains("/checkpoints>")),
        "the checkpoints folder is not synced after the rename:\n{trace}"
    );
}
