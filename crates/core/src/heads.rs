//! MLP heads: projectors and predictors.

use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use autodidact_kernels::burn_bn::batch_norm;

/// One hidden layer of an MLP head: Linear, optional BatchNorm, ReLU.
#[derive(Module, Debug)]
pub struct HiddenLayer {
    linear: Linear,
    bn: Option<BatchNorm>,
}

/// An MLP `dims[0] -> dims[1] -> ... -> dims[last]`; hidden layers are Linear (+BN) + ReLU, the
/// last layer is a plain Linear.
#[derive(Module, Debug)]
pub struct MlpHead {
    hidden: Vec<HiddenLayer>,
    output: Linear,
}

impl MlpHead {
    /// `dims` needs at least an input and an output size.
    pub fn new(dims: &[usize], batch_norm: bool, device: &Device) -> Self {
        assert!(dims.len() >= 2, "an MLP head needs input and output sizes");
        let last = dims.len() - 1;
        let hidden = (0..last - 1)
            .map(|i| HiddenLayer {
                linear: LinearConfig::new(dims[i], dims[i + 1])
                    .with_bias(!batch_norm)
                    .init(device),
                bn: batch_norm.then(|| BatchNormConfig::new(dims[i + 1]).init(device)),
            })
            .collect();
        Self {
            hidden,
            output: LinearConfig::new(dims[last - 1], dims[last]).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.hidden.iter().fold(x, |x, layer| {
            let x = layer.linear.forward(x);
            match &layer.bn {
                // Through the CPU kernels (and `--sync-bn`) as `[N, D, 1, 1]`, ReLU fused.
                Some(bn) => {
                    let [n, d] = x.dims();
                    batch_norm(bn, x.reshape([n, d, 1, 1]), true).reshape([n, d])
                }
                None => relu(x),
            }
        });
        self.output.forward(x)
    }
}
