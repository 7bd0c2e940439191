//! Data-parallel pre-training under `mpirun -np 2` (issue 27). Built only with `--features mpi`;
//! `.ci/run` installs Open MPI (`scripts/install-mpi.sh`) and runs these.
#![cfg(feature = "mpi")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::fixtures::{sentences, write_folder};
use common::{binary, loss_curve, run_cli, stderr};

/// `mpirun -np <ranks> autodidact <args>`, each rank tagged with `tag` in its environment.
fn mpirun(ranks: usize, args: &[&str], tag: &str) -> Command {
    let mut command = Command::new("mpirun");
    command
        .args(["--oversubscribe", "--bind-to", "none", "-np"])
        .arg(ranks.to_string())
        .arg(binary())
        .args(args)
        // Containers often run as root, and forbid the cross-process memory copies Open MPI
        // tries first.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .env("AUTODIDACT_TEST_TAG", tag);
    command
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn output(mut command: Command) -> Output {
    command
        .output()
        .expect("mpirun runs (scripts/install-mpi.sh)")
}

/// A character-level corpus of generated sentences.
fn corpus(dir: &Path) -> PathBuf {
    let path = dir.join("corpus.txt");
    let lines: Vec<String> = sentences(300).into_iter().map(|(_, s)| s).collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// Next-token pre-training: no cross-sample statistics and no dropout, so a rank's half of the
/// batch gives exactly its share of the whole batch's loss and gradient.
fn clm_args<'a>(corpus: &'a str, out: &'a str, steps: &'a str) -> Vec<&'a str> {
    vec![
        "pretrain",
        "--method",
        "clm",
        "--data",
        corpus,
        "--model",
        "tiny",
        "--context",
        "32",
        "--batch-size",
        "8",
        "--steps",
        steps,
        "--log-every",
        "1",
        "--checkpoint-every",
        "25",
        "--out",
        out,
    ]
}

/// The values of a safetensors file's tensors, in file order, and its header.
fn tensors(path: &Path) -> (Vec<u8>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let values = bytes[8 + header..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (bytes[8..8 + header].to_vec(), values)
}

fn world_size(run: &Path) -> i64 {
    let text = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    table["world_size"].as_integer().unwrap()
}

/// Trains 50 steps in one process and on two ranks, with `optimizer` flags; checks the loss
/// curves (1e-4 relative) and the encoders' weights (`tolerance`).
fn one_process_and_two_ranks_agree(optimizer: &[&str], tolerance: f32) {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus(tmp.path());
    let (single, ranks) = (tmp.path().join("single"), tmp.path().join("ranks"));
    let c = corpus.to_str().unwrap();
    let (single_s, ranks_s) = (single.to_str().unwrap(), ranks.to_str().unwrap());
    let mut single_args = clm_args(c, single_s, "50");
    single_args.extend_from_slice(optimizer);
    let mut ranks_args = clm_args(c, ranks_s, "50");
    ranks_args.extend_from_slice(optimizer);
    let out = run_cli(&single_args);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = output(mpirun(2, &ranks_args, "equal"));
    assert!(out.status.success(), "{}", stderr(&out));

    let (want, got) = (loss_curve(&single), loss_curve(&ranks));
    assert!(want.len() >= 50, "{want:?}");
    assert_eq!(got.len(), want.len(), "rank 0 alone writes the metrics");
    for ((step, g), (_, w)) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-4 * w.abs(), "step {step}: {g} vs {w}");
    }
    let (header, values) = tensors(&single.join("encoder.safetensors"));
    let (header_ranks, values_ranks) = tensors(&ranks.join("encoder.safetensors"));
    assert_eq!(header, header_ranks);
    for (g, w) in values_ranks.iter().zip(&values) {
        assert!((g - w).abs() <= tolerance, "{g} vs {w}");
    }
    assert_eq!((world_size(&single), world_size(&ranks)), (1, 2));
}

#[test]
fn two_ranks_with_half_batches_follow_one_process_with_the_whole_batch() {
    one_process_and_two_ranks_agree(&["--optimizer", "sgd", "--lr", "0.1"], 1e-5);
}

#[test]
fn with_adamw_too_up_to_the_parameters_it_moves_on_rounding_noise() {
    // A key bias has no gradient in exact arithmetic (softmax ignores a shift shared by every
    // key), so AdamW's normalised step turns its rounding noise, which the summation order
    // changes, into full-size steps: 50 steps leave it a few 1e-5 apart, the rest within 5e-6.
    one_process_and_two_ranks_agree(&[], 1e-4);
}

/// The process ids of the ranks tagged `tag` with rank `rank`.
fn rank_pids(tag: &str, rank: usize) -> Vec<u32> {
    let want_tag = format!("AUTODIDACT_TEST_TAG={tag}");
    let want_rank = format!("OMPI_COMM_WORLD_RANK={rank}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            let vars: Vec<&[u8]> = env.split(|&b| b == 0).collect();
            vars.contains(&want_tag.as_bytes()) && vars.contains(&want_rank.as_bytes())
        })
        .collect()
}

#[test]
fn a_lost_rank_ends_the_others_and_the_checkpoint_resumes_under_mpirun_and_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus(tmp.path());
    let run = tmp.path().join("run");
    let (c, r) = (corpus.to_str().unwrap(), run.to_str().unwrap());
    let tag = format!("lost-{}", std::process::id());
    let mut launch = mpirun(2, &clm_args(c, r, "600"), &tag);
    let mut child = launch
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun starts");
    let started = Instant::now();
    while !run.join("checkpoints").join("step-00000025").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pids = rank_pids(&tag, 1);
    assert_eq!(pids.len(), 1, "rank 1's process");
    let killed = Command::new("kill")
        .arg("-9")
        .arg(pids[0].to_string())
        .status();
    assert!(killed.unwrap().success());
    let lost = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            lost.elapsed() < Duration::from_secs(30),
            "rank 0 outlived rank 1 by 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let out = child.wait_with_output().unwrap();
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("rank 1"), "{message}");

    // The same checkpoint, resumed by one process and by two ranks.
    let alone = tmp.path().join("alone");
    let copied = Command::new("cp").arg("-r").arg(&run).arg(&alone).status();
    assert!(copied.unwrap().success());
    let out = run_cli(&["pretrain", "--resume", "--out", alone.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = output(mpirun(2, &["pretrain", "--resume", "--out", r], "resume"));
    assert!(out.status.success(), "{}", stderr(&out));
    let ends: Vec<(usize, f64)> = [&run, &alone]
        .iter()
        .map(|dir| *loss_curve(dir).last().unwrap())
        .collect();
    assert_eq!((ends[0].0, ends[1].0), (600, 600));
    // 575 steps after the checkpoint the two have drifted apart by rounding only.
    let (a, b) = (ends[0].1, ends[1].1);
    assert!((a - b).abs() <= 0.02 * b.abs(), "{a} vs {b}");
}

#[test]
fn simclr_with_sync_bn_on_two_ranks_follows_one_process() {
    // Each rank augments its slice with the seeds those images have in the whole batch, the
    // negatives are the global batch's with the whole loss's gradient, and BatchNorm normalises
    // over the global batch: what is left is rounding.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("images");
    write_folder(&data, 32);
    let (single, ranks) = (tmp.path().join("single"), tmp.path().join("ranks"));
    let args = |out: &Path| {
        [
            "pretrain",
            "--method",
            "simclr",
            "--data",
            data.to_str().unwrap(),
            "--batch-size",
            "16",
            "--epochs",
            "5",
            "--log-every",
            "1",
            "--sync-bn",
            "--no-cache",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from)
    };
    let (single_args, ranks_args) = (args(&single), args(&ranks));
    let out = run_cli(&strs(&single_args));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = output(mpirun(2, &strs(&ranks_args), "simclr"));
    assert!(out.status.success(), "{}", stderr(&out));
    let (want, got) = (loss_curve(&single), loss_curve(&ranks));
    assert_eq!(want.len(), 20);
    assert_eq!(got.len(), want.len());
    for ((step, g), (_, w)) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-3 * w.abs(), "step {step}: {g} vs {w}");
    }
}
