//! The two towers: an image encoder of the vision crate and a partner encoder (the text crate's
//! Transformer or the audio crate's spectrogram CNN), each followed by a linear projection into
//! one shared space where embeddings are unit vectors.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::batch::PartnerBatch;
use autodidact_audio::encoder::AudioEncoder;
use autodidact_core::losses::l2_normalize;
use autodidact_text::model::{TextEncoder, TransformerConfig};
use autodidact_vision::encoders::{EncoderKind, ImageEncoder};

/// The partner side's encoder.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum PartnerEncoder {
    Text(TextEncoder),
    Audio(AudioEncoder),
}

impl PartnerEncoder {
    pub fn out_dim(&self) -> usize {
        match self {
            PartnerEncoder::Text(e) => e.d_model(),
            PartnerEncoder::Audio(e) => e.out_dim(),
        }
    }

    /// Features `[B, out_dim]` of `batch`: the mean of a caption's hidden states over its real
    /// tokens, or the clip representation of the spectrogram CNN.
    pub fn forward(&self, batch: &PartnerBatch, device: &Device, train: bool) -> Tensor<2> {
        match (self, batch) {
            (PartnerEncoder::Text(e), PartnerBatch::Text(tokens)) => {
                let (ids, valid) = tokens.tensors(device);
                let hidden = e.forward(ids, Some(valid.clone()), train);
                TextEncoder::mean_pool(hidden, valid)
            }
            (PartnerEncoder::Audio(e), PartnerBatch::Audio(mels)) => {
                e.forward(mels.tensor(device), &mels.lengths)
            }
            _ => panic!("a batch of the other partner kind reached the encoder"),
        }
    }
}

/// What the towers are built of (a run's `config.toml` keeps it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TowersConfig {
    pub image_encoder: EncoderKind,
    pub image_channels: usize,
    /// Patch side of the ViT (ignored by the CNNs).
    pub vit_patch: usize,
    /// The text Transformer's size (captions only).
    pub text_model: TransformerConfig,
    /// Token ids the text tower embeds (its tokenizer's size; captions only).
    pub vocab_size: usize,
    /// The text Transformer attends only to earlier tokens (started from a next-token run).
    pub text_causal: bool,
    /// `true`: the partners are recordings (the audio CNN), `false`: captions.
    pub audio: bool,
    /// Width of the shared space.
    pub embed_dim: usize,
}

impl TowersConfig {
    /// Fresh towers of this architecture.
    pub fn build(&self, device: &Device) -> Towers {
        let image = ImageEncoder::with_vit_patch(
            self.image_encoder,
            self.image_channels,
            self.vit_patch,
            device,
        );
        let partner = if self.audio {
            PartnerEncoder::Audio(AudioEncoder::new(device))
        } else {
            PartnerEncoder::Text(TextEncoder::new(
                self.vocab_size,
                &self.text_model,
                self.text_causal,
                device,
            ))
        };
        Towers::new(image, partner, self.embed_dim, device)
    }
}

/// Both towers and their projections.
#[derive(Module, Debug)]
pub struct Towers {
    pub image: ImageEncoder,
    pub image_projection: Linear,
    pub partner: PartnerEncoder,
    pub partner_projection: Linear,
    /// The image tower is frozen (LiT): no gradient, BatchNorm on its running statistics.
    pub image_locked: bool,
}

impl Towers {
    pub fn new(
        image: ImageEncoder,
        partner: PartnerEncoder,
        embed_dim: usize,
        device: &Device,
    ) -> Self {
        Self {
            image_projection: LinearConfig::new(image.out_dim(), embed_dim)
                .with_bias(false)
                .init(device),
            partner_projection: LinearConfig::new(partner.out_dim(), embed_dim)
                .with_bias(false)
                .init(device),
            image,
            partner,
            image_locked: false,
        }
    }

    /// Freezes the image tower (LiT: "locked image, tuned text").
    pub fn lock_image(mut self) -> Self {
        self.image = self.image.freeze();
        self.image_locked = true;
        self
    }

    /// Unit embeddings `[B, D]` of normalised images `[B, C, H, W]`.
    pub fn embed_images(&self, images: Tensor<4>) -> Tensor<2> {
        let features = self.image.forward(images);
        let features = if self.image_locked {
            features.detach()
        } else {
            features
        };
        l2_normalize(self.image_projection.forward(features))
    }

    /// Unit embeddings `[B, D]` of captions or clips; `train` turns the text tower's dropout on.
    pub fn embed_partners(&self, batch: &PartnerBatch, device: &Device, train: bool) -> Tensor<2> {
        l2_normalize(
            self.partner_projection
                .forward(self.partner.forward(batch, device, train)),
        )
    }

    pub fn embed_dim(&self) -> usize {
        self.image_projection.weight.dims()[1]
    }
}
