//! Losses shared by methods.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;

/// Row-wise L2 normalisation.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// NT-Xent (SimCLR's InfoNCE over 2N samples): the positive of row i of `z1` is row i of `z2` and
/// vice versa; every other sample of the 2N is a negative. Mean over the 2N anchors.
pub fn nt_xent(z1: Tensor<2>, z2: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = z1.dims();
    let device = z1.device();
    let z = l2_normalize(Tensor::cat(vec![z1, z2], 0));
    let logits = z.clone().matmul(z.transpose()).div_scalar(temperature);
    // A sample is never its own negative. -1e9 would overflow in f16; -1e4/T is safely small.
    let self_mask = Tensor::<2>::eye(2 * n, &device).bool();
    let logits = logits.mask_fill(self_mask, -1.0e4);
    let targets = Tensor::<1, Int>::arange(0..(2 * n) as i64, &device)
        .add_scalar(n as i64)
        .remainder_scalar((2 * n) as i64);
    CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits, targets)
}

/// Mean per-dimension standard deviation of L2-normalised embeddings, times `sqrt(dim)`: about 1
/// for well-spread embeddings, near 0 when the representation has collapsed to a point.
pub fn normalized_spread(z: Tensor<2>) -> f64 {
    let [n, dim] = z.dims();
    if n < 2 {
        return f64::NAN;
    }
    let z = l2_normalize(z.without_autodiff());
    let std = z.var(0).sqrt().mean().into_scalar::<f32>() as f64;
    std * (dim as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(rows: &[[f32; 2]]) -> Tensor<2> {
        let data: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(data, [rows.len(), 2]), &Device::flex())
    }

    #[test]
    fn nt_xent_matches_hand_computed_value() {
        // z1 = [(1,0), (0,1)], z2 = [(1,0), (0,1)] (already unit). T = 1.
        // Anchor 0 (1,0): candidates are rows 1..3 = (0,1), (1,0), (0,1) with sims 0, 1, 0;
        // the positive is row 2 (sim 1): loss = -ln(e / (e + 2)). All four anchors are symmetric.
        let z = tensor(&[[1.0, 0.0], [0.0, 1.0]]);
        let loss = nt_xent(z.clone(), z, 1.0).into_scalar::<f32>() as f64;
        let e = std::f64::consts::E;
        let expected = -(e / (e + 2.0)).ln();
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
    }

    #[test]
    fn nt_xent_falls_when_positives_align() {
        let a = tensor(&[[1.0, 0.1], [0.1, 1.0]]);
        let far = tensor(&[[0.1, 1.0], [1.0, 0.1]]);
        let near = nt_xent(a.clone(), a.clone(), 0.5).into_scalar::<f32>();
        let wrong = nt_xent(a, far, 0.5).into_scalar::<f32>();
        assert!(near < wrong, "{near} should be below {wrong}");
    }

    #[test]
    fn spread_detects_collapse() {
        let collapsed = tensor(&[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]);
        assert!(normalized_spread(collapsed) < 1e-3);
        let spread = tensor(&[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]);
        assert!(normalized_spread(spread) > 0.5);
    }
}
