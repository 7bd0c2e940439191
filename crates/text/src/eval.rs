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
use autodidact_core::eval::knn::accuracy;
use autodidact_core::eval::protocol::Protocol;
use autodidact_core::eval::suite::{
    Baselines, Evaluand, Features, LabelShare, ProtocolFeatures, SuiteConfig,
};
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

/// How texts read the frozen protocols: every protocol on sentence embeddings standardised with
/// the whole train split's statistics.
pub const TEXT_FEATURES: ProtocolFeatures = ProtocolFeatures {
    knn: Features::Standardised,
    linear: Features::Standardised,
    svm: Features::Standardised,
};

/// The text suite's defaults: fine-tuning on all the train labels beside the from-scratch
/// baseline; `seed` draws the labels and seeds the classifiers.
pub fn text_suite(seed: u64) -> SuiteConfig {
    SuiteConfig::new(
        vec![Protocol::Finetune],
        vec![LabelShare::Fraction(1.0)],
        TEXT_FEATURES,
        seed,
    )
}

/// How the protocols that train the Transformer train it.
#[derive(Clone, Debug, Default)]
pub struct TextTraining {
    pub finetune: FineTuneConfig,
    /// The arms whose token embeddings stay fixed in fine-tuning.
    pub frozen_embeddings: FrozenEmbeddings,
    /// Template and label words of the `prompt` protocol.
    pub prompt: Option<Prompt>,
    /// Seed of the from-scratch baseline's initialisation.
    pub seed: u64,
}

impl TextTraining {
    /// The fine-tuning settings of one arm: the from-scratch `baseline` or the pre-trained model.
    fn arm(&self, baseline: bool) -> FineTuneConfig {
        FineTuneConfig {
            fixed_token_embeddings: self.frozen_embeddings.fixes(baseline),
            ..self.finetune.clone()
        }
    }
}

/// A pre-trained Transformer with its tokenizer and labelled train and test texts.
pub struct TextEvaluand<'a> {
    pub encoder: &'a TextEncoder,
    pub tokenizer: &'a TextTokenizer,
    pub run: &'a TextRunConfig,
    pub train: &'a LabelledTexts,
    pub test: &'a LabelledTexts,
    pub training: TextTraining,
    pub device: &'a Device,
}

impl TextEvaluand<'_> {
    /// The prompt of the `prompt` protocol, or an error when none was given.
    fn prompt(&self, protocol: Protocol) -> anyhow::Result<Option<&Prompt>> {
        match protocol {
            Protocol::Prompt => self.training.prompt.as_ref().map(Some).ok_or_else(|| {
                anyhow::anyhow!("the prompt protocol needs a template and label words")
            }),
            _ => Ok(None),
        }
    }
}

impl Evaluand for TextEvaluand<'_> {
    fn train_labels(&self) -> &[u32] {
        &self.train.labels
    }

    fn test_labels(&self) -> &[u32] {
        &self.test.labels
    }

    fn embed(&self, log: &dyn Fn(&str)) -> anyhow::Result<(Embeddings, Embeddings)> {
        log(&format!(
            "embedding {} train and {} test texts",
            self.train.len(),
            self.test.len()
        ));
        let embed = |set: &LabelledTexts| {
            embed_texts(self.encoder, self.tokenizer, &set.texts, self.device)
        };
        Ok((embed(self.train), embed(self.test)))
    }

    /// The same Transformer from scratch with the same head (prompted or linear) on the same
    /// labels: one run for the protocols with a linear head, one for `prompt`.
    fn baselines(
        &self,
        labelled: &[usize],
        share: LabelShare,
        protocols: &[Protocol],
        log: &dyn Fn(&str),
    ) -> anyhow::Result<Baselines> {
        let texts = self.train.subset(labelled);
        let baseline = |prompt: Option<&Prompt>| {
            log(&format!(
                "training the same Transformer from scratch on {} labelled texts ({share}){}",
                labelled.len(),
                if prompt.is_some() { ", prompted" } else { "" }
            ));
            let fresh = seeded_init(self.device, self.training.seed ^ 0x5eed, || {
                self.run
                    .build_encoder(self.tokenizer.vocab_size(), self.device)
            });
            train_classifier(
                fresh,
                self.tokenizer,
                &texts,
                self.test,
                &self.training.arm(true),
                prompt,
                self.device,
            )
        };
        let mut out = Vec::new();
        if protocols.iter().any(|&p| p != Protocol::Prompt) {
            let accuracy = baseline(None);
            out.extend(
                protocols
                    .iter()
                    .filter(|&&p| p != Protocol::Prompt)
                    .map(|&p| (p, accuracy)),
            );
        }
        if protocols.contains(&Protocol::Prompt)
            && let Some(prompt) = &self.training.prompt
        {
            out.push((Protocol::Prompt, baseline(Some(prompt))));
        }
        Ok(out)
    }

    fn trained_protocols(&self) -> &[Protocol] {
        &[Protocol::Finetune, Protocol::Prompt]
    }

    fn train_classifier(
        &self,
        protocol: Protocol,
        labelled: &[usize],
        share: LabelShare,
        log: &dyn Fn(&str),
    ) -> anyhow::Result<f64> {
        let prompt = self.prompt(protocol)?;
        let how = prompt.map_or("fine-tuning".to_string(), |p| {
            format!(
                "prompt-based fine-tuning ({:?}, label words {})",
                p.template,
                p.label_words.join(",")
            )
        });
        log(&format!(
            "{how} on {} labelled texts ({share})",
            labelled.len()
        ));
        Ok(train_classifier(
            self.encoder.clone(),
            self.tokenizer,
            &self.train.subset(labelled),
            self.test,
            &self.training.arm(false),
            prompt,
            self.device,
        ))
    }
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
