//! Few-label transfer on text: sentence embeddings (mean of the token states) for k-NN and the
//! linear probe, full fine-tuning of the pre-trained Transformer with a classification head, and
//! the same model and head trained from scratch on the same labels (the baseline).

use burn::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::module::ParamGroup;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::LabelledTexts;
use super::batch::pad_sequences;
use super::model::TextEncoder;
use super::prompt::Prompt;
use super::tokenizer::TextTokenizer;
use super::train::TextRunConfig;
use autodidact_core::eval::Embeddings;
use autodidact_core::eval::knn::{KnnConfig, accuracy, knn_predict};
use autodidact_core::eval::linear::{LinearProbeConfig, linear_probe};
use autodidact_core::eval::protocol::Protocol;
use autodidact_core::eval::report::EvalResult;
use autodidact_core::split::sample_fraction;
use autodidact_core::train::optim::{OptimizerConfig, OptimizerKind, build_optimizer};
use autodidact_core::train::schedule::warmup_cosine;
use autodidact_core::train::seed::mix;
use autodidact_core::train::seed::{seeded_init, with_seeded_device};

/// Texts per forward pass when embedding or predicting.
const EMBED_BATCH: usize = 64;

/// Sentence embeddings of `texts`: the mean hidden state of each text's tokens.
pub fn embed_texts(
    encoder: &TextEncoder,
    tokenizer: &TextTokenizer,
    texts: &[String],
    device: &Device,
) -> Embeddings {
    let encoder = encoder.valid();
    let mut data = Vec::with_capacity(texts.len() * encoder.d_model());
    for chunk in texts.chunks(EMBED_BATCH) {
        let seqs: Vec<Vec<u32>> = chunk
            .iter()
            .map(|t| tokenizer.sequence(t, encoder.max_len()))
            .collect();
        let (ids, valid) =
            pad_sequences(&seqs, encoder.max_len(), TextTokenizer::PAD).tensors(device);
        let hidden = encoder.forward(ids, Some(valid.clone()), false);
        data.extend(
            TextEncoder::mean_pool(hidden, valid)
                .into_data()
                .iter::<f32>(),
        );
    }
    Embeddings::new(data, texts.len(), encoder.d_model())
}

/// Training of a Transformer + linear head on labelled texts: fine-tuning (from the pre-trained
/// weights) and the baseline (from scratch) use the same settings, so only the start differs.
#[derive(Clone, Debug, PartialEq)]
pub struct FineTuneConfig {
    /// Passes over the labelled texts, within `[min_steps, max_steps]` optimiser steps.
    pub epochs: usize,
    pub min_steps: usize,
    pub max_steps: usize,
    pub batch_size: usize,
    /// Peak AdamW rate (10% warm-up, cosine decay to zero); epsilon 1e-8, norms and biases undecayed.
    pub lr: f64,
    pub weight_decay: f64,
    /// Dropout in the Transformer while training the classifier.
    pub dropout: f64,
    /// Keep the token embeddings as they are (only the layers above and the head learn).
    pub fixed_token_embeddings: bool,
    /// Layer-wise learning-rate decay: the head and final norm learn at the full rate, each
    /// block below at this factor times the rate of the one above, the embeddings last
    /// (1 = one rate for all).
    pub layer_lr_decay: f64,
    pub seed: u64,
}

/// The arms of an evaluation whose token embeddings stay fixed while the classifier trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum FrozenEmbeddings {
    /// Every weight learns.
    #[default]
    None,
    /// The pre-trained model's embeddings stay fixed; the from-scratch baseline's learn.
    Pretrained,
    /// Both arms' embeddings stay fixed.
    Both,
}

impl FrozenEmbeddings {
    /// Whether the from-scratch arm (`baseline`) or the pre-trained one keeps its embeddings fixed.
    pub fn fixes(self, baseline: bool) -> bool {
        match self {
            Self::None => false,
            Self::Pretrained => !baseline,
            Self::Both => true,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Pretrained => ", the pre-trained model's token embeddings fixed",
            Self::Both => ", token embeddings fixed in both",
        }
    }
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            min_steps: 200,
            max_steps: 1500,
            batch_size: 32,
            lr: 3e-4,
            weight_decay: 0.01,
            // Chosen on SST-2's dev split at 1% of the labels: 0.2 raised both arms over 0.1.
            dropout: 0.2,
            fixed_token_embeddings: false,
            layer_lr_decay: 1.0,
            seed: 0,
        }
    }
}

impl FineTuneConfig {
    /// Optimiser steps for `n` labelled texts.
    pub fn steps(&self, n: usize) -> usize {
        (self.epochs * n.div_ceil(self.batch_size)).clamp(self.min_steps, self.max_steps)
    }

    pub fn describe(&self) -> String {
        format!(
            "fine-tuning and baseline: Transformer + linear head, {} epochs ({}..{} AdamW steps) at lr {}, batch {}, dropout {}{}",
            self.epochs,
            self.min_steps,
            self.max_steps,
            self.lr,
            self.batch_size,
            self.dropout,
            if self.layer_lr_decay == 1.0 {
                String::new()
            } else {
                format!(", layer-wise rate decay {}", self.layer_lr_decay)
            }
        )
    }

    /// The rates of one step whose scheduled rate is `lr`: each of `depth_groups`
    /// (bottom up, from [`TextEncoder::depth_groups`]) at `lr * decay^(groups - 1 - depth)`, so
    /// the top group and everything outside the groups (the head) learn at `lr`.
    fn layer_rates(&self, lr: f64, depth_groups: &[ParamGroup]) -> ModuleLearningRate {
        if self.layer_lr_decay == 1.0 {
            // One rate: no per-parameter group lookups on every step of the default path.
            return lr.into();
        }
        let top = depth_groups.len().saturating_sub(1);
        depth_groups
            .iter()
            .enumerate()
            .fold(ModuleLrScheduler::new(lr), |rates, (depth, group)| {
                let factor = self.layer_lr_decay.powi((top - depth) as i32);
                rates.with_group(group.clone(), lr * factor)
            })
            .step()
    }
}

#[derive(Module, Debug)]
struct Classifier {
    encoder: TextEncoder,
    head: Linear,
}

/// Trains `encoder` (pre-trained, or fresh for the baseline) on `train` and returns its accuracy
/// on `test`: with a linear head on the mean token state, or with `prompt` the language-model
/// head's scores of the label words at the template's `[MASK]`.
pub fn train_classifier(
    encoder: TextEncoder,
    tokenizer: &TextTokenizer,
    train: &LabelledTexts,
    test: &LabelledTexts,
    cfg: &FineTuneConfig,
    prompt: Option<&Prompt>,
    device: &Device,
) -> f64 {
    let classes = train.num_classes().max(test.num_classes());
    let autodiff = device.clone().autodiff();
    let max_len = encoder.max_len();
    let d = encoder.d_model();
    let mut encoder = encoder.with_dropout(cfg.dropout).train();
    if cfg.fixed_token_embeddings {
        encoder = encoder.with_fixed_token_embeddings();
    }
    let mut model = seeded_init(&autodiff, cfg.seed, || Classifier {
        encoder,
        head: LinearConfig::new(d, classes).init(&autodiff),
    });
    let inputs = |t: &String| match prompt {
        Some(p) => p.sequence(tokenizer, t, max_len),
        None => (tokenizer.sequence(t, max_len), 0),
    };
    let seqs: Vec<(Vec<u32>, usize)> = train.texts.iter().map(inputs).collect();
    let steps = cfg.steps(train.len());
    // As in pre-training (and PyTorch's AdamW): epsilon 1e-8, no decay of norms and biases.
    let mut optim = build_optimizer(&OptimizerConfig {
        kind: OptimizerKind::Adamw,
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        ..OptimizerConfig::default()
    });
    let loss_fn = CrossEntropyLossConfig::new().init(&autodiff);
    let batch = cfg.batch_size.clamp(1, train.len().max(1));
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut pos = order.len();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let warmup = (steps / 10).max(1);
    let depth_groups = model.encoder.depth_groups();
    for step in 0..steps {
        if pos + batch > order.len() {
            order.shuffle(&mut rng);
            pos = 0;
        }
        let idx = &order[pos..pos + batch];
        pos += batch;
        let batch_seqs: Vec<&(Vec<u32>, usize)> = idx.iter().map(|&i| &seqs[i]).collect();
        let y: Vec<i64> = idx.iter().map(|&i| train.labels[i] as i64).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [idx.len()]), &autodiff);
        let logits = with_seeded_device(&autodiff, mix(cfg.seed, step as u64), || {
            model.logits(&batch_seqs, prompt, true, &autodiff)
        });
        let loss = loss_fn.forward(logits, y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = warmup_cosine(cfg.lr, step, warmup, steps);
        model = optim.step(cfg.layer_rates(lr, &depth_groups), model, grads);
    }
    let model = model.valid();
    let mut predictions = Vec::with_capacity(test.len());
    for chunk in test.texts.chunks(EMBED_BATCH) {
        let seqs: Vec<(Vec<u32>, usize)> = chunk.iter().map(inputs).collect();
        let refs: Vec<&(Vec<u32>, usize)> = seqs.iter().collect();
        let logits = model.logits(&refs, prompt, false, device);
        predictions.extend(logits.argmax(1).into_data().iter::<i64>().map(|p| p as u32));
    }
    accuracy(&predictions, &test.labels)
}

impl Classifier {
    /// Class scores `[B, classes]` of token sequences (each with its `[MASK]` position when
    /// prompting).
    fn logits(
        &self,
        seqs: &[&(Vec<u32>, usize)],
        prompt: Option<&Prompt>,
        train: bool,
        device: &Device,
    ) -> Tensor<2> {
        let tokens: Vec<Vec<u32>> = seqs.iter().map(|(s, _)| s.clone()).collect();
        let max_len = self.encoder.max_len();
        let (ids, valid) = pad_sequences(&tokens, max_len, TextTokenizer::PAD).tensors(device);
        let hidden = self.encoder.forward(ids, Some(valid.clone()), train);
        match prompt {
            None => self.head.forward(TextEncoder::mean_pool(hidden, valid)),
            Some(p) => {
                let [b, t, d] = hidden.dims();
                let rows: Vec<i64> = seqs
                    .iter()
                    .enumerate()
                    .map(|(i, (_, mask))| (i * t + mask) as i64)
                    .collect();
                let at_mask = hidden.reshape([b * t, d]).select(
                    0,
                    Tensor::<1, Int>::from_data(TensorData::new(rows, [b]), device),
                );
                self.encoder.token_scores(at_mask, &p.label_ids)
            }
        }
    }
}

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct TextSuiteConfig {
    pub protocols: Vec<TextProtocol>,
    pub fractions: Vec<f64>,
    /// Train the same model from scratch on the same labels.
    pub baseline: bool,
    pub knn: KnnConfig,
    pub linear: LinearProbeConfig,
    pub finetune: FineTuneConfig,
    /// The arms whose token embeddings stay fixed in fine-tuning.
    pub frozen_embeddings: FrozenEmbeddings,
    /// Template and label words of the `prompt` protocol.
    pub prompt: Option<Prompt>,
    pub seed: u64,
}

impl Default for TextSuiteConfig {
    /// Fine-tuning on all the train labels beside the from-scratch baseline.
    fn default() -> Self {
        Self {
            protocols: vec![TextProtocol::Finetune],
            fractions: vec![1.0],
            baseline: true,
            knn: KnnConfig::default(),
            linear: LinearProbeConfig::default(),
            finetune: FineTuneConfig::default(),
            frozen_embeddings: FrozenEmbeddings::default(),
            prompt: None,
            seed: 0,
        }
    }
}

impl TextSuiteConfig {
    /// The fine-tuning settings of one arm: the from-scratch `baseline` or the pre-trained model.
    fn arm(&self, baseline: bool) -> FineTuneConfig {
        FineTuneConfig {
            fixed_token_embeddings: self.frozen_embeddings.fixes(baseline),
            ..self.finetune.clone()
        }
    }
}

/// A classifier on top of the pre-trained Transformer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextProtocol {
    /// On frozen sentence embeddings: k-NN or the linear probe.
    Frozen(Protocol),
    /// The whole Transformer trained with a linear head.
    Finetune,
    /// The whole Transformer trained through its language-model head and a prompt template.
    Prompt,
}

impl TextProtocol {
    pub fn name(self) -> &'static str {
        match self {
            TextProtocol::Frozen(p) => p.name(),
            TextProtocol::Finetune => "finetune",
            TextProtocol::Prompt => "prompt",
        }
    }
}

/// Parses `knn,linear,finetune,prompt` (and `svm`).
pub fn parse_text_protocols(list: &str) -> Result<Vec<TextProtocol>, String> {
    list.split(',')
        .map(|s| match s.trim() {
            "finetune" => Ok(TextProtocol::Finetune),
            "prompt" => Ok(TextProtocol::Prompt),
            other => other
                .parse::<Protocol>()
                .map(TextProtocol::Frozen)
                .map_err(|e| format!("{e}, finetune or prompt")),
        })
        .collect()
}

/// Runs every protocol at every label share for the pre-trained `encoder`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_texts(
    encoder: &TextEncoder,
    tokenizer: &TextTokenizer,
    run: &TextRunConfig,
    train: &LabelledTexts,
    test: &LabelledTexts,
    cfg: &TextSuiteConfig,
    device: &Device,
    log: &dyn Fn(&str),
) -> anyhow::Result<Vec<EvalResult>> {
    if train.is_empty() || test.is_empty() {
        anyhow::bail!("evaluation needs labelled train and test texts");
    }
    let classes = train.num_classes().max(test.num_classes());
    let frozen = cfg
        .protocols
        .iter()
        .any(|p| matches!(p, TextProtocol::Frozen(_)));
    let (train_emb, test_emb) = if frozen {
        log(&format!(
            "embedding {} train and {} test texts",
            train.len(),
            test.len()
        ));
        let tr = embed_texts(encoder, tokenizer, &train.texts, device);
        let te = embed_texts(encoder, tokenizer, &test.texts, device);
        Embeddings::standardized_pair(&tr, &te)
    } else {
        (
            Embeddings::new(Vec::new(), 0, 0),
            Embeddings::new(Vec::new(), 0, 0),
        )
    };
    let mut results = Vec::new();
    for &fraction in &cfg.fractions {
        let idx = sample_fraction(&train.labels, fraction, cfg.seed);
        let labelled = train.subset(&idx);
        // The baseline: the same Transformer from scratch with the same head (prompted or
        // linear) on the same labels.
        let baseline = |prompt: Option<&Prompt>| {
            log(&format!(
                "training the same Transformer from scratch on {} labelled texts ({}%){}",
                idx.len(),
                fraction * 100.0,
                if prompt.is_some() { ", prompted" } else { "" }
            ));
            let fresh = seeded_init(device, cfg.seed ^ 0x5eed, || {
                run.build_encoder(tokenizer.vocab_size(), device)
            });
            train_classifier(
                fresh,
                tokenizer,
                &labelled,
                test,
                &cfg.arm(true),
                prompt,
                device,
            )
        };
        let linear_head = cfg.protocols.iter().any(|&p| p != TextProtocol::Prompt);
        let baseline_accuracy = (cfg.baseline && linear_head).then(|| baseline(None));
        let prompt_baseline = match (&cfg.prompt, cfg.baseline) {
            (Some(p), true) if cfg.protocols.contains(&TextProtocol::Prompt) => {
                Some(baseline(Some(p)))
            }
            _ => None,
        };
        for &protocol in &cfg.protocols {
            let ssl_accuracy = match protocol {
                TextProtocol::Frozen(Protocol::Knn) => {
                    let pred = knn_predict(
                        &train_emb.select(&idx),
                        &labelled.labels,
                        classes,
                        &test_emb,
                        &cfg.knn,
                    );
                    accuracy(&pred, &test.labels)
                }
                TextProtocol::Frozen(Protocol::Linear) => linear_probe(
                    &train_emb.select(&idx),
                    &labelled.labels,
                    classes,
                    &test_emb,
                    &test.labels,
                    &LinearProbeConfig {
                        standardize: false,
                        ..cfg.linear.clone()
                    },
                ),
                TextProtocol::Frozen(Protocol::Svm) => accuracy(
                    &autodidact_core::eval::svm::svm_predict(
                        &train_emb.select(&idx),
                        &labelled.labels,
                        classes,
                        &test_emb,
                        &autodidact_core::eval::svm::SvmConfig::default(),
                    ),
                    &test.labels,
                ),
                TextProtocol::Finetune | TextProtocol::Prompt => {
                    let prompt = match protocol {
                        TextProtocol::Prompt => Some(cfg.prompt.as_ref().ok_or_else(|| {
                            anyhow::anyhow!("the prompt protocol needs a template and label words")
                        })?),
                        _ => None,
                    };
                    let how = prompt.map_or("fine-tuning".to_string(), |p| {
                        format!(
                            "prompt-based fine-tuning ({:?}, label words {})",
                            p.template,
                            p.label_words.join(",")
                        )
                    });
                    log(&format!(
                        "{how} on {} labelled texts ({}%)",
                        idx.len(),
                        fraction * 100.0
                    ));
                    train_classifier(
                        encoder.clone(),
                        tokenizer,
                        &labelled,
                        test,
                        &cfg.arm(false),
                        prompt,
                        device,
                    )
                }
            };
            let baseline = match protocol {
                TextProtocol::Prompt => prompt_baseline,
                _ => baseline_accuracy,
            };
            let result = EvalResult::at_fraction(protocol.name(), fraction, ssl_accuracy, baseline);
            log(&result.line());
            results.push(result);
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_rates_decay_from_the_top_and_leave_the_head_at_the_full_rate() {
        use crate::model::TransformerConfig;
        use burn::module::list_param_ids;
        let device = Device::flex();
        let cfg = TransformerConfig {
            d_model: 8,
            n_layers: 3,
            n_heads: 2,
            max_len: 6,
            dropout: 0.0,
        };
        let encoder = TextEncoder::new(11, &cfg, false, &device);
        let head = LinearConfig::new(8, 2).init(&device);
        let groups = encoder.depth_groups();
        let tuning = FineTuneConfig {
            layer_lr_decay: 0.5,
            ..FineTuneConfig::default()
        };
        let rates = tuning.layer_rates(0.8, &groups);
        // Embeddings, three blocks, the final norm; each encoder tensor in exactly one group.
        let mut per_depth = vec![0; groups.len()];
        for id in list_param_ids(&encoder) {
            let depths: Vec<usize> = (0..groups.len())
                .filter(|&d| groups[d].matches(&id, None))
                .collect();
            assert_eq!(depths.len(), 1);
            per_depth[depths[0]] += 1;
            let expected = 0.8 * 0.5f64.powi(4 - depths[0] as i32);
            assert!((rates.lr_from_param(id, None) - expected).abs() < 1e-12);
        }
        // Token + position tables; per block two norms and four linears (weight and bias each).
        assert_eq!(per_depth, vec![2, 12, 12, 12, 2]);
        for id in list_param_ids(&head) {
            assert_eq!(rates.lr_from_param(id, None), 0.8);
        }
        // Without decay every tensor learns at the scheduled rate.
        let flat = FineTuneConfig::default().layer_rates(0.8, &groups);
        assert!(
            list_param_ids(&encoder)
                .into_iter()
                .all(|id| flat.lr_from_param(id, None) == 0.8)
        );
    }

    #[test]
    fn frozen_embeddings_reach_only_the_arms_named() {
        assert!(!FrozenEmbeddings::None.fixes(false));
        assert!(!FrozenEmbeddings::None.fixes(true));
        assert!(FrozenEmbeddings::Pretrained.fixes(false));
        assert!(!FrozenEmbeddings::Pretrained.fixes(true));
        assert!(FrozenEmbeddings::Both.fixes(false));
        assert!(FrozenEmbeddings::Both.fixes(true));
    }
}
