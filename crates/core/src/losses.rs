//! Losses shared by methods.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};

use crate::collective::global_loss;

/// Row-wise L2 normalisation.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// NT-Xent (SimCLR's InfoNCE over 2N samples): the positive of row i of `z1` is row i of `z2` and
/// vice versa; every other sample of the 2N is a negative. Mean over the 2N anchors. In a
/// data-parallel run the negatives are the global batch's ([`across_ranks`]).
pub fn nt_xent(z1: Tensor<2>, z2: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = z1.dims();
    let device = z1.device();
    let local = vec![l2_normalize(z1), l2_normalize(z2)];
    across_ranks(local, Vec::new(), |all, _, start| {
        let total = all[0].dims()[0];
        let anchors = Tensor::cat(
            vec![
                all[0].clone().narrow(0, start, n),
                all[1].clone().narrow(0, start, n),
            ],
            0,
        );
        let candidates = Tensor::cat(vec![all[0].clone(), all[1].clone()], 0);
        let logits = anchors
            .matmul(candidates.transpose())
            .div_scalar(temperature);
        // Anchor a is candidate `own(a)`; its other view is its target.
        let own = |a: usize| {
            if a < n {
                start + a
            } else {
                total + start + a - n
            }
        };
        let positive = |a: usize| {
            if a < n {
                total + start + a
            } else {
                start + a - n
            }
        };
        let mut mask = vec![false; 2 * n * 2 * total];
        (0..2 * n).for_each(|a| mask[a * 2 * total + own(a)] = true);
        let mask = Tensor::<2, Bool>::from_data(TensorData::new(mask, [2 * n, 2 * total]), &device);
        // A sample is never its own negative. -1e9 would overflow in f16; -1e4/T is safely small.
        let logits = logits.mask_fill(mask, -1.0e4);
        let targets: Vec<i64> = (0..2 * n).map(|a| positive(a) as i64).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [2 * n]), &device);
        CrossEntropyLossConfig::new()
            .init(&device)
            .forward(logits, targets)
    })
}

/// [`global_loss`]: a loss over every rank's rows of `locals` and the `shared` parameters, this
/// rank's anchors at `start` (a single process: `locals` and 0).
pub fn across_ranks(
    locals: Vec<Tensor<2>>,
    shared: Vec<Tensor<1>>,
    loss: impl Fn(&[Tensor<2>], &[Tensor<1>], usize) -> Tensor<1>,
) -> Tensor<1> {
    // Under MPI a lost rank ends this process before an error could come back; between threads
    // ([`crate::collective::LocalRanks`]) the failing rank's own error is re-raised where it
    // began.
    global_loss(locals, shared, loss).unwrap_or_else(|stopped| panic!("{stopped}"))
}

/// Row-wise cosine similarity of two `[N, D]` batches: `[N]`.
fn row_cosine(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    (l2_normalize(a) * l2_normalize(b)).sum_dim(1).flatten(0, 1)
}

/// Negative cosine similarity, mean over rows (SimSiam's `D(p, z)`). Stop the gradient through
/// `z` at the call site (`z.detach()`).
pub fn negative_cosine(p: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
    row_cosine(p, z).mean().neg()
}

/// BYOL's normalised squared error `|p/|p| - z/|z||^2 = 2 - 2 cos(p, z)`, mean over rows. Stop
/// the gradient through the target `z` at the call site.
pub fn byol_loss(p: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
    row_cosine(p, z).mean().mul_scalar(-2.0).add_scalar(2.0)
}

/// Each column standardised over the batch (BatchNorm without affine, biased variance, eps 1e-5).
fn standardise_columns(z: Tensor<2>) -> Tensor<2> {
    let centred = z.clone() - z.mean_dim(0);
    let var = centred.clone().square().mean_dim(0);
    centred / var.add_scalar(1e-5).sqrt()
}

/// Sum of the squares of a square matrix's off-diagonal entries.
fn off_diagonal_square_sum(c: Tensor<2>) -> Tensor<1> {
    let [d, _] = c.dims();
    let eye = Tensor::<2>::eye(d, &c.device()).bool();
    c.square().mask_fill(eye, 0.0).sum()
}

/// Barlow Twins: `C = z1n^T z2n / N` of the batch-standardised projections;
/// `sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2`.
pub fn barlow_twins_loss(z1: Tensor<2>, z2: Tensor<2>, lambda: f64) -> Tensor<1> {
    let [n, d] = z1.dims();
    let c = standardise_columns(z1)
        .transpose()
        .matmul(standardise_columns(z2))
        .div_scalar(n as f64);
    let diagonal = (c.clone() * Tensor::<2>::eye(d, &c.device())).sum_dim(1);
    let on_diagonal = diagonal.sub_scalar(1.0).square().sum();
    on_diagonal + off_diagonal_square_sum(c).mul_scalar(lambda)
}

/// Weights of VICReg's three terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VicregWeights {
    pub invariance: f64,
    pub variance: f64,
    pub covariance: f64,
}

/// VICReg (Bardes et al. 2022): invariance (mean squared error between the views), variance
/// (hinge keeping each dimension's standard deviation, `sqrt(var + 1e-4)`, at 1 or above) and
/// covariance (squared off-diagonal covariances divided by the dimension), the last two per view
/// (variance averaged over the two, covariance summed), as in the reference code.
pub fn vicreg_loss(z1: Tensor<2>, z2: Tensor<2>, w: VicregWeights) -> Tensor<1> {
    let [n, d] = z1.dims();
    let invariance = (z1.clone() - z2.clone()).square().mean();
    let centre = |z: Tensor<2>| z.clone() - z.mean_dim(0);
    let (x, y) = (centre(z1), centre(z2));
    let hinge = |z: Tensor<2>| {
        let std = z
            .square()
            .sum_dim(0)
            .div_scalar((n - 1) as f64)
            .add_scalar(1e-4)
            .sqrt();
        std.neg().add_scalar(1.0).clamp_min(0.0).mean()
    };
    let variance = (hinge(x.clone()) + hinge(y.clone())).div_scalar(2.0);
    let cov = |z: Tensor<2>| {
        let c = z.clone().transpose().matmul(z).div_scalar((n - 1) as f64);
        off_diagonal_square_sum(c).div_scalar(d as f64)
    };
    let covariance = cov(x) + cov(y);
    invariance.mul_scalar(w.invariance)
        + variance.mul_scalar(w.variance)
        + covariance.mul_scalar(w.covariance)
}

/// InfoNCE with in-batch keys (MoCo v3): row `i` of `k` is the positive of row `i` of `q`, every
/// other row of `k` a negative; both sides are L2-normalised; mean over the rows of `q`.
pub fn info_nce(q: Tensor<2>, k: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = q.dims();
    let device = q.device();
    let logits = l2_normalize(q)
        .matmul(l2_normalize(k).transpose())
        .div_scalar(temperature);
    let targets = Tensor::<1, Int>::arange(0..n as i64, &device);
    CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits, targets)
}

/// InfoNCE against a queue (MoCo v2): row `i` of `k` is the positive of row `i` of `q`, the rows
/// of `queue` (already L2-normalised keys of earlier batches) are the negatives.
pub fn info_nce_queue(q: Tensor<2>, k: Tensor<2>, queue: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = q.dims();
    let device = q.device();
    let q = l2_normalize(q);
    let positive = (q.clone() * l2_normalize(k)).sum_dim(1);
    let negative = q.matmul(queue.transpose());
    let logits = Tensor::cat(vec![positive, negative], 1).div_scalar(temperature);
    let targets = Tensor::<1, Int>::zeros([n], &device);
    CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits, targets)
}

/// DINO's loss: for every pair of a teacher output `teacher[i]` (global crop `i`) and a student
/// output `student[v]` (crop `v`; the global crops come first, in the teacher's order) with
/// `v != i`, the cross-entropy between the teacher's centred, sharpened distribution
/// `softmax((t - center) / teacher_temp)` (no gradient) and the student's
/// `softmax(s / student_temp)`, averaged over the batch; then the mean over the pairs.
pub fn dino_loss(
    teacher: &[Tensor<2>],
    student: &[Tensor<2>],
    center: Tensor<2>,
    teacher_temp: f64,
    student_temp: f64,
) -> Tensor<1> {
    let targets: Vec<Tensor<2>> = teacher
        .iter()
        .map(|t| softmax((t.clone() - center.clone()).div_scalar(teacher_temp), 1).detach())
        .collect();
    let log_probs: Vec<Tensor<2>> = student
        .iter()
        .map(|s| log_softmax(s.clone().div_scalar(student_temp), 1))
        .collect();
    let mut terms = Vec::new();
    for (i, q) in targets.iter().enumerate() {
        for (v, log_p) in log_probs.iter().enumerate() {
            if v != i {
                terms.push((q.clone() * log_p.clone()).sum_dim(1).mean().neg());
            }
        }
    }
    assert!(
        !terms.is_empty(),
        "DINO needs a student crop other than the teacher's (the method passes at least two)"
    );
    let pairs = terms.len();
    Tensor::cat(terms, 0).sum().div_scalar(pairs as f64)
}

/// Cross-entropy of `[N, 2M, 2M]` similarity matrices whose row `i` has its positive at column
/// `(i + M) mod 2M` and the other `2M - 2` columns (not itself) as negatives; mean over rows.
fn paired_cross_entropy(sim: Tensor<3>, m: usize) -> Tensor<1> {
    let [n, two_m, _] = sim.dims();
    let device = sim.device();
    let eye = Tensor::<2>::eye(two_m, &device).unsqueeze::<3>();
    let positives: Vec<f32> = (0..two_m * two_m)
        .map(|k| f32::from(k % two_m == (k / two_m + m) % two_m))
        .collect();
    let positives = Tensor::<2>::from_data(TensorData::new(positives, [two_m, two_m]), &device)
        .unsqueeze::<3>();
    let log_p = log_softmax(sim - eye * 1e9, 2);
    (log_p * positives)
        .sum()
        .neg()
        .div_scalar((n * two_m) as f64)
}

/// TS2Vec's instance term: at each step, a series' two views are positives and the other series
/// of the batch (both views) negatives. `z1`, `z2`: `[B, T, D]`. Zero for a batch of one.
fn instance_contrastive(z1: Tensor<3>, z2: Tensor<3>) -> Tensor<1> {
    let b = z1.dims()[0];
    if b < 2 {
        return Tensor::zeros([1], &z1.device());
    }
    let z = Tensor::cat(vec![z1, z2], 0).swap_dims(0, 1);
    let sim = z.clone().matmul(z.swap_dims(1, 2));
    paired_cross_entropy(sim, b)
}

/// TS2Vec's temporal term: within a series, the two views' representations of the same step are
/// positives and the other steps negatives.
fn temporal_contrastive(z1: Tensor<3>, z2: Tensor<3>) -> Tensor<1> {
    let t = z1.dims()[1];
    let z = Tensor::cat(vec![z1, z2], 1);
    let sim = z.clone().matmul(z.swap_dims(1, 2));
    paired_cross_entropy(sim, t)
}

/// Maximum over pairs of neighbouring steps, `[B, T, D] -> [B, T / 2, D]` (an odd last step is
/// dropped, as PyTorch's `max_pool1d` does).
fn max_pool_pairs(z: Tensor<3>) -> Tensor<3> {
    let [b, t, d] = z.dims();
    z.narrow(1, 0, t / 2 * 2)
        .reshape([b, t / 2, 2, d])
        .max_dim(2)
        .reshape([b, t / 2, d])
}

/// TS2Vec's hierarchical contrastive loss (Yue et al. 2022) between two views' per-step
/// representations of the same steps, `[B, T, D]` each: `alpha` x instance + `(1 - alpha)` x
/// temporal term on raw dot products, at every scale obtained by max-pooling pairs of steps until
/// one step is left (where only the instance term applies); the mean over scales.
pub fn hierarchical_contrastive(z1: Tensor<3>, z2: Tensor<3>, alpha: f64) -> Tensor<1> {
    let (mut z1, mut z2) = (z1, z2);
    let mut total = Tensor::zeros([1], &z1.device());
    let mut scales = 0;
    loop {
        let t = z1.dims()[1];
        total = total + instance_contrastive(z1.clone(), z2.clone()).mul_scalar(alpha);
        scales += 1;
        if t <= 1 {
            break;
        }
        total = total + temporal_contrastive(z1.clone(), z2.clone()).mul_scalar(1.0 - alpha);
        z1 = max_pool_pairs(z1);
        z2 = max_pool_pairs(z2);
    }
    total.div_scalar(scales as f64)
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
    fn nt_xent_on_two_ranks_averages_to_the_whole_batchs_loss_and_gradient() {
        let device = Device::flex().autodiff();
        let rows: Vec<f32> = (0..8 * 2)
            .map(|i| ((i * 5) % 7) as f32 - 3.0 + (i % 3) as f32 * 0.25)
            .collect();
        let z = Tensor::<2>::from_data(TensorData::new(rows, [8, 2]), &device).require_grad();
        let whole = nt_xent(z.clone().narrow(0, 0, 4), z.clone().narrow(0, 4, 4), 0.5);
        let want = whole.clone().into_scalar::<f32>();
        let want_grad = z.grad(&whole.backward()).unwrap().into_data();
        let want_grad = want_grad.try_to_vec::<f32>().unwrap();
        let parts = crate::collective::LocalRanks::run(2, |world| {
            let r = crate::collective::Collective::rank(&world);
            let view = |v: usize| {
                let rows = z.clone().narrow(0, 4 * v + 2 * r, 2).into_data();
                Tensor::<2>::from_data(rows, &device).require_grad()
            };
            let (z1, z2) = (view(0), view(1));
            let loss = nt_xent(z1.clone(), z2.clone(), 0.5);
            let value = loss.clone().into_scalar::<f32>();
            let grads = loss.backward();
            let grad = |t: &Tensor<2>| t.grad(&grads).unwrap().into_data().try_to_vec::<f32>();
            (value, grad(&z1).unwrap(), grad(&z2).unwrap())
        });
        let mean = (parts[0].0 + parts[1].0) / 2.0;
        assert!((mean - want).abs() < 1e-5, "{mean} vs {want}");
        assert!(
            (parts[0].0 - parts[1].0).abs() > 1e-4,
            "the ranks' anchors differ"
        );
        // Rows of z: view 1 of rank 0, of rank 1, then view 2 of rank 0, of rank 1; each rank's
        // gradient is of its own mean, so half of it is the whole mean's.
        let got: Vec<f32> = [&parts[0].1, &parts[1].1, &parts[0].2, &parts[1].2]
            .iter()
            .flat_map(|g| g.iter().map(|v| v / 2.0))
            .collect();
        for (g, w) in got.iter().zip(&want_grad) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
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
    fn dino_loss_matches_hand_computed_value() {
        // Two prototypes, batch 1, centre (1, 0), teacher temperature 0.5, student 0.5.
        // Teacher: (t0 - c) / 0.5 = (ln 3, 0) -> q0 = (3/4, 1/4); (t1 - c) / 0.5 = (0, ln 3) ->
        // q1 = (1/4, 3/4). Student crops (the third one local): s / 0.5 = (0, 0), (ln 3, 0),
        // (0, ln 3) -> p0 = (1/2, 1/2), p1 = (3/4, 1/4), p2 = (1/4, 3/4).
        // Pairs (0,1): H(q0, p1) = ln 4 - 3/4 ln 3; (0,2): ln 4 - 1/4 ln 3; (1,0): ln 2;
        // (1,2): ln 4 - 3/4 ln 3. Mean over 4 pairs: (7 ln 2 - 7/4 ln 3) / 4.
        let h = 0.5 * 3f32.ln();
        let teacher = [tensor(&[[1.0 + h, 0.0]]), tensor(&[[1.0, h]])];
        let student = [
            tensor(&[[0.0, 0.0]]),
            tensor(&[[h, 0.0]]),
            tensor(&[[0.0, h]]),
        ];
        let center = tensor(&[[1.0, 0.0]]);
        let loss = dino_loss(&teacher, &student, center.clone(), 0.5, 0.5).into_scalar::<f32>();
        let expected = (7.0 * 2f64.ln() - 1.75 * 3f64.ln()) / 4.0;
        assert!(
            (loss as f64 - expected).abs() < 1e-5,
            "{loss} vs {expected}"
        );
        // Without the centre the teacher's targets change, and so does the loss.
        let uncentred = dino_loss(&teacher, &student, center.zeros_like(), 0.5, 0.5);
        assert!((uncentred.into_scalar::<f32>() as f64 - expected).abs() > 1e-2);
    }

    #[test]
    fn nt_xent_falls_when_positives_align() {
        let a = tensor(&[[1.0, 0.1], [0.1, 1.0]]);
        let far = tensor(&[[0.1, 1.0], [1.0, 0.1]]);
        let near = nt_xent(a.clone(), a.clone(), 0.5).into_scalar::<f32>();
        let wrong = nt_xent(a, far, 0.5).into_scalar::<f32>();
        assert!(near < wrong, "{near} should be below {wrong}");
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    fn assert_close(found: f64, expected: f64, what: &str) {
        assert!(
            (found - expected).abs() < 1e-4,
            "{what}: {found} vs {expected}"
        );
    }

    #[test]
    fn cosine_losses_match_hand_computed_values() {
        // Row cosines: (1,0)·(1,1) = 1/sqrt(2); (0,1)·(0,2) = 1. Mean 0.853553.
        let p = tensor(&[[1.0, 0.0], [0.0, 1.0]]);
        let z = tensor(&[[1.0, 1.0], [0.0, 2.0]]);
        let mean_cos = (std::f64::consts::FRAC_1_SQRT_2 + 1.0) / 2.0;
        assert_close(
            scalar(negative_cosine(p.clone(), z.clone())),
            -mean_cos,
            "negative cosine",
        );
        assert_close(
            scalar(byol_loss(p.clone(), z)),
            2.0 - 2.0 * mean_cos,
            "BYOL",
        );
        assert_close(scalar(byol_loss(p.clone(), p.clone())), 0.0, "aligned");
        assert_close(scalar(byol_loss(p.clone(), p.neg())), 4.0, "opposite");
    }

    #[test]
    fn barlow_twins_matches_hand_computed_value() {
        // N = 2: every column standardises to +-1/s with s^2 = 1 + 1e-5.
        // z1n = [[1, 1], [-1, -1]] / s, z2n = [[1, -1], [-1, 1]] / s, so with a = 1/s^2
        // C = [[a, -a], [a, -a]]: on-diagonal (1 - a)^2 + (1 + a)^2, off-diagonal 2a^2.
        let z1 = tensor(&[[1.0, 3.0], [-1.0, 1.0]]);
        let z2 = tensor(&[[2.0, 0.0], [0.0, 4.0]]);
        let a = 1.0 / (1.0 + 1e-5);
        let lambda = 0.5;
        let expected = (1.0 - a) * (1.0 - a) + (1.0 + a) * (1.0 + a) + lambda * 2.0 * a * a;
        assert_close(
            scalar(barlow_twins_loss(z1, z2, lambda)),
            expected,
            "Barlow Twins",
        );
    }

    #[test]
    fn vicreg_matches_hand_computed_value() {
        // Invariance: diff [[0, 0], [2, 0]] -> 4 / 4 = 1.
        // z1 centred [[-1, -1], [1, 1]]: stds sqrt(2 + 1e-4) > 1 -> hinge 0; covariance
        //   [[2, 2], [2, 2]] -> off-diagonal squares 8 / d = 4.
        // z2 centred [[0, -1], [0, 1]]: stds 0.01 and > 1 -> hinge mean (0.99 + 0) / 2 = 0.495;
        //   covariance [[0, 0], [0, 2]] -> 0.
        // Variance term (0 + 0.495) / 2; total 25 * 1 + 25 * 0.2475 + 1 * 4 = 35.1875.
        let z1 = tensor(&[[0.0, 0.0], [2.0, 2.0]]);
        let z2 = tensor(&[[0.0, 0.0], [0.0, 2.0]]);
        let w = VicregWeights {
            invariance: 25.0,
            variance: 25.0,
            covariance: 1.0,
        };
        assert_close(scalar(vicreg_loss(z1, z2, w)), 35.1875, "VICReg");
    }

    #[test]
    fn info_nce_matches_hand_computed_values() {
        // In-batch, T = 1: logits = I; each row -ln(e / (e + 1)).
        let q = tensor(&[[1.0, 0.0], [0.0, 2.0]]);
        let k = tensor(&[[3.0, 0.0], [0.0, 1.0]]);
        let e = std::f64::consts::E;
        assert_close(
            scalar(info_nce(q, k, 1.0)),
            ((e + 1.0) / e).ln(),
            "in-batch",
        );
        // Queue, T = 0.5: logits [1, 0, -1] / 0.5 = [2, 0, -2], the positive first.
        let q = tensor(&[[2.0, 0.0]]);
        let k = tensor(&[[1.0, 0.0]]);
        let queue = tensor(&[[0.0, 1.0], [-1.0, 0.0]]);
        let expected = -(e.powi(2) / (e.powi(2) + 1.0 + e.powi(-2))).ln();
        assert_close(scalar(info_nce_queue(q, k, queue, 0.5)), expected, "queue");
    }

    #[test]
    fn spread_detects_collapse() {
        let collapsed = tensor(&[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]);
        assert!(normalized_spread(collapsed) < 1e-3);
        let spread = tensor(&[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]);
        assert!(normalized_spread(spread) > 0.5);
    }

    /// TS2Vec's loss written out with loops: -log softmax of the positive among all other rows.
    fn paired_ce_reference(rows: &[Vec<f64>], m: usize) -> f64 {
        let n = rows.len();
        let mut total = 0.0;
        for i in 0..n {
            let dot = |j: usize| {
                rows[i]
                    .iter()
                    .zip(&rows[j])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            };
            let lse = (0..n)
                .filter(|&j| j != i)
                .map(|j| dot(j).exp())
                .sum::<f64>()
                .ln();
            total += lse - dot((i + m) % n);
        }
        total / n as f64
    }

    fn hierarchical_reference(z1: &[Vec<Vec<f64>>], z2: &[Vec<Vec<f64>>], alpha: f64) -> f64 {
        let (b, t) = (z1.len(), z1[0].len());
        let instance = |t_: usize| {
            let rows: Vec<Vec<f64>> = z1.iter().chain(z2).map(|s| s[t_].clone()).collect();
            if b < 2 {
                0.0
            } else {
                paired_ce_reference(&rows, b)
            }
        };
        let mut loss = alpha * (0..t).map(instance).sum::<f64>() / t as f64;
        if t == 1 {
            return loss;
        }
        let temporal = (0..b)
            .map(|s| {
                let rows: Vec<Vec<f64>> = z1[s].iter().chain(&z2[s]).cloned().collect();
                paired_ce_reference(&rows, t)
            })
            .sum::<f64>()
            / b as f64;
        loss += (1.0 - alpha) * temporal;
        let pool = |z: &[Vec<Vec<f64>>]| -> Vec<Vec<Vec<f64>>> {
            z.iter()
                .map(|s| {
                    (0..t / 2)
                        .map(|k| {
                            s[2 * k]
                                .iter()
                                .zip(&s[2 * k + 1])
                                .map(|(a, b)| a.max(*b))
                                .collect()
                        })
                        .collect()
                })
                .collect()
        };
        // The recursion averages over scales: undo and redo the mean.
        let deeper = hierarchical_reference(&pool(z1), &pool(z2), alpha);
        let scales = |mut t: usize| {
            let mut s = 1;
            while t > 1 {
                t /= 2;
                s += 1;
            }
            s
        };
        (loss + deeper * scales(t / 2) as f64) / scales(t) as f64
    }

    #[test]
    fn hierarchical_contrastive_matches_a_loop_implementation() {
        let (b, t, d) = (3, 5, 2);
        let value = |k: usize| ((k as f64) * 0.731).sin() * 1.3;
        let nested = |off: usize| -> Vec<Vec<Vec<f64>>> {
            (0..b)
                .map(|i| {
                    (0..t)
                        .map(|j| (0..d).map(|k| value(off + (i * t + j) * d + k)).collect())
                        .collect()
                })
                .collect()
        };
        let (r1, r2) = (nested(0), nested(100));
        let flat = |z: &Vec<Vec<Vec<f64>>>| -> Tensor<3> {
            let v: Vec<f32> = z.iter().flatten().flatten().map(|&x| x as f32).collect();
            Tensor::from_data(TensorData::new(v, [b, t, d]), &Device::flex())
        };
        for alpha in [0.5, 1.0, 0.2] {
            let got =
                hierarchical_contrastive(flat(&r1), flat(&r2), alpha).into_scalar::<f32>() as f64;
            let want = hierarchical_reference(&r1, &r2, alpha);
            assert!((got - want).abs() < 1e-4, "alpha {alpha}: {got} vs {want}");
        }
    }
}
