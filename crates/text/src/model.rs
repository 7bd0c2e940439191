//! The Transformer: token and learned position embeddings, pre-norm blocks (multi-head
//! self-attention and a GELU MLP, each on a residual branch), a final LayerNorm. Causal for
//! next-token training, bidirectional otherwise; the language-model head is the token embedding
//! transposed (GPT-2's and BERT's weight tying).

use burn::module::ParamGroup;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use autodidact_core::export::onnx::{Attr, OnnxGraph};
use autodidact_core::transformer::{
    INIT_STD, TransformerBlock as Block, apply_norm, dropout, norm, normal, padding_bias,
};

/// Sizes of the Transformer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransformerConfig {
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    /// Longest sequence (learned positions).
    pub max_len: usize,
    /// Dropout on attention and MLP outputs and on the embeddings, in training.
    pub dropout: f64,
}

impl Default for TransformerConfig {
    /// "small": 4 layers of 256 (3.2 M parameters besides the embeddings).
    fn default() -> Self {
        Self::preset("small").unwrap_or(Self {
            d_model: 256,
            n_layers: 4,
            n_heads: 4,
            max_len: 128,
            dropout: 0.0,
        })
    }
}

impl TransformerConfig {
    /// Named sizes: `tiny` (2 x 128), `mini` (4 x 192), `small` (4 x 256), `base` (6 x 384).
    pub fn preset(name: &str) -> Option<Self> {
        let (d_model, n_layers, n_heads) = match name {
            "tiny" => (128, 2, 4),
            "mini" => (192, 4, 4),
            "small" => (256, 4, 4),
            "base" => (384, 6, 6),
            _ => return None,
        };
        Some(Self {
            d_model,
            n_layers,
            n_heads,
            max_len: 128,
            dropout: 0.0,
        })
    }
}

/// The Transformer over token ids.
#[derive(Module, Debug)]
pub struct TextEncoder {
    token: Embedding,
    position: Embedding,
    blocks: Vec<Block>,
    norm: LayerNorm,
    causal: bool,
    dropout: f64,
    d_model: usize,
    max_len: usize,
}

impl TextEncoder {
    pub fn new(vocab: usize, cfg: &TransformerConfig, causal: bool, device: &Device) -> Self {
        Self {
            token: EmbeddingConfig::new(vocab, cfg.d_model)
                .with_initializer(normal(INIT_STD))
                .init(device),
            position: EmbeddingConfig::new(cfg.max_len, cfg.d_model)
                .with_initializer(normal(INIT_STD))
                .init(device),
            blocks: (0..cfg.n_layers)
                .map(|_| Block::new(cfg.d_model, cfg.n_heads, cfg.n_layers, device))
                .collect(),
            norm: norm(cfg.d_model, device),
            causal,
            dropout: cfg.dropout,
            d_model: cfg.d_model,
            max_len: cfg.max_len,
        }
    }

    /// The same weights with dropout `p` in training (fine-tuning sets its own).
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// The same encoder with its token embeddings out of training (no gradient, so no update);
    /// positions, blocks and norms still learn.
    pub fn with_fixed_token_embeddings(mut self) -> Self {
        self.token = self.token.no_grad();
        self
    }

    /// The parameters by depth, bottom up: token and position embeddings, then each block, then
    /// the final norm (layer-wise learning-rate decay scales each group's rate).
    pub fn depth_groups(&self) -> Vec<ParamGroup> {
        let mut groups = vec![
            ParamGroup::ids_from_module(self.token.clone())
                .fuse(&ParamGroup::ids_from_module(self.position.clone())),
        ];
        groups.extend(
            self.blocks
                .iter()
                .map(|b| ParamGroup::ids_from_module(b.clone())),
        );
        groups.push(ParamGroup::ids_from_module(self.norm.clone()));
        groups
    }

    /// Entries of the token vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.token.weight.dims()[0]
    }

    pub fn d_model(&self) -> usize {
        self.d_model
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    pub fn is_causal(&self) -> bool {
        self.causal
    }

    /// Hidden states `[B, T, D]` of `tokens` (`[B, T]`, `T <= max_len`). `valid` (`[B, T]`, 1 for
    /// real tokens, 0 for padding) keeps padding out of attention. `train` turns dropout on.
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        valid: Option<Tensor<2>>,
        train: bool,
    ) -> Tensor<3> {
        let [b, t] = tokens.dims();
        let device = tokens.device();
        let positions = Tensor::<1, Int>::arange(0..t as i64, &device)
            .reshape([1, t])
            .repeat_dim(0, b);
        let mut bias = Tensor::<4>::zeros([1, 1, t, t], &device);
        if self.causal {
            let future = Tensor::<2, Bool>::tril_mask([t, t], 0, &device);
            bias = bias.mask_fill(future.unsqueeze::<4>(), -1e9);
        }
        if let Some(valid) = valid {
            bias = bias + padding_bias(valid);
        }
        self.forward_with(tokens, positions, bias, train)
    }

    /// Hidden states of `tokens` at `positions` (`[B, T]`), with `bias` (`[B or 1, 1, T, T]`, -1e9
    /// where attention is not allowed) added to every attention score: packed rows of several
    /// texts (see `TokenBatch::packing`).
    pub fn forward_with(
        &self,
        tokens: Tensor<2, Int>,
        positions: Tensor<2, Int>,
        bias: Tensor<4>,
        train: bool,
    ) -> Tensor<3> {
        let x = self.token.forward(tokens) + self.position.forward(positions);
        let mut x = dropout(x, self.dropout, train);
        for block in &self.blocks {
            x = block.forward(x, &bias, self.dropout, train);
        }
        apply_norm(&self.norm, x)
    }

    /// Next-token (or masked-token) logits `[B, T, vocab]` from hidden states, through the tied
    /// token embedding.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let w = self.token.weight.val();
        hidden.matmul(w.transpose().unsqueeze::<3>())
    }

    /// The language-model scores `[N, ids.len()]` of the tokens `ids` for hidden states `[N, D]`
    /// (prompt-based classification reads only the label words).
    pub fn token_scores(&self, hidden: Tensor<2>, ids: &[u32]) -> Tensor<2> {
        let device = hidden.device();
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let n = ids.len();
        let rows = self.token.weight.val().select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(ids, [n]), &device),
        );
        hidden.matmul(rows.transpose())
    }

    /// The sentence embedding `embed_texts` gives, as ONNX nodes: `ids` (`[B, T]` int64),
    /// `valid` (`[B, T]` float, 1 for real tokens) -> `[B, D]`.
    pub fn onnx(&self, g: &mut OnnxGraph, ids: &str, valid: &str) -> String {
        g.describe(
            "text",
            serde_json::json!({
                "vocab": self.vocab_size(), "d_model": self.d_model,
                "layers": self.blocks.len(),
                "heads": self.blocks.first().map_or(1, |b| b.heads()),
                "max_len": self.max_len, "causal": self.causal,
            }),
        );
        let tokens = g.tensor("token.weight", self.token.weight.val());
        let x = g.node("Gather", &[&tokens, ids], &[Attr::Int("axis", 0)]);
        let t = g.node(
            "Shape",
            &[ids],
            &[Attr::Int("start", 1), Attr::Int("end", 2)],
        );
        let zero = g.ints(&[0]);
        let first_axis = g.ints(&[0]);
        let positions = g.tensor("position.weight", self.position.weight.val());
        let positions = g.node("Slice", &[&positions, &zero, &t, &first_axis], &[]);
        let mut x = g.node("Add", &[&x, &positions], &[]);
        let as_keys = g.ints(&[0, 1, 1, -1]);
        let keys = g.node("Reshape", &[valid, &as_keys], &[]);
        let one = g.scalar(1.0);
        let big = g.scalar(1e9);
        let keys = g.node("Sub", &[&keys, &one], &[]);
        let mut bias = g.node("Mul", &[&keys, &big], &[]);
        if self.causal {
            let n = self.max_len;
            let future: Vec<f32> = (0..n * n)
                .map(|i| if i % n > i / n { -1e9 } else { 0.0 })
                .collect();
            let future = g.constant("causal_mask", &[n, n], &future);
            let both = g.node("Concat", &[&t, &t], &[Attr::Int("axis", 0)]);
            let zeros = g.ints(&[0, 0]);
            let axes = g.ints(&[0, 1]);
            let future = g.node("Slice", &[&future, &zeros, &both, &axes], &[]);
            bias = g.node("Add", &[&bias, &future], &[]);
        }
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.onnx(g, &format!("blocks.{i}"), &x, Some(&bias));
        }
        let hidden = g.layer_norm(
            "norm",
            &self.norm,
            autodidact_core::transformer::NORM_EPSILON,
            &x,
        );
        let last = g.ints(&[2]);
        let weights = g.node("Unsqueeze", &[valid, &last], &[]);
        let kept = g.node("Mul", &[&hidden, &weights], &[]);
        let time = g.ints(&[1]);
        let sum = g.node("ReduceSum", &[&kept, &time], &[Attr::Int("keepdims", 0)]);
        let count = g.node("ReduceSum", &[&weights, &time], &[Attr::Int("keepdims", 0)]);
        let count = g.node("Max", &[&count, &one], &[]);
        g.node("Div", &[&sum, &count], &[])
    }

    /// The mean of the hidden states of the valid tokens, `[B, D]` (the sentence embedding).
    pub fn mean_pool(hidden: Tensor<3>, valid: Tensor<2>) -> Tensor<2> {
        let [b, t, d] = hidden.dims();
        let w = valid.reshape([b, t, 1]);
        let count = w.clone().sum_dim(1).clamp_min(1.0);
        ((hidden * w).sum_dim(1) / count).reshape([b, d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> TransformerConfig {
        TransformerConfig {
            d_model: 16,
            n_layers: 2,
            n_heads: 2,
            max_len: 12,
            dropout: 0.0,
        }
    }

    fn ids(v: &[i64], b: usize, t: usize) -> Tensor<2, Int> {
        Tensor::from_data(TensorData::new(v.to_vec(), [b, t]), &Device::flex())
    }

    fn values(x: Tensor<3>) -> Vec<f32> {
        x.into_data().try_to_vec::<f32>().expect("f32")
    }

    #[test]
    fn causal_outputs_do_not_see_the_future() {
        let enc = TextEncoder::new(20, &tiny(), true, &Device::flex());
        let a = values(enc.forward(ids(&[5, 6, 7, 8, 9], 1, 5), None, false));
        let b = values(enc.forward(ids(&[5, 6, 7, 1, 2], 1, 5), None, false));
        // The first three positions are the same, the later ones differ.
        for i in 0..3 * 16 {
            assert!((a[i] - b[i]).abs() < 1e-5, "position {} changed", i / 16);
        }
        assert!((3 * 16..5 * 16).any(|i| (a[i] - b[i]).abs() > 1e-4));
    }

    #[test]
    fn padding_does_not_change_the_real_tokens() {
        let enc = TextEncoder::new(20, &tiny(), false, &Device::flex());
        let alone = values(enc.forward(ids(&[5, 6, 7], 1, 3), None, false));
        let valid = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 1.0, 1.0, 0.0, 0.0], [1, 5]),
            &Device::flex(),
        );
        let padded = values(enc.forward(ids(&[5, 6, 7, 0, 0], 1, 5), Some(valid), false));
        for i in 0..3 * 16 {
            assert!(
                (alone[i] - padded[i]).abs() < 1e-5,
                "{} vs {}",
                alone[i],
                padded[i]
            );
        }
    }

    #[test]
    fn a_packed_text_is_encoded_as_it_would_be_alone() {
        let enc = TextEncoder::new(20, &tiny(), false, &Device::flex());
        let texts = vec![vec![2u32, 5, 6, 7], vec![2, 9, 8]];
        let rows = crate::batch::pack_rows(&texts, &[0, 1], 12);
        let batch = crate::batch::packed_batch(&texts, &rows, 12, 0);
        let (tokens, _) = batch.tensors(&Device::flex());
        let (positions, bias) = batch.packing(&Device::flex()).expect("packed");
        let packed = values(enc.forward_with(tokens, positions, bias, false));
        let first = values(enc.forward(ids(&[2, 5, 6, 7], 1, 4), None, false));
        let second = values(enc.forward(ids(&[2, 9, 8], 1, 3), None, false));
        let alone: Vec<f32> = first.into_iter().chain(second).collect();
        for (i, (a, p)) in alone.iter().zip(&packed).enumerate() {
            assert!((a - p).abs() < 1e-5, "token {}: {a} vs {p}", i / 16);
        }
    }

    #[test]
    fn fixed_token_embeddings_get_no_gradient_and_the_rest_does() {
        let device = Device::flex().autodiff();
        let grads_of = |enc: &TextEncoder| {
            let tokens = Tensor::from_data(TensorData::new(vec![5i64, 6, 7], [1, 3]), &device);
            enc.forward(tokens, None, true)
                .powi_scalar(2)
                .sum()
                .backward()
        };
        let fixed = TextEncoder::new(20, &tiny(), false, &device).with_fixed_token_embeddings();
        let grads = grads_of(&fixed);
        assert!(fixed.token.weight.grad(&grads).is_none());
        assert!(fixed.position.weight.grad(&grads).is_some());
        let learning = TextEncoder::new(20, &tiny(), false, &device);
        assert!(learning.token.weight.grad(&grads_of(&learning)).is_some());
    }

    #[test]
    fn logits_have_one_score_per_vocabulary_entry() {
        let enc = TextEncoder::new(20, &tiny(), true, &Device::flex());
        let h = enc.forward(ids(&[1, 2, 3, 4], 2, 2), None, false);
        assert_eq!(enc.logits(h).dims(), [2, 2, 20]);
    }
}
