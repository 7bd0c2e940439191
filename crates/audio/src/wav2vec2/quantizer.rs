//! The product quantizer: `groups` codebooks of `entries` vectors each; a frame picks one entry
//! per group with a straight-through Gumbel softmax (hard in the forward pass, the soft
//! probabilities' gradient in the backward), and the picked vectors are concatenated.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softmax;

use autodidact_core::transformer::normal;

#[derive(Module, Debug)]
pub struct Quantizer {
    /// Frame features -> `groups * entries` logits.
    logits: Linear,
    /// `[groups * entries, dim / groups]`.
    codebook: Param<Tensor<2>>,
    groups: usize,
    entries: usize,
}

/// What [`Quantizer::forward`] hands back for `N` frames.
pub struct Quantized {
    /// The concatenated codewords, `[N, dim]`.
    pub vectors: Tensor<2>,
    /// The entry each frame picked in each group, `[N, groups]` (row-major).
    pub codes: Vec<usize>,
    /// The softmax probabilities (without Gumbel noise) averaged over the frames, `[groups, entries]`:
    /// what the diversity loss reads.
    pub mean_probs: Tensor<2>,
}

impl Quantizer {
    pub fn new(d_in: usize, groups: usize, entries: usize, dim: usize, device: &Device) -> Self {
        assert!(
            dim.is_multiple_of(groups),
            "the codeword width splits evenly over the groups"
        );
        Self {
            // fairseq draws these weights from N(0, 1), which on its 512 normalised features makes
            // logits of deviation ~22: a saturated softmax through which the diversity loss has
            // almost no gradient. Short CPU runs collapsed to one entry per group within ten steps
            // that way; logits of unit deviation keep the entries' use open.
            logits: LinearConfig::new(d_in, groups * entries)
                .with_initializer(normal(1.0 / (d_in as f64).sqrt()))
                .init(device),
            codebook: Param::from_tensor(Tensor::random(
                [groups * entries, dim / groups],
                Distribution::Uniform(0.0, 1.0),
                device,
            )),
            groups,
            entries,
        }
    }

    pub fn groups(&self) -> usize {
        self.groups
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Quantizes `x` (`[N, d_in]`) with Gumbel temperature `tau`; `noise` adds the Gumbel noise
    /// (training), without it each group picks its most likely entry.
    pub fn forward(&self, x: Tensor<2>, tau: f64, noise: bool) -> Quantized {
        let [n, _] = x.dims();
        let (g, v) = (self.groups, self.entries);
        let logits = self.logits.forward(x).reshape([n, g, v]);
        let mean_probs = softmax(logits.clone(), 2).mean_dim(0).reshape([g, v]);
        let perturbed = if noise {
            let u = Tensor::<3>::random(
                [n, g, v],
                Distribution::Uniform(1e-6, 1.0 - 1e-6),
                &logits.device(),
            );
            logits + u.log().neg().log().neg()
        } else {
            logits
        };
        let soft = softmax(perturbed.clone().div_scalar(tau), 2);
        let codes: Vec<usize> = perturbed
            .argmax(2)
            .into_data()
            .iter::<i64>()
            .map(|c| c as usize)
            .collect();
        let hard = one_hot(&codes, n, g, v, &soft.device());
        let picked = straight_through(hard, soft);
        Quantized {
            vectors: self.lookup(picked),
            codes,
            mean_probs,
        }
    }

    /// `[N, G, V]` one-hot (or soft) choices -> `[N, dim]`, group by group.
    fn lookup(&self, choices: Tensor<3>) -> Tensor<2> {
        let [n, g, v] = choices.dims();
        let book = self.codebook.val();
        let width = book.dims()[1];
        let per_group: Vec<Tensor<2>> = (0..g)
            .map(|i| {
                let c = choices.clone().narrow(1, i, 1).reshape([n, v]);
                c.matmul(book.clone().narrow(0, i * v, v))
            })
            .collect();
        Tensor::cat(per_group, 1).reshape([n, g * width])
    }
}

/// The hard choice in the forward pass with the soft one's gradient: `hard - sg(soft) + soft`.
pub fn straight_through(hard: Tensor<3>, soft: Tensor<3>) -> Tensor<3> {
    hard - soft.clone().detach() + soft
}

fn one_hot(codes: &[usize], n: usize, g: usize, v: usize, device: &Device) -> Tensor<3> {
    let mut data = vec![0.0f32; n * g * v];
    for (i, &c) in codes.iter().enumerate() {
        data[i * v + c] = 1.0;
    }
    Tensor::from_data(TensorData::new(data, [n, g, v]), device)
}

/// The perplexity of each group's mean distribution (`[G, V]`): `exp` of its entropy, from 1 (one
/// entry used) to V (all used equally).
pub fn perplexities(mean_probs: Tensor<2>) -> Tensor<1> {
    let [g, _] = mean_probs.dims();
    let entropy = (mean_probs.clone() * (mean_probs + 1e-7).log())
        .sum_dim(1)
        .neg();
    entropy.exp().reshape([g])
}

/// wav2vec 2.0's diversity loss as fairseq and Hugging Face compute it: `(GV - sum_g exp H(p_g)) /
/// GV` over the groups' mean distributions: 0 when every entry is used equally, near 1 when each
/// group uses one.
pub fn diversity_loss(mean_probs: Tensor<2>) -> Tensor<1> {
    let [g, v] = mean_probs.dims();
    let total = (g * v) as f64;
    (perplexities(mean_probs).sum().neg() + total).div_scalar(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().iter::<f32>().collect()
    }

    #[test]
    fn the_straight_through_output_is_the_chosen_codeword_and_gradients_reach_the_logits() {
        let device = Device::flex().autodiff();
        let q = Quantizer::new(6, 2, 5, 8, &device);
        let x = Tensor::<2>::random([4, 6], Distribution::Normal(0.0, 1.0), &device);
        let out = q.forward(x, 2.0, true);
        assert_eq!(out.vectors.dims(), [4, 8]);
        let book = values(q.codebook.val());
        let got = values(out.vectors.clone());
        for n in 0..4 {
            for g in 0..2 {
                let code = out.codes[n * 2 + g];
                let word = &book[(g * 5 + code) * 4..][..4];
                let slot = &got[n * 8 + g * 4..][..4];
                for (a, b) in word.iter().zip(slot) {
                    assert!(
                        (a - b).abs() < 1e-5,
                        "frame {n}, group {g}: {slot:?} vs {word:?}"
                    );
                }
            }
        }
        let grads = out.vectors.sum().backward();
        let logit_grad = q
            .logits
            .weight
            .grad(&grads)
            .expect("the logits get a gradient");
        let norm: f32 = logit_grad.square().sum().into_scalar();
        assert!(norm > 0.0, "gradient norm of the logits {norm}");
    }

    #[test]
    fn the_diversity_loss_equals_its_formula_and_is_least_for_uniform_use() {
        let device = Device::flex();
        let p = [0.7f32, 0.1, 0.1, 0.1, 0.25, 0.25, 0.25, 0.25];
        let probs = Tensor::<2>::from_data(TensorData::new(p.to_vec(), [2, 4]), &device);
        let h0 = -(0.7f64 * 0.7f64.ln() + 3.0 * 0.1 * 0.1f64.ln());
        let h1 = 4f64.ln();
        let expected = (8.0 - h0.exp() - h1.exp()) / 8.0;
        let got: f64 = diversity_loss(probs).into_scalar::<f32>() as f64;
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");

        let uniform = Tensor::<2>::ones([2, 4], &device) / 4.0;
        let least: f32 = diversity_loss(uniform).into_scalar();
        assert!(least.abs() < 1e-5, "uniform use: {least}");
        for skew in [0.3f32, 0.5, 0.9, 0.99] {
            let rest = (1.0 - skew) / 3.0;
            let probs = Tensor::<2>::from_data(
                TensorData::new(vec![skew, rest, rest, rest, skew, rest, rest, rest], [2, 4]),
                &device,
            );
            let loss: f32 = diversity_loss(probs).into_scalar();
            assert!(loss > least, "skew {skew}: {loss}");
        }
        let collapsed = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [2, 4]),
            &device,
        );
        let ppl: Vec<f32> = perplexities(collapsed).into_data().iter::<f32>().collect();
        assert!(ppl.iter().all(|p| (p - 1.0).abs() < 1e-3), "{ppl:?}");
    }
}
