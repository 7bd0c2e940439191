//! Text on the command line: pretrain, generate, eval and search on generated corpora, and the
//! answers to bad input. The library's own tests are in `crates/text/tests`.

mod common;

use common::fixtures::{sentences, write_labelled};
use common::{run_cli, stderr, stdout};

use std::path::Path;

use autodidact::text::tokenizer::TextTokenizer;
use autodidact::text::train::TextRunConfig;
use autodidact::train::checkpoint::load_run_encoder;

#[test]
fn pretrain_generate_eval_and_search_on_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus.txt");
    let lines: Vec<String> = sentences(200).into_iter().map(|(_, s)| s).collect();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let run = tmp.path().join("clm");
    let (corpus_s, run_s) = (corpus.to_str().unwrap(), run.to_str().unwrap());
    let out = run_cli(&[
        "pretrain",
        "--method",
        "clm",
        "--data",
        corpus_s,
        "--model",
        "tiny",
        "--context",
        "32",
        "--steps",
        "30",
        "--out",
        run_s,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("held-out loss"), "{}", stdout(&out));
    let out = run_cli(&[
        "generate", "--run", run_s, "--prompt", "the ", "--tokens", "40", "--seed", "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("the ") && text.trim_end().chars().count() >= 40,
        "{text}"
    );
    let again = run_cli(&[
        "generate", "--run", run_s, "--prompt", "the ", "--tokens", "40", "--seed", "1",
    ]);
    assert_eq!(text, stdout(&again), "the same seed samples the same text");

    // Transfer and search on a labelled set.
    let data = tmp.path().join("topics");
    write_labelled(&data);
    let mlm = tmp.path().join("mlm");
    let out = run_cli(&[
        "pretrain",
        "--method",
        "mlm",
        "--data",
        data.join("train.tsv").to_str().unwrap(),
        "--model",
        "tiny",
        "--context",
        "64",
        "--steps",
        "20",
        "--out",
        mlm.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Sentence embeddings as matrices: the labelled test split (40 texts) and a plain corpus
    // (one row per line, 200), which has no splits to choose from.
    let embed = |data: &Path, extra: &[&str]| {
        let npy = tmp.path().join("emb.npy");
        let mut args = vec![
            "embed",
            "--run",
            mlm.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--out",
            npy.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = run_cli(&args);
        (out, npy)
    };
    let (out, npy) = embed(&data, &["--split", "test"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (values, shape) = autodidact::eval::npy::read_npy(&npy).unwrap();
    assert_eq!(shape[0], 40);
    assert!(shape[1] > 0 && values.iter().all(|v| v.is_finite()));
    let (out, npy) = embed(&corpus, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(autodidact::eval::npy::read_npy(&npy).unwrap().1[0], 200);
    let (out, _) = embed(&corpus, &["--split", "train"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no splits"), "{}", stderr(&out));

    // SimCSE that starts from the MLM run: its tokenizer and, at learning rate 0, its weights.
    let simcse = tmp.path().join("simcse");
    let from_mlm = |extra: &[&str]| {
        let mut args = vec![
            "pretrain",
            "--method",
            "simcse",
            "--data",
            corpus_s,
            "--init",
            mlm.to_str().unwrap(),
            "--steps",
            "2",
            "--lr",
            "0",
            "--force",
            "--out",
            simcse.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run_cli(&args)
    };
    let out = from_mlm(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let read = |run: &std::path::Path, file: &str| std::fs::read(run.join(file)).unwrap();
    assert_eq!(
        read(&simcse, "tokenizer.json"),
        read(&mlm, "tokenizer.json")
    );
    assert_eq!(encoder_output(&simcse), encoder_output(&mlm));
    let out = from_mlm(&["--model", "small"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--init"), "{}", stderr(&out));

    let json = tmp.path().join("eval.json");
    let (mlm_s, data_s, json_s) = (
        mlm.to_str().unwrap(),
        data.to_str().unwrap(),
        json.to_str().unwrap(),
    );
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", "--run", mlm_s, "--data", data_s, "--json", json_s];
        args.extend_from_slice(extra);
        let out = run_cli(&args);
        let report: Option<serde_json::Value> = out
            .status
            .success()
            .then(|| serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap());
        (out, report)
    };
    let (out, report) = eval(&["--protocol", "knn,linear", "--labels-fraction", "0.1,1"]);
    let report = report.unwrap_or_else(|| panic!("{}", stderr(&out)));
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["labels_fraction"], 0.1);
    // The two topics differ in almost every word: a linear probe on any sensible embedding
    // separates them.
    let linear_all = results[3]["ssl_accuracy"].as_f64().unwrap();
    assert!(linear_all > 0.9, "{report}");

    // Prompt-based fine-tuning: the language-model head scores one label character per topic.
    let prompted = |words: &str| {
        eval(&[
            "--protocol",
            "prompt",
            "--prompt",
            "{text} : [MASK]",
            "--label-words",
            words,
            "--baseline",
        ])
    };
    let (out, report) = prompted("a,m");
    let report = report.unwrap_or_else(|| panic!("{}", stderr(&out)));
    let prompt = &report["results"][0];
    assert_eq!(prompt["protocol"], "prompt", "{report}");
    assert!(prompt["ssl_accuracy"].as_f64().unwrap() > 0.9, "{report}");
    assert!(prompt["baseline_accuracy"].as_f64().is_some(), "{report}");
    let (out, _) = prompted("a");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--label-words"), "{}", stderr(&out));

    let search = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "--run",
            mlm.to_str().unwrap(),
            "--corpus",
            corpus_s,
            "--query",
            "the dog sat on the hill",
            "-k",
            "3",
        ];
        args.extend_from_slice(extra);
        run_cli(&args)
    };
    let first = search(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).contains("embedded"), "{}", stdout(&first));
    let second = search(&[]);
    assert!(stdout(&second).contains("index"), "{}", stdout(&second));
    let listing = stdout(&second);
    let hits: Vec<&str> = listing.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(hits.len(), 3, "{}", stdout(&second));
    assert!(hits.iter().all(|h| h.contains("sat on")), "{hits:?}");
}

/// The hidden states of a run's encoder for a fixed input.
fn encoder_output(run: &Path) -> Vec<f32> {
    let cfg = TextRunConfig::load(&run.join("config.toml")).unwrap();
    let vocab = TextTokenizer::load(&run.join("tokenizer.json"))
        .unwrap()
        .vocab_size();
    let device = burn::prelude::Device::flex();
    let encoder = load_run_encoder(run, cfg.build_encoder(vocab, &device)).unwrap();
    let ids = burn::prelude::Tensor::<2, burn::prelude::Int>::from_data(
        burn::prelude::TensorData::new(vec![2i64, 7, 8, 9], [1, 4]),
        &device,
    );
    encoder
        .forward(ids, None, false)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn bad_text_input_gets_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("train.tsv"),
        "label\tsentence\n0\tfine\nnot a row\n",
    )
    .unwrap();
    std::fs::write(bad.join("test.tsv"), "label\tsentence\n0\tfine\n").unwrap();
    let out = run_cli(&[
        "pretrain",
        "--method",
        "mlm",
        "--data",
        bad.join("train.tsv").to_str().unwrap(),
        "--out",
        tmp.path().join("run").to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("train.tsv:3"), "{err}");
    let out = run_cli(&[
        "generate",
        "--run",
        tmp.path().join("missing").to_str().unwrap(),
        "--prompt",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}
