//! wav2vec 2.0's parts (Baevski et al. 2020): the convolutional feature encoder and Transformer
//! context network ([`model`]), span masking and distractor sampling ([`masking`]), the
//! Gumbel-softmax product quantizer and the diversity loss ([`quantizer`]). The method that
//! trains them is `methods::wav2vec2`.

pub mod masking;
pub mod model;
pub mod quantizer;
pub mod taps;
