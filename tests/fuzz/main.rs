//! Fuzzing every reader of user bytes: mutated valid inputs and random bytes must give `Ok` or an
//! error, never a panic, a hang or an allocation beyond the target's stated limit.
//!
//! `cargo test --release --test fuzz` runs the short pass (a fixed number of cases per reader,
//! seeded, plus the explicit oversized-claim and decompression-bomb cases). The long pass is
//! ignored by default: `AUTODIDACT_FUZZ_SECONDS=60 cargo test --release --test fuzz -- --ignored
//! --nocapture` gives every reader 60 seconds (`AUTODIDACT_FUZZ_SEED` picks the seed). A failing
//! case's input is written to `target/tmp/fuzz-failures/`.

mod alloc;
mod checkpoints;
#[path = "../common/mod.rs"]
mod common;
mod explicit;
mod mutate;
mod seeds;
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use targets::Target;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// A case slower than this is a failure.
const CASE_SECONDS: f64 = 10.0;
/// A case still running after this long is a hang: the watchdog saves its input and ends the run.
const HANG_SECONDS: u64 = 120;
/// The short pass: cases per reader, and the most seconds it may take.
const SHORT_CASES: u64 = 1500;
const SHORT_SECONDS: f64 = 1.5;
/// The short pass's seed, fixed so that CI runs the same cases every time.
const SHORT_SEED: u64 = 29;
/// Failures recorded per reader before moving on to the next.
const MAX_FAILURES_PER_TARGET: usize = 5;
/// Inputs up to this long are printed in hex beside the saved file.
const PRINT_HEX_UP_TO: usize = 256;

/// The two passes share the allocation counters, so they never run at once.
static ONE_PASS_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Whether a case is running: its panics are recorded, not printed.
static IN_CASE: AtomicBool = AtomicBool::new(false);
static CASE_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// The case being read, for the watchdog.
struct Running {
    target: &'static str,
    case: u64,
    started: Instant,
    input: Vec<u8>,
}
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A folder of this process's own under the target folder (another test process may fuzz at the
/// same time), removed when the pass ends; kept when a hang or an abort ends the process, so the
/// case being read can be found there.
fn work_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fuzz-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("creating the fuzz work folder")
}

fn failure_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures")
}

/// Records panics raised inside a case (on any thread) instead of printing them.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.load(Ordering::SeqCst) {
                lock(&CASE_PANIC).get_or_insert_with(|| info.to_string());
            } else {
                default(info);
            }
        }));
    });
}

/// Ends the process when a case runs past [`HANG_SECONDS`], after saving its input.
fn start_watchdog() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let running = lock(&RUNNING);
                if let Some(r) = running.as_ref()
                    && r.started.elapsed() > Duration::from_secs(HANG_SECONDS)
                {
                    let saved = save_input(r.target, r.case, &r.input);
                    eprintln!(
                        "fuzz {}: case {} still running after {HANG_SECONDS} s (a hang); input \
                         saved to {}",
                        r.target,
                        r.case,
                        saved.display()
                    );
                    std::process::exit(1);
                }
            }
        });
    });
}

fn file_slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Writes a failing input to the failure folder and returns its path.
fn save_input(target: &str, case: u64, input: &[u8]) -> PathBuf {
    let dir = failure_dir();
    std::fs::create_dir_all(&dir).expect("creating the failure folder");
    let path = dir.join(format!("{}-case{case}.bin", file_slug(target)));
    std::fs::write(&path, input).expect("saving a failing input");
    path
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What one case did.
struct Outcome {
    /// The reader's own verdict: `Ok`, or its error message.
    result: Result<(), String>,
    panic: Option<String>,
    peak_bytes: usize,
    seconds: f64,
}

/// Runs `read` on `input` (already written where it reads it), catching panics and measuring.
fn run_case(
    target: &'static str,
    case: u64,
    input: &[u8],
    read: &dyn Fn() -> Result<(), String>,
) -> Outcome {
    *lock(&RUNNING) = Some(Running {
        target,
        case,
        started: Instant::now(),
        input: input.to_vec(),
    });
    *lock(&CASE_PANIC) = None;
    let baseline = alloc::start_measuring();
    let start = Instant::now();
    IN_CASE.store(true, Ordering::SeqCst);
    let caught = catch_unwind(AssertUnwindSafe(read));
    IN_CASE.store(false, Ordering::SeqCst);
    let seconds = start.elapsed().as_secs_f64();
    let peak_bytes = alloc::peak_above(baseline);
    *lock(&RUNNING) = None;
    let panic = lock(&CASE_PANIC).take();
    match caught {
        Ok(result) => Outcome {
            result,
            panic,
            peak_bytes,
            seconds,
        },
        Err(_) => Outcome {
            result: Err("panicked".into()),
            panic: Some(panic.unwrap_or_else(|| "a panic without a message".into())),
            peak_bytes,
            seconds,
        },
    }
}

/// Why `outcome` is a failure, if it is one.
fn problem(outcome: &Outcome, limit_bytes: usize) -> Option<String> {
    if let Some(panic) = &outcome.panic {
        return Some(format!("panic: {panic}"));
    }
    if outcome.peak_bytes > limit_bytes {
        return Some(format!(
            "allocated {} bytes at its peak, over the limit of {limit_bytes}",
            outcome.peak_bytes
        ));
    }
    if outcome.seconds > CASE_SECONDS {
        return Some(format!(
            "took {:.1} s, over the limit of {CASE_SECONDS} s",
            outcome.seconds
        ));
    }
    None
}

/// Reports a failing case: the reader, the case, the problem and where its input is.
fn report_failure(target: &str, case: u64, input: &[u8], problem: &str) -> String {
    let saved = save_input(target, case, input);
    let mut line = format!(
        "{target}: case {case}: {problem}\n  input ({} bytes) saved to {}",
        input.len(),
        saved.display()
    );
    if input.len() <= PRINT_HEX_UP_TO {
        line.push_str(&format!("\n  hex: {}", hex(input)));
    }
    line
}

/// How long a pass fuzzes each reader.
#[derive(Clone, Copy)]
struct Budget {
    cases: u64,
    seconds: f64,
    seed: u64,
}

/// What fuzzing one reader did.
struct Report {
    name: &'static str,
    cases: u64,
    errors: u64,
    seconds: f64,
    max_peak_bytes: usize,
    failures: Vec<String>,
}

/// The seed of case `case` of `target`: a pure function of the pass's seed, so a failure can be
/// replayed.
fn case_seed(seed: u64, target: &str, case: u64) -> u64 {
    let name = target.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (seed ^ name).wrapping_add(case.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn fuzz_target(target: &Target, budget: Budget) -> Report {
    let start = Instant::now();
    let mut report = Report {
        name: target.name,
        cases: 0,
        errors: 0,
        seconds: 0.0,
        max_peak_bytes: 0,
        failures: Vec::new(),
    };
    // The seeds are valid inputs: each must be read without an error.
    for (i, seed) in target.seeds.iter().enumerate() {
        std::fs::write(&target.member, seed).expect("writing a seed");
        let outcome = run_case(target.name, u64::MAX, seed, &target.read);
        let verdict = match &outcome.result {
            Err(e) => Some(format!("valid seed {i} is refused: {e}")),
            Ok(()) => problem(&outcome, target.limit.bytes(seed.len())),
        };
        if let Some(problem) = verdict {
            report.failures.push(format!("{}: {problem}", target.name));
        }
    }
    while report.cases < budget.cases
        && start.elapsed().as_secs_f64() < budget.seconds
        && report.failures.len() < MAX_FAILURES_PER_TARGET
    {
        let case = report.cases;
        let mut rng = StdRng::seed_from_u64(case_seed(budget.seed, target.name, case));
        let input = mutate::case_input(&mut rng, &target.seeds);
        std::fs::write(&target.member, &input).expect("writing the case's input");
        let outcome = run_case(target.name, case, &input, &target.read);
        report.cases += 1;
        report.errors += u64::from(outcome.result.is_err());
        report.max_peak_bytes = report.max_peak_bytes.max(outcome.peak_bytes);
        if let Some(problem) = problem(&outcome, target.limit.bytes(input.len())) {
            report
                .failures
                .push(report_failure(target.name, case, &input, &problem));
        }
    }
    // Targets may share a layout (the checkpoint files): leave it valid for the next.
    std::fs::write(&target.member, &target.seeds[0]).expect("restoring the seed");
    report.seconds = start.elapsed().as_secs_f64();
    report
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Fuzzes every reader with `budget` in `work`, prints a line per reader, and returns every
/// failure.
fn fuzz_all(work: &Path, budget: Budget) -> Vec<String> {
    let targets = targets::all(work);
    println!(
        "fuzz seed {} (cases live under {})",
        budget.seed,
        work.display()
    );
    let mut failures = Vec::new();
    for target in &targets {
        let report = fuzz_target(target, budget);
        println!(
            "fuzz {:<22} {:>8} cases in {:>6.1} s ({:>5.1}% errors), peak {:>7.2} MiB \
             (limit {:.0} MiB + {} x input)",
            report.name,
            report.cases,
            report.seconds,
            100.0 * report.errors as f64 / report.cases.max(1) as f64,
            mib(report.max_peak_bytes),
            mib(target.limit.fixed),
            target.limit.per_input_byte,
        );
        failures.extend(report.failures);
    }
    failures
}

fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failing fuzz case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn readers_survive_mutated_and_oversized_inputs() {
    let _pass = lock(&ONE_PASS_AT_A_TIME);
    install_panic_hook();
    start_watchdog();
    let work = work_dir();
    let mut failures = explicit::run_all(&work.path().join("explicit"));
    failures.extend(fuzz_all(
        work.path(),
        Budget {
            cases: SHORT_CASES,
            seconds: SHORT_SECONDS,
            seed: SHORT_SEED,
        },
    ));
    assert_no_failures(&failures);
}

#[test]
#[ignore = "long fuzz run: AUTODIDACT_FUZZ_SECONDS (default 60) per reader; run with --ignored --nocapture"]
fn readers_survive_a_long_fuzz_run() {
    let _pass = lock(&ONE_PASS_AT_A_TIME);
    install_panic_hook();
    start_watchdog();
    let seconds = std::env::var("AUTODIDACT_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(60.0);
    let seed = std::env::var("AUTODIDACT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    let work = work_dir();
    let failures = fuzz_all(
        work.path(),
        Budget {
            cases: u64::MAX,
            seconds,
            seed,
        },
    );
    assert_no_failures(&failures);
}
