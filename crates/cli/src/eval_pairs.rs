//! `autodidact eval` on a multimodal run: Recall@1/5/10 both ways on the test pairs; given a
//! labelled image set, zero-shot classification by the nearest class embedding (a prompt per
//! class for captions, `--class-audio` recordings for speech) and the image tower's few-label
//! probe through the one suite.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::json;

use super::eval_args::{EvalArgs, RetrievalSplit};
use super::flags;
use super::run_dir::load_data;
use autodidact_audio::data::load_audio;
use autodidact_core::eval::Embeddings;
use autodidact_core::eval::knn::KnnFeatures;
use autodidact_core::eval::linear::LinearProbeConfig;
use autodidact_core::eval::report::{EvalReport, format_table};
use autodidact_core::eval::suite::{Precomputed, ProtocolFeatures};
use autodidact_core::split::parse_budgets;
use autodidact_multimodal::batch::PreparedPartners;
use autodidact_multimodal::data::{PairData, Partners};
use autodidact_multimodal::eval::{
    audio_class_embeddings, evaluate_retrieval, partner_features, prompt_embeddings, zero_shot,
};
use autodidact_multimodal::pairs::{PairsLayout, Split};
use autodidact_multimodal::retrieval::{Recall, Retrieval};
use autodidact_multimodal::towers::Towers;
use autodidact_multimodal::train::{PairRunConfig, TOKENIZER_FILE, load_towers};
use autodidact_text::data::load_text_problem;
use autodidact_text::tokenizer::TextTokenizer;
use autodidact_vision::data::ImageFormat;
use autodidact_vision::encoders::Pooling;
use autodidact_vision::eval::baseline::BaselineConfig;
use autodidact_vision::eval::suite::{
    ImageEvaluand, LabelShare, SuiteConfig, evaluate, image_features, parse_protocols,
};

/// The zero-shot prompt when none is given.
const DEFAULT_PROMPT: &str = "a photo of a {label}";

pub(super) fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let run_dir = &args.input.run;
    let cfg = PairRunConfig::load(&run_dir.join("config.toml"))?;
    let device = cfg.device.device()?;
    let towers = load_towers(&cfg, run_dir, &device)?;
    let tokenizer = match run_dir.join(TOKENIZER_FILE) {
        path if path.exists() => Some(TextTokenizer::load(&path)?),
        _ => None,
    };
    if cfg.towers.audio && args.prompt.is_some() {
        bail!(
            "--prompt: {} pairs images with speech; give --class-audio",
            run_dir.display()
        );
    }
    if !cfg.towers.audio && args.class_audio.is_some() {
        bail!(
            "--class-audio: {} pairs images with captions; give --prompt",
            run_dir.display()
        );
    }
    let labelled = PairsLayout::find(&args.input.data).is_err();
    let pairs_path = if labelled {
        cfg.data.clone()
    } else {
        args.input.data.clone()
    };
    let mut extra = serde_json::Map::new();

    let data = PairData::load(&pairs_path, cfg.rate)?;
    cfg.check_data(&data)?;
    let prepared = PreparedPartners::of(
        &data.partners,
        tokenizer.as_ref(),
        cfg.towers.text_model.max_len,
    )?;
    // The validation pairs first, where a data set has them: what choices between runs read.
    if !data.images_in(Split::Val).is_empty() {
        let val = evaluate_retrieval(&towers, &data, &prepared, Split::Val, cfg.image_size)?;
        print_retrieval(&val, data.partners.kind().name(), "validation");
        extra.insert("retrieval_val".into(), serde_json::to_value(&val)?);
    }
    if args.retrieval_split == Some(RetrievalSplit::Val) {
        if !extra.contains_key("retrieval_val") {
            bail!(
                "--retrieval-split val: {} has no validation pairs",
                pairs_path.display()
            );
        }
        if labelled {
            bail!("--retrieval-split val measures retrieval only: give the pairs as --data");
        }
        return flags::write_report(
            args.json.as_deref(),
            EvalReport {
                extra,
                ..EvalReport::default()
            },
        );
    }
    let retrieval = evaluate_retrieval(&towers, &data, &prepared, Split::Test, cfg.image_size)?;
    print_retrieval(&retrieval, data.partners.kind().name(), "test");
    extra.insert("retrieval".into(), serde_json::to_value(&retrieval)?);

    let mut results = Vec::new();
    if labelled {
        let images = load_data(&args.input.data, ImageFormat::Auto, false)?;
        let Some(test) = &images.test else {
            bail!("{}: no test split to classify", args.input.data.display());
        };
        cfg.check_images(test, &args.input.data.display().to_string())?;
        let size = cfg.image_size;
        let names = &test.class_names;
        let classes = if cfg.towers.audio {
            let Some(path) = &args.class_audio else {
                bail!(
                    "zero-shot on an image-speech run needs --class-audio (recordings of each class)"
                );
            };
            class_audio(&towers, path, names, cfg.rate)?
        } else {
            let template = args.prompt.as_deref().unwrap_or(DEFAULT_PROMPT);
            if !template.contains("{label}") {
                bail!("--prompt {template:?}: the template needs {{label}}");
            }
            let tokenizer = tokenizer
                .as_ref()
                .context("the run holds no tokenizer.json")?;
            prompt_embeddings(
                &towers,
                tokenizer,
                template,
                names,
                cfg.towers.text_model.max_len,
            )
        };
        let (accuracy, _) = zero_shot(&towers, test, size, &classes)?;
        let chance = 1.0 / names.len().max(1) as f64;
        println!(
            "zero-shot on {} test images of {} classes: {:.2}% (chance {:.2}%)",
            test.len(),
            names.len(),
            100.0 * accuracy,
            100.0 * chance
        );
        extra.insert(
            "zero_shot".into(),
            json!({"accuracy": accuracy, "chance": chance, "images": test.len(), "classes": names}),
        );

        let budgets = parse_budgets(args.labels_per_class.as_deref().unwrap_or("1,10,100"))
            .map_err(|e| anyhow::anyhow!("--labels-per-class: {e}"))?;
        let protocols = parse_protocols(args.protocol.as_deref().unwrap_or("linear"))
            .map_err(|e| anyhow::anyhow!("--protocol: {e}"))?;
        let shares: Vec<LabelShare> = budgets.into_iter().map(LabelShare::PerClass).collect();
        let defaults = SuiteConfig::new(
            protocols.clone(),
            shares.clone(),
            image_features(KnnFeatures::Centred),
            args.seed,
        );
        let suite = args.suite(defaults, protocols, shares);
        let baseline = BaselineConfig {
            seed: args.seed,
            ..BaselineConfig::default()
        };
        println!("the image tower's probe (its encoder's mean-pooled features):");
        let evaluand = ImageEvaluand::new(
            &towers.image,
            size,
            &images.train,
            test,
            Pooling::Mean,
            baseline,
            &device,
        )?;
        results = evaluate(&evaluand, &suite, &|line| println!("{line}"))?;
        println!("\n{}", format_table(&results));
        if let Some(path) = &args.partner_data {
            let partner = SuiteConfig {
                baseline: false,
                features: PARTNER_FEATURES,
                linear: LinearProbeConfig {
                    standardize: false,
                    ..suite.linear.clone()
                },
                ..suite.clone()
            };
            let evaluand = partner_evaluand(&towers, path, tokenizer.as_ref(), &cfg, args.seed)?;
            let kind = data.partners.kind().name();
            println!(
                "the {kind} tower's probe (its encoder's features) on {}:",
                path.display()
            );
            let partner_results = evaluate(&evaluand, &partner, &|line| println!("{line}"))?;
            println!("\n{}", format_table(&partner_results));
            extra.insert(
                format!("{kind}_tower"),
                serde_json::to_value(&partner_results)?,
            );
        }
    } else if args.partner_data.is_some() {
        bail!(
            "--partner-data: give a labelled image set as --data too (the probes read both towers)"
        );
    }
    let report = EvalReport {
        pooling: labelled.then(|| Pooling::Mean.name().to_string()),
        results,
        extra,
        ..EvalReport::default()
    };
    flags::write_report(args.json.as_deref(), report)
}

/// How the partner tower's probe reads its features: standardised, as text and audio read theirs.
const PARTNER_FEATURES: ProtocolFeatures = ProtocolFeatures {
    knn: KnnFeatures::Standardised,
    linear: KnnFeatures::Standardised,
    svm: KnnFeatures::Standardised,
};

/// The partner tower's features of the labelled captions or recordings at `path`.
fn partner_evaluand(
    towers: &Towers,
    path: &Path,
    tokenizer: Option<&TextTokenizer>,
    cfg: &PairRunConfig,
    seed: u64,
) -> anyhow::Result<Precomputed> {
    let (train, test, train_labels, test_labels) = if cfg.towers.audio {
        let audio = load_audio(path, cfg.rate)?;
        let Some(test) = audio.test else {
            bail!("--partner-data {}: no test split", path.display());
        };
        let labels = |set: &autodidact_audio::AudioSet| set.labels.clone().unwrap_or_default();
        let (tl, sl) = (labels(&audio.train), labels(&test));
        (
            Partners::Audio {
                clips: audio.train.clips,
                rate: cfg.rate,
                names: Vec::new(),
            },
            Partners::Audio {
                clips: test.clips,
                rate: cfg.rate,
                names: Vec::new(),
            },
            tl,
            sl,
        )
    } else {
        let problem = load_text_problem(path, seed)?;
        (
            Partners::Captions(problem.train.texts),
            Partners::Captions(problem.test.texts),
            problem.train.labels,
            problem.test.labels,
        )
    };
    if train_labels.is_empty() || test_labels.is_empty() {
        bail!(
            "--partner-data {}: needs labelled train and test samples",
            path.display()
        );
    }
    let max_len = cfg.towers.text_model.max_len;
    let dim = towers.partner.out_dim();
    let features = |partners: &Partners| -> anyhow::Result<Embeddings> {
        let prepared = PreparedPartners::of(partners, tokenizer, max_len)?;
        let all: Vec<usize> = (0..partners.len()).collect();
        Ok(Embeddings::new(
            partner_features(towers, &prepared, &all),
            partners.len(),
            dim,
        ))
    };
    Ok(Precomputed {
        train: features(&train)?,
        test: features(&test)?,
        train_labels,
        test_labels,
    })
}

fn print_retrieval(r: &Retrieval, partner: &str, split: &str) {
    let line = |name: String, recall: &Recall| {
        println!(
            "  {name:<16} R@1 {:>6.2}%  R@5 {:>6.2}%  R@10 {:>6.2}%",
            100.0 * recall.r1,
            100.0 * recall.r5,
            100.0 * recall.r10
        )
    };
    println!(
        "retrieval among {} {split} images and their {} {partner}s:",
        r.images, r.partners
    );
    line(format!("image -> {partner}"), &r.image_to_text);
    line(format!("{partner} -> image"), &r.text_to_image);
}

/// The class embeddings of the recordings at `path`, in the order of the images' `names`.
fn class_audio(
    towers: &Towers,
    path: &Path,
    names: &[String],
    rate: u32,
) -> anyhow::Result<Vec<f32>> {
    let audio = load_audio(path, rate)?;
    let set = audio.train;
    let Some(labels) = &set.labels else {
        bail!(
            "--class-audio {}: the recordings need classes",
            path.display()
        );
    };
    let mut mapped = Vec::with_capacity(labels.len());
    for &l in labels {
        let name = &set.class_names[l as usize];
        let k = names.iter().position(|n| n == name).with_context(|| {
            format!(
                "--class-audio {}: class {name:?} is not one of the images' classes ({})",
                path.display(),
                names.join(", ")
            )
        })?;
        mapped.push(k as u32);
    }
    audio_class_embeddings(towers, &set.clips, &mapped, names.len(), rate)
}
