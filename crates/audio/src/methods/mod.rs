//! The audio methods and their one registration point, the list in
//! [`autodidact_core::method_registry!`] below: a method is a file here and one line there.

use burn::prelude::*;

use crate::batch::ClipBatch;
use crate::encoder::AudioEncoding;
pub use autodidact_core::method::{AfterStep, Method, MethodSettings, StepOutput, device_of};

/// A self-supervised method on audio: a [`Method`] whose batch is the step's raw clips (it makes
/// its own views: spectrogram crops, masked waveform frames) and whose exported encoder embeds
/// clips ([`AudioEncoding`]).
pub trait AudioMethod: Method<Batch = ClipBatch, Encoder: AudioEncoding> {
    /// The method's own hyper-parameters (`[method_config]`).
    type Config: MethodSettings;
    /// A fresh encoder of the architecture `cfg` describes (what `eval` loads weights into).
    fn build_encoder(cfg: &Self::Config, device: &Device) -> Self::Encoder;
    /// Builds the method's heads around `encoder`.
    fn new(cfg: &Self::Config, encoder: Self::Encoder, device: &Device) -> Self;
}

autodidact_core::method_registry! {
    /// The registered audio methods.
    pub enum AudioMethodKind: AudioMethod;
    Wav2Vec2 = "wav2vec2" => wav2vec2::Wav2Vec2, "wav2vec 2.0: hide spans of waveform frames, pick each one's quantized latent among distractors.";
    AudioByol = "audio-byol" => audio_byol::AudioByol, "BYOL for Audio: two augmented crops of a log-mel clip, the online branch predicts the EMA target's projection.";
}
