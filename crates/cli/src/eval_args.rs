//! `autodidact eval`'s flags: those of every modality, then each modality's own (given for a run
//! of another modality, one is an error naming it).

use std::path::PathBuf;

use clap::Args;

use super::flags;
use super::methods::Modality;
use super::run_dir::RunAndData;
use autodidact_core::eval::knn::{KnnConfig, KnnFeatures};
use autodidact_core::eval::linear::LinearProbeConfig;
use autodidact_core::eval::protocol::Protocol;
use autodidact_core::eval::suite::{LabelShare, ProtocolFeatures, SuiteConfig};
use autodidact_core::train::limits;
use autodidact_text::eval::{FineTuneConfig, FrozenEmbeddings};

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub(super) input: RunAndData,
    /// Images and audio: labels per class to sample from the train split, e.g. 1,10,100,all
    /// [default: 1,10,100,all; audio 1,5,10,all].
    #[arg(long)]
    pub(super) labels_per_class: Option<String>,
    /// Series and text: shares of the train labels, stratified by class, e.g. 0.01,0.1,1
    /// [default: 1].
    #[arg(long)]
    pub(super) labels_fraction: Option<String>,
    /// Protocols: knn, linear, svm, finetune, prompt [default: knn,linear for images, svm,linear
    /// for series, knn,linear,finetune for text and audio].
    #[arg(long)]
    pub(super) protocol: Option<String>,
    /// Also train the same encoder from scratch on the same labels.
    #[arg(long)]
    pub(super) baseline: bool,
    /// Write the results as JSON.
    #[arg(long)]
    pub(super) json: Option<PathBuf>,
    /// Neighbours of the k-NN classifier.
    #[arg(long, default_value_t = 200, value_parser = flags::int(limits::NEIGHBOURS))]
    pub(super) knn_k: usize,
    /// Temperature of the k-NN vote weights.
    #[arg(long, default_value_t = 0.1, value_parser = flags::real(limits::TEMPERATURE))]
    pub(super) knn_temperature: f64,
    /// Optimiser steps of the linear probe.
    #[arg(long, default_value_t = LinearProbeConfig::default().steps, value_parser = flags::int(1..=1_000_000))]
    pub(super) linear_steps: usize,
    /// Peak learning rate of the linear probe (AdamW, cosine decay).
    #[arg(long, default_value_t = LinearProbeConfig::default().lr, value_parser = flags::real(limits::LEARNING_RATE))]
    pub(super) linear_lr: f64,
    /// Weight decay of the linear probe.
    #[arg(long, default_value_t = LinearProbeConfig::default().weight_decay, value_parser = flags::real(limits::WEIGHT_DECAY))]
    pub(super) linear_weight_decay: f64,
    /// Text: peak learning rate of fine-tuning and of the from-scratch baseline [default: 3e-4].
    #[arg(long, value_parser = flags::real(limits::LEARNING_RATE))]
    pub(super) finetune_lr: Option<f64>,
    /// Text: passes over the labelled texts when fine-tuning (within 200 to 1,500 steps)
    /// [default: 10].
    #[arg(long, value_parser = flags::int(1..=10_000))]
    pub(super) finetune_epochs: Option<usize>,
    /// Text: dropout in the Transformer while fine-tuning (both arms) [default: 0.2].
    #[arg(long, value_parser = flags::real(limits::SHARE))]
    pub(super) finetune_dropout: Option<f64>,
    /// Text: layer-wise learning-rate decay when fine-tuning (both arms): each block learns at
    /// this factor times the rate of the block above, the embeddings last; 1 turns it off
    /// [default: 1].
    #[arg(long, value_parser = flags::real(limits::FRACTION))]
    pub(super) layer_lr_decay: Option<f64>,
    /// Text: arms whose token embeddings stay fixed while the classifier trains [default: none].
    #[arg(long, value_enum)]
    pub(super) freeze_embeddings: Option<FrozenEmbeddings>,
    /// Text, `prompt` protocol: the template, with {text} and then [MASK] [default: "{text} it
    /// was [MASK] ."]. Image-caption runs: the zero-shot prompt of each class, with {label}
    /// [default: "a photo of a {label}"].
    #[arg(long)]
    pub(super) prompt: Option<String>,
    /// Text, `prompt` protocol: one single-token label word per class, in class order (e.g.
    /// terrible,great for SST-2's 0,1).
    #[arg(long, value_delimiter = ',')]
    pub(super) label_words: Vec<String>,
    /// Multimodal runs: `val` measures retrieval on the validation pairs only, so that choosing
    /// between runs never reads the test pairs [default: test, with val beside it].
    #[arg(long, value_enum)]
    pub(super) retrieval_split: Option<RetrievalSplit>,
    /// Multimodal runs: a labelled set of the partner modality (captions: a labelled .tsv/.csv
    /// or folder as text runs read; speech: an audio folder or manifest) on which the partner
    /// tower's features get the same few-label probe as the image tower's.
    #[arg(long)]
    pub(super) partner_data: Option<PathBuf>,
    /// Image-speech runs: recordings of each class (an audio folder of class folders, or a
    /// manifest), whose mean embedding is the class's in zero-shot classification.
    #[arg(long)]
    pub(super) class_audio: Option<PathBuf>,
    /// What k-NN compares: raw, centred (minus the train mean) or standardised (each dimension
    /// also divided by its train deviation) features [default: for images the method's,
    /// standardised for mae, inpaint and byol and centred for the rest; centred for series;
    /// standardised for text].
    #[arg(long, value_enum)]
    pub(super) knn_features: Option<KnnFeatures>,
    /// Short for --knn-features raw.
    #[arg(long, conflicts_with = "knn_features")]
    pub(super) knn_raw: bool,
    /// Seed of the label sampling and of the classifiers.
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
}

/// Which pairs a multimodal run's retrieval reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RetrievalSplit {
    Val,
    Test,
}

/// The prompt template of the `prompt` protocol when none is given.
pub(super) const DEFAULT_PROMPT: &str = "{text} it was [MASK] .";

impl EvalArgs {
    /// Fails on a flag that does not apply to a run of `modality`, naming it.
    pub(super) fn check_modality(&self, modality: Modality) -> anyhow::Result<()> {
        self.input.check_modality(modality)?;
        let per_class = [("--labels-per-class", self.labels_per_class.is_some())];
        let fraction = [("--labels-fraction", self.labels_fraction.is_some())];
        let text = [
            ("--finetune-lr", self.finetune_lr.is_some()),
            ("--finetune-epochs", self.finetune_epochs.is_some()),
            ("--finetune-dropout", self.finetune_dropout.is_some()),
            ("--layer-lr-decay", self.layer_lr_decay.is_some()),
            ("--freeze-embeddings", self.freeze_embeddings.is_some()),
            ("--prompt", self.prompt.is_some()),
            ("--label-words", !self.label_words.is_empty()),
        ];
        let pairs = [
            ("--class-audio", self.class_audio.is_some()),
            ("--retrieval-split", self.retrieval_split.is_some()),
            ("--partner-data", self.partner_data.is_some()),
        ];
        let foreign: Vec<(&str, bool)> = match modality {
            Modality::Image => [&fraction[..], &text[..], &pairs[..]].concat(),
            Modality::Series => [&per_class[..], &text[..], &pairs[..]].concat(),
            Modality::Text => [&per_class[..], &pairs[..]].concat(),
            Modality::Audio => [&fraction[..], &text[..], &pairs[..]].concat(),
            // --prompt is the zero-shot template there.
            Modality::Pairs => [&fraction[..], &text[..5], &text[6..]].concat(),
        };
        match foreign.iter().find(|(_, given)| *given) {
            Some((flag, _)) => anyhow::bail!("{flag} does not apply to a {modality} run"),
            None => Ok(()),
        }
    }

    /// The fine-tuning the text flags describe.
    pub(super) fn finetune_config(&self) -> FineTuneConfig {
        let default = FineTuneConfig::default();
        FineTuneConfig {
            seed: self.seed,
            lr: self.finetune_lr.unwrap_or(default.lr),
            epochs: self.finetune_epochs.unwrap_or(default.epochs),
            dropout: self.finetune_dropout.unwrap_or(default.dropout),
            layer_lr_decay: self.layer_lr_decay.unwrap_or(default.layer_lr_decay),
            ..default
        }
    }

    /// The k-NN classifier the flags describe.
    pub(super) fn knn_config(&self) -> KnnConfig {
        KnnConfig {
            k: self.knn_k,
            temperature: self.knn_temperature as f32,
        }
    }

    /// The k-NN features the flags name, or else `default`.
    pub(super) fn knn_features(&self, default: KnnFeatures) -> KnnFeatures {
        if self.knn_raw {
            KnnFeatures::Raw
        } else {
            self.knn_features.unwrap_or(default)
        }
    }

    /// The modality's `defaults` with `protocols`, `shares` and the flags laid over them.
    pub(super) fn suite(
        &self,
        defaults: SuiteConfig,
        protocols: Vec<Protocol>,
        shares: Vec<LabelShare>,
    ) -> SuiteConfig {
        SuiteConfig {
            protocols,
            shares,
            baseline: self.baseline,
            knn: self.knn_config(),
            linear: LinearProbeConfig {
                steps: self.linear_steps,
                lr: self.linear_lr,
                weight_decay: self.linear_weight_decay,
                ..defaults.linear
            },
            features: ProtocolFeatures {
                knn: self.knn_features(defaults.features.knn),
                ..defaults.features
            },
            ..defaults
        }
    }
}
