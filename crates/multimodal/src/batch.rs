//! Batches of pairs: images (augmented in training) beside one partner each, captions as token
//! ids or recordings as log-mel spectrograms, both prepared once before training.

use std::ops::Range;

use autodidact_core::train::shard::{Shard, rows};
use burn::prelude::*;

use crate::data::{PairData, Partners};
use crate::pairs::Split;
use autodidact_audio::batch::MelBatch;
use autodidact_audio::features::{LogMel, MelConfig, MelSpectrogram};
use autodidact_core::train::fit::BatchSource;
use autodidact_core::train::order::epoch_batch;
use autodidact_core::train::seed::mix;
use autodidact_text::batch::{TokenBatch, pad_sequences};
use autodidact_text::tokenizer::TextTokenizer;
use autodidact_vision::augment::image::{AugmentConfig, augment_batch, normalise_batch};
use autodidact_vision::data::ImageSet;

/// Stream of the per-epoch image order.
const ORDER_STREAM: u64 = 0x5041_4952_4f52;
/// Stream of the choice among an image's partners.
const PARTNER_STREAM: u64 = 0x5041_5254_4e52;
/// Stream of the image augmentations.
const AUGMENT_STREAM: u64 = 0x4155_474d;

/// One side's batch of partners.
#[derive(Clone, Debug)]
pub enum PartnerBatch {
    Text(TokenBatch),
    Audio(MelBatch),
}

/// Images and one partner of each.
#[derive(Clone, Debug)]
pub struct PairBatch {
    /// Normalised pixels, `[B, C, S, S]` row-major.
    pub images: Vec<f32>,
    pub image_shape: [usize; 4],
    pub partners: PartnerBatch,
}

impl PairBatch {
    pub fn image_tensor(&self, device: &Device) -> Tensor<4> {
        images_tensor(self.images.clone(), self.image_shape, device)
    }

    pub fn len(&self) -> usize {
        self.image_shape[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub fn images_tensor(values: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Partners ready to batch: each caption's token ids, or each clip's log-mel spectrogram.
#[derive(Clone, Debug)]
pub enum PreparedPartners {
    Tokens {
        sequences: Vec<Vec<u32>>,
        max_len: usize,
    },
    Mels(Vec<LogMel>),
}

impl PreparedPartners {
    /// Each caption's token ids, `[CLS]` first, cut to `max_len`.
    pub fn captions(captions: &[String], tokenizer: &TextTokenizer, max_len: usize) -> Self {
        PreparedPartners::Tokens {
            sequences: captions
                .iter()
                .map(|c| tokenizer.sequence(c, max_len))
                .collect(),
            max_len,
        }
    }

    /// Each clip's log-mel spectrogram, as the audio tower reads it.
    pub fn clips(clips: &[Vec<f32>], rate: u32) -> Self {
        let mel = MelSpectrogram::new(MelConfig::speech(rate));
        PreparedPartners::Mels(clips.iter().map(|c| mel.log_mel(c)).collect())
    }

    /// A data set's partners: captions need the run's tokenizer.
    pub fn of(
        partners: &Partners,
        tokenizer: Option<&TextTokenizer>,
        max_len: usize,
    ) -> anyhow::Result<Self> {
        match (partners, tokenizer) {
            (Partners::Captions(captions), Some(tokenizer)) => {
                Ok(Self::captions(captions, tokenizer, max_len))
            }
            (Partners::Captions(_), None) => {
                anyhow::bail!("captions need the run's tokenizer (its tokenizer.json)")
            }
            (Partners::Audio { clips, rate, .. }, _) => Ok(Self::clips(clips, *rate)),
        }
    }

    /// The batch of the partners at `indices`.
    pub fn batch(&self, indices: &[usize]) -> PartnerBatch {
        match self {
            PreparedPartners::Tokens { sequences, max_len } => {
                let seqs: Vec<Vec<u32>> = indices.iter().map(|&i| sequences[i].clone()).collect();
                PartnerBatch::Text(pad_sequences(&seqs, *max_len, TextTokenizer::PAD))
            }
            PreparedPartners::Mels(mels) => {
                let chosen: Vec<LogMel> = indices.iter().map(|&i| mels[i].clone()).collect();
                PartnerBatch::Audio(MelBatch::new(&chosen))
            }
        }
    }
}

/// How training images are augmented: a random resized crop of at least `crop_min` of the area,
/// and a horizontal flip with `flip` (0 for digits), no colour change (captions name colours).
pub fn train_augmentation(size: usize, crop_min: f32, flip: f32) -> AugmentConfig {
    AugmentConfig {
        crop_scale: (crop_min, 1.0),
        crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
        flip_prob: flip,
        ..AugmentConfig::identity(size)
    }
}

/// The images of `indices`, unaugmented, resized to `size` where they differ, normalised:
/// `[N, C, size, size]` values and shape.
pub fn plain_images(set: &ImageSet, indices: &[usize], size: usize) -> (Vec<f32>, [usize; 4]) {
    (
        normalise_batch(set, indices, size),
        [indices.len(), set.channels, size, size],
    )
}

/// The training pairs: epochs over the train images, each with one of its train partners drawn
/// per step.
pub struct PairBatches<'a> {
    pub data: &'a PairData,
    pub partners: &'a PreparedPartners,
    /// Train images that have a train partner, and those partners.
    pub images: Vec<usize>,
    pub partners_of: Vec<Vec<usize>>,
    /// Pairs per step: the asked batch size, or every train image when there are fewer.
    pub batch: usize,
    pub seed: u64,
    pub augment: AugmentConfig,
}

impl<'a> PairBatches<'a> {
    pub fn new(
        data: &'a PairData,
        partners: &'a PreparedPartners,
        batch: usize,
        seed: u64,
        augment: AugmentConfig,
    ) -> Self {
        let all = data.partners_of_images();
        let mut images = Vec::new();
        let mut partners_of = Vec::new();
        for i in data.images_in(Split::Train) {
            let train: Vec<usize> = all[i]
                .iter()
                .copied()
                .filter(|&p| data.partner_split[p] == Some(Split::Train))
                .collect();
            if !train.is_empty() {
                images.push(i);
                partners_of.push(train);
            }
        }
        Self {
            batch: batch.min(images.len()),
            data,
            partners,
            images,
            partners_of,
            seed,
            augment,
        }
    }

    /// Training images (each with at least one partner).
    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

impl BatchSource for PairBatches<'_> {
    type Batch = PairBatch;

    fn batch(&mut self, step: usize) -> Option<PairBatch> {
        let order = epoch_batch(
            self.images.len(),
            self.batch,
            self.seed ^ ORDER_STREAM,
            step,
        );
        let picks = mix(self.seed ^ PARTNER_STREAM, step as u64);
        let images: Vec<usize> = order.iter().map(|&k| self.images[k]).collect();
        let partners: Vec<usize> = order
            .iter()
            .enumerate()
            .map(|(j, &k)| {
                let options = &self.partners_of[k];
                options[(mix(picks, j as u64) % options.len() as u64) as usize]
            })
            .collect();
        let set = &self.data.images;
        let pixels = augment_batch(
            set,
            &images,
            &self.augment,
            mix(self.seed ^ AUGMENT_STREAM, step as u64),
        );
        let size = self.augment.out_size;
        Some(PairBatch {
            images: pixels,
            image_shape: [images.len(), set.channels, size, size],
            partners: self.partners.batch(&partners),
        })
    }
}

impl Shard for PairBatch {
    fn samples(&self) -> usize {
        self.len()
    }

    fn slice_samples(self, range: Range<usize>) -> Self {
        let [_, c, h, w] = self.image_shape;
        Self {
            images: rows(&self.images, c * h * w, range.clone()),
            image_shape: [range.len(), c, h, w],
            partners: match self.partners {
                PartnerBatch::Text(t) => PartnerBatch::Text(t.slice_samples(range)),
                PartnerBatch::Audio(a) => PartnerBatch::Audio(a.slice_samples(range)),
            },
        }
    }
}
