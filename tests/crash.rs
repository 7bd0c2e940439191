//! A run killed with SIGKILL at 20 random instants, and resumed after each, ends with the
//! encoder of the same run left alone, byte for byte, and the same loss at every step: for an
//! image, a series and a text run.
//! Checkpoints are saved every step, so many kills land inside a save.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::binary;
use common::fixtures::{sentences, write_image_folder, write_problem};

const KILLS: usize = 20;

fn spawn(args: &[String], out: &Path) -> Child {
    Command::new(binary())
        .args(args)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

/// Runs to the end and checks it succeeded.
fn finish(args: &[String], out: &Path) {
    let status = spawn(args, out).wait().unwrap();
    assert!(status.success(), "{args:?} into {} failed", out.display());
}

/// Whether a checkpoint save was cut short: its temporary folder, or a checkpoint set aside for
/// its replacement, is still there.
fn partial_save(run: &Path) -> bool {
    std::fs::read_dir(run.join("checkpoints")).is_ok_and(|entries| {
        entries.filter_map(|e| e.ok()).any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(".tmp-step-") || name.starts_with(".old-step-")
        })
    })
}

/// Trains `fresh` (a `pretrain` command line without `--out`) once whole, then once killed
/// [`KILLS`] times at random instants and resumed after each; the two must end equal.
fn survives_kills(name: &str, fresh: &[&str], seed: u64) {
    let fresh: Vec<String> = fresh.iter().map(|a| a.to_string()).collect();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let start = Instant::now();
    finish(&fresh, &whole);
    let full = start.elapsed();

    let run = dir.path().join("killed");
    let resume: Vec<String> = ["pretrain", "--resume"].map(String::from).to_vec();
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut kills, mut partial, mut sessions) = (0, 0, 0);
    while kills < KILLS {
        sessions += 1;
        // Without a config.toml the run never got going: the same command starts it again.
        let args = if run.join("config.toml").exists() {
            &resume
        } else {
            &fresh
        };
        let mut child = spawn(args, &run);
        let wait = full.mul_f64(rng.random_range(0.0..0.08));
        std::thread::sleep(wait);
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{name}: session {sessions} failed");
            if !run.join("config.toml").exists() {
                continue;
            }
            break; // the run reached its end between two kills
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        partial += usize::from(partial_save(&run));
    }
    finish(&resume, &run);
    println!(
        "{name}: {kills} kills ({partial} inside a checkpoint save) in {sessions} sessions; \
         the run alone took {:.2} s",
        full.as_secs_f64()
    );
    assert_eq!(kills, KILLS, "{name}: the run ended before {KILLS} kills");
    assert!(
        partial > 0,
        "{name}: no kill landed inside a checkpoint save"
    );
    let encoder = |run: &Path| std::fs::read(run.join("encoder.safetensors")).unwrap();
    assert!(
        encoder(&whole) == encoder(&run),
        "{name}: the killed run's encoder differs"
    );
    // Every step's loss agrees too: the whole model (heads, averages, optimiser) went the same way.
    assert_eq!(
        common::loss_curve(&whole),
        common::loss_curve(&run),
        "{name}: the killed run's losses differ"
    );
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn an_image_run_killed_20_times_ends_as_if_never_killed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes");
    write_image_folder(&data, 16, 12, false);
    survives_kills(
        "image",
        &[
            "pretrain",
            "--method",
            "simclr",
            "--data",
            s(&data),
            "--no-cache",
            "--batch-size",
            "8",
            "--epochs",
            "10",
            "--checkpoint-every",
            "1",
            "--log-every",
            "1",
        ],
        1,
    );
}

#[test]
fn a_series_run_killed_20_times_ends_as_if_never_killed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("Waves");
    write_problem(&data, "Waves", 10, 32);
    survives_kills(
        "series",
        &[
            "pretrain",
            "--method",
            "ts-contrast",
            "--data",
            s(&data),
            "--batch-size",
            "4",
            "--steps",
            "40",
            "--checkpoint-every",
            "1",
            "--log-every",
            "1",
        ],
        2,
    );
}

#[test]
fn a_text_run_killed_20_times_ends_as_if_never_killed() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    let lines: Vec<String> = sentences(80).into_iter().map(|(_, s)| s).collect();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    survives_kills(
        "text",
        &[
            "pretrain",
            "--method",
            "clm",
            "--data",
            s(&corpus),
            "--model",
            "tiny",
            "--context",
            "16",
            "--batch-size",
            "4",
            "--steps",
            "40",
            "--checkpoint-every",
            "1",
            "--log-every",
            "1",
        ],
        3,
    );
}
