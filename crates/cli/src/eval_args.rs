//! `autodidact eval`'s flags, shared by the image, series and text evaluations.

use std::path::PathBuf;

use clap::Args;

use super::flags;
use super::run_dir::RunAndData;
use autodidact_core::eval::knn::{KnnConfig, KnnFeatures};
use autodidact_core::eval::linear::LinearProbeConfig;
use autodidact_core::train::limits;
use autodidact_text::eval::{FineTuneConfig, FrozenEmbeddings};
use autodidact_vision::methods::MethodKind;

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub(super) input: RunAndData,
    /// Labels per class to sample from the train split, e.g. 1,10,100,all (images).
    #[arg(long, default_value = "1,10,100,all")]
    pub(super) labels_per_class: String,
    /// Shares of the train labels, stratified by class, e.g. 0.01,0.1,1 (series and text).
    #[arg(long, default_value = "1")]
    pub(super) labels_fraction: String,
    /// Protocols: knn, linear, svm, finetune, prompt [default: knn,linear for images, svm,linear
    /// for series, knn,linear,finetune for text].
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
    /// Text: peak learning rate of fine-tuning and of the from-scratch baseline.
    #[arg(long, default_value_t = FineTuneConfig::default().lr, value_parser = flags::real(limits::LEARNING_RATE))]
    pub(super) finetune_lr: f64,
    /// Text: passes over the labelled texts when fine-tuning (within 200 to 1,500 steps).
    #[arg(long, default_value_t = FineTuneConfig::default().epochs, value_parser = flags::int(1..=10_000))]
    pub(super) finetune_epochs: usize,
    /// Text: dropout in the Transformer while fine-tuning (both arms).
    #[arg(long, default_value_t = FineTuneConfig::default().dropout, value_parser = flags::real(limits::SHARE))]
    pub(super) finetune_dropout: f64,
    /// Text: layer-wise learning-rate decay when fine-tuning (both arms): each block learns at
    /// this factor times the rate of the block above, the embeddings last; 1 turns it off.
    #[arg(long, default_value_t = FineTuneConfig::default().layer_lr_decay, value_parser = flags::real(limits::FRACTION))]
    pub(super) layer_lr_decay: f64,
    /// Text: arms whose token embeddings stay fixed while the classifier trains.
    #[arg(long, value_enum, default_value = "none")]
    pub(super) freeze_embeddings: FrozenEmbeddings,
    /// Text, `prompt` protocol: the template, with {text} and then [MASK].
    #[arg(long, default_value = "{text} it was [MASK] .")]
    pub(super) prompt: String,
    /// Text, `prompt` protocol: one single-token label word per class, in class order (e.g.
    /// terrible,great for SST-2's 0,1).
    #[arg(long, value_delimiter = ',')]
    pub(super) label_words: Vec<String>,
    /// Images: what k-NN compares: raw, centred (minus the train mean) or standardised (each
    /// dimension also divided by its train deviation) features [default: the method's:
    /// standardised for mae, inpaint and byol, centred for the rest].
    #[arg(long, value_enum)]
    pub(super) knn_features: Option<KnnFeatures>,
    /// Short for --knn-features raw.
    #[arg(long, conflicts_with = "knn_features")]
    pub(super) knn_raw: bool,
    /// Seed of the label sampling and of the classifiers.
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
}

impl EvalArgs {
    /// The k-NN classifier the flags describe.
    pub(super) fn knn_config(&self) -> KnnConfig {
        KnnConfig {
            k: self.knn_k,
            temperature: self.knn_temperature as f32,
        }
    }

    /// The k-NN features the flags name, or else the ones `method` is read with by default.
    pub(super) fn knn_features(&self, method: MethodKind) -> KnnFeatures {
        if self.knn_raw {
            KnnFeatures::Raw
        } else {
            self.knn_features.unwrap_or(method.knn_features())
        }
    }

    /// The linear probe the flags describe.
    pub(super) fn linear_config(&self) -> LinearProbeConfig {
        LinearProbeConfig {
            steps: self.linear_steps,
            lr: self.linear_lr,
            weight_decay: self.linear_weight_decay,
            seed: self.seed,
            ..LinearProbeConfig::default()
        }
    }
}
