//! RBF-kernel support vector classifier (the TS2Vec evaluation protocol): SMO with LIBSVM's
//! second-order working-set selection, one-vs-one voting over classes, C chosen by stratified
//! k-fold cross-validation.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::Embeddings;

/// SVM settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SvmConfig {
    /// Candidate values of C; the largest is used directly when the training set is small.
    pub c_grid: Vec<f64>,
    /// Folds of the stratified cross-validation that picks C.
    pub folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
}

impl Default for SvmConfig {
    /// TS2Vec's grid `1e-4, 1e-3, ..., 1e4, inf`, with `1e6` standing in for the hard margin.
    fn default() -> Self {
        Self {
            c_grid: vec![1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e6],
            folds: 5,
            seed: 0,
        }
    }
}

/// Stopping tolerance on the maximal KKT violation (LIBSVM's default).
const EPS: f64 = 1e-3;
/// Stand-in for a non-positive curvature in the two-variable subproblem.
const TAU: f64 = 1e-12;

/// Training rows in f64 and the RBF width fitted to them.
struct Kernel {
    x: Vec<f64>,
    dim: usize,
    gamma: f64,
}

impl Kernel {
    /// scikit-learn's `gamma="scale"`: `1 / (dim * variance of all values)`, or 1 for constant data.
    fn new(rows: &Embeddings, indices: &[usize]) -> Self {
        let dim = rows.dim;
        let x: Vec<f64> = indices
            .iter()
            .flat_map(|&i| rows.row(i).iter().map(|&v| v as f64))
            .collect();
        let count = x.len().max(1) as f64;
        let mean = x.iter().sum::<f64>() / count;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count;
        let gamma = if var > 0.0 {
            1.0 / (dim as f64 * var)
        } else {
            1.0
        };
        Self { x, dim, gamma }
    }

    fn rows(&self) -> usize {
        self.x.len() / self.dim.max(1)
    }

    /// `exp(-gamma |x_i - q|^2)` for every training row `i`.
    fn to_query(&self, q: &[f32]) -> Vec<f64> {
        (0..self.rows())
            .map(|i| {
                let row = &self.x[i * self.dim..(i + 1) * self.dim];
                let d2: f64 = row
                    .iter()
                    .zip(q)
                    .map(|(a, &b)| (a - b as f64).powi(2))
                    .sum();
                (-self.gamma * d2).exp()
            })
            .collect()
    }
}

/// One binary machine of the one-vs-one ensemble: `f(x) = sum coef_k K(x_{sv_k}, x) - rho`,
/// positive for class `pos`.
struct Binary {
    pos: u32,
    neg: u32,
    sv: Vec<usize>,
    coef: Vec<f64>,
    rho: f64,
}

/// Solves the C-SVC dual `min 1/2 a'Qa - e'a, 0 <= a <= c, y'a = 0` with `Q_ij = y_i y_j K_ij`
/// (`k` is the `m x m` kernel matrix); returns the multipliers and the bias `rho`.
fn solve_binary(k: &[f64], y: &[f64], c: f64) -> (Vec<f64>, f64) {
    let m = y.len();
    let q = |i: usize, t: usize| y[i] * y[t] * k[i * m + t];
    let mut a = vec![0.0f64; m];
    let mut g = vec![-1.0f64; m];
    let max_iter = (100 * m).max(100_000);
    for _ in 0..max_iter {
        let Some((i, j)) = select_working_set(k, y, &a, &g, c) else {
            break;
        };
        let (old_i, old_j) = (a[i], a[j]);
        let (qdi, qdj, qij) = (k[i * m + i], k[j * m + j], q(i, j));
        if y[i] != y[j] {
            let quad = positive(qdi + qdj + 2.0 * qij);
            let delta = (-g[i] - g[j]) / quad;
            let diff = a[i] - a[j];
            a[i] += delta;
            a[j] += delta;
            if diff > 0.0 {
                if a[j] < 0.0 {
                    a[j] = 0.0;
                    a[i] = diff;
                }
            } else if a[i] < 0.0 {
                a[i] = 0.0;
                a[j] = -diff;
            }
            if diff > 0.0 {
                if a[i] > c {
                    a[i] = c;
                    a[j] = c - diff;
                }
            } else if a[j] > c {
                a[j] = c;
                a[i] = c + diff;
            }
        } else {
            let quad = positive(qdi + qdj - 2.0 * qij);
            let delta = (g[i] - g[j]) / quad;
            let sum = a[i] + a[j];
            a[i] -= delta;
            a[j] += delta;
            if sum > c {
                if a[i] > c {
                    a[i] = c;
                    a[j] = sum - c;
                }
                if a[j] > c {
                    a[j] = c;
                    a[i] = sum - c;
                }
            } else {
                if a[j] < 0.0 {
                    a[j] = 0.0;
                    a[i] = sum;
                }
                if a[i] < 0.0 {
                    a[i] = 0.0;
                    a[j] = sum;
                }
            }
        }
        let (di, dj) = (a[i] - old_i, a[j] - old_j);
        for (t, gt) in g.iter_mut().enumerate() {
            *gt += q(i, t) * di + q(j, t) * dj;
        }
    }
    let bias = rho(y, &a, &g, c);
    (a, bias)
}

fn positive(quad: f64) -> f64 {
    if quad > 0.0 { quad } else { TAU }
}

/// LIBSVM's WSS2: `i` maximises the violation, `j` the second-order decrease of the objective;
/// `None` once the violation is below [`EPS`].
fn select_working_set(
    k: &[f64],
    y: &[f64],
    a: &[f64],
    g: &[f64],
    c: f64,
) -> Option<(usize, usize)> {
    let m = y.len();
    let (mut gmax, mut best_i) = (f64::NEG_INFINITY, None);
    for t in 0..m {
        let up = if y[t] > 0.0 { a[t] < c } else { a[t] > 0.0 };
        if up && -y[t] * g[t] >= gmax {
            gmax = -y[t] * g[t];
            best_i = Some(t);
        }
    }
    let i = best_i?;
    let (mut gmax2, mut best_j, mut obj_min) = (f64::NEG_INFINITY, None, f64::INFINITY);
    for t in 0..m {
        let low = if y[t] > 0.0 { a[t] > 0.0 } else { a[t] < c };
        if !low {
            continue;
        }
        let yg = y[t] * g[t];
        gmax2 = gmax2.max(yg);
        let grad_diff = gmax + yg;
        if grad_diff > 0.0 {
            // y_i y_t Q_it = K_it, so the curvature is the same expression for both label signs.
            let quad = positive(k[i * m + i] + k[t * m + t] - 2.0 * k[i * m + t]);
            let obj = -(grad_diff * grad_diff) / quad;
            if obj <= obj_min {
                obj_min = obj;
                best_j = Some(t);
            }
        }
    }
    if gmax + gmax2 < EPS {
        return None;
    }
    best_j.map(|j| (i, j))
}

/// The bias: the mean of `y_t G_t` over free multipliers, else the middle of the feasible range.
fn rho(y: &[f64], a: &[f64], g: &[f64], c: f64) -> f64 {
    let (mut ub, mut lb) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut sum_free, mut free) = (0.0, 0usize);
    for t in 0..y.len() {
        let yg = y[t] * g[t];
        let at_upper = a[t] >= c;
        let at_lower = a[t] <= 0.0;
        if at_upper || at_lower {
            // At the upper bound a positive example can only push rho down; at the lower, up.
            if (y[t] > 0.0) == at_lower {
                ub = ub.min(yg);
            } else {
                lb = lb.max(yg);
            }
        } else {
            free += 1;
            sum_free += yg;
        }
    }
    if free > 0 {
        sum_free / free as f64
    } else {
        (ub + lb) / 2.0
    }
}

/// A fitted one-vs-one ensemble.
struct Model {
    kernel: Kernel,
    /// Classes present in the training labels, ascending.
    classes: Vec<u32>,
    machines: Vec<Binary>,
}

fn fit(x: &Embeddings, indices: &[usize], labels: &[u32], c: f64) -> Model {
    let kernel = Kernel::new(x, indices);
    let n = indices.len();
    let full: Vec<f64> = (0..n)
        .into_par_iter()
        .flat_map_iter(|i| kernel.to_query(x.row(indices[i])))
        .collect();
    let mut classes: Vec<u32> = indices.iter().map(|&i| labels[i]).collect();
    classes.sort_unstable();
    classes.dedup();
    let mut machines = Vec::new();
    for (ai, &pos) in classes.iter().enumerate() {
        for &neg in &classes[ai + 1..] {
            let members: Vec<usize> = (0..n)
                .filter(|&r| labels[indices[r]] == pos || labels[indices[r]] == neg)
                .collect();
            let m = members.len();
            let y: Vec<f64> = members
                .iter()
                .map(|&r| if labels[indices[r]] == pos { 1.0 } else { -1.0 })
                .collect();
            let mut k = Vec::with_capacity(m * m);
            for &r in &members {
                k.extend(members.iter().map(|&s| full[r * n + s]));
            }
            let (alpha, rho) = solve_binary(&k, &y, c);
            let (sv, coef) = members
                .iter()
                .zip(alpha.iter().zip(&y))
                .filter(|(_, (a, _))| **a > 0.0)
                .map(|(&r, (a, yy))| (r, a * yy))
                .unzip();
            machines.push(Binary {
                pos,
                neg,
                sv,
                coef,
                rho,
            });
        }
    }
    Model {
        kernel,
        classes,
        machines,
    }
}

impl Model {
    /// One-vs-one vote; ties go to the smaller class index (as in LIBSVM).
    fn predict_one(&self, q: &[f32], num_classes: usize) -> u32 {
        if self.classes.len() == 1 {
            return self.classes[0];
        }
        let kq = self.kernel.to_query(q);
        let mut votes = vec![0usize; num_classes];
        for b in &self.machines {
            let f: f64 =
                b.sv.iter()
                    .zip(&b.coef)
                    .map(|(&s, c)| c * kq[s])
                    .sum::<f64>()
                    - b.rho;
            votes[if f > 0.0 { b.pos } else { b.neg } as usize] += 1;
        }
        let mut best = self.classes[0];
        for &cl in &self.classes {
            if votes[cl as usize] > votes[best as usize] {
                best = cl;
            }
        }
        best
    }

    fn predict(&self, x: &Embeddings, rows: &[usize], num_classes: usize) -> Vec<u32> {
        rows.par_iter()
            .map(|&r| self.predict_one(x.row(r), num_classes))
            .collect()
    }
}

/// Fold of each row: every class's rows, shuffled, dealt round-robin over `folds` folds.
fn stratified_folds(labels: &[u32], num_classes: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fold = vec![0; labels.len()];
    for class in 0..num_classes as u32 {
        let mut rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rows.shuffle(&mut rng);
        for (k, r) in rows.into_iter().enumerate() {
            fold[r] = k % folds;
        }
    }
    fold
}

/// C as TS2Vec picks it: the largest grid value when some class has fewer than 5 examples or there
/// are fewer than 50 rows, else the best stratified cross-validation accuracy (ties: smaller C).
fn choose_c(train: &Embeddings, labels: &[u32], num_classes: usize, cfg: &SvmConfig) -> f64 {
    let mut grid = cfg.c_grid.clone();
    grid.retain(|c| *c > 0.0 && c.is_finite());
    grid.sort_by(f64::total_cmp);
    let Some(&largest) = grid.last() else {
        return 1.0;
    };
    let mut counts = vec![0usize; num_classes];
    labels.iter().for_each(|&l| counts[l as usize] += 1);
    let smallest_class = counts.iter().copied().filter(|&c| c > 0).min().unwrap_or(0);
    if smallest_class < 5 || train.n < 50 || grid.len() == 1 {
        return largest;
    }
    let folds = cfg.folds.clamp(2, smallest_class);
    let fold = stratified_folds(labels, num_classes, folds, cfg.seed);
    let correct: Vec<usize> = grid
        .par_iter()
        .map(|&c| {
            (0..folds)
                .map(|f| {
                    let fit_rows: Vec<usize> = (0..train.n).filter(|&i| fold[i] != f).collect();
                    let held: Vec<usize> = (0..train.n).filter(|&i| fold[i] == f).collect();
                    let model = fit(train, &fit_rows, labels, c);
                    let pred = model.predict(train, &held, num_classes);
                    held.iter()
                        .zip(pred)
                        .filter(|(i, p)| labels[**i] == *p)
                        .count()
                })
                .sum()
        })
        .collect();
    let mut best = 0;
    for (k, &c) in correct.iter().enumerate() {
        if c > correct[best] {
            best = k;
        }
    }
    grid[best]
}

/// Trains an RBF SVM (gamma "scale", C from [`SvmConfig`]) on `train` and predicts a class per
/// `test` row. Memory is `O(n^2)` in the training rows (a kernel matrix per fit).
///
/// # Panics
/// If `labels.len() != train.n`, the dimensions differ, `train` is empty, or a label is
/// `>= num_classes`: the caller builds these from its own data.
pub fn svm_predict(
    train: &Embeddings,
    labels: &[u32],
    num_classes: usize,
    test: &Embeddings,
    cfg: &SvmConfig,
) -> Vec<u32> {
    assert_eq!(labels.len(), train.n, "one label per training row");
    assert_eq!(train.dim, test.dim, "train and test dimensions must match");
    assert!(train.n > 0, "the SVM needs training rows");
    assert!(
        labels.iter().all(|&l| (l as usize) < num_classes),
        "labels must be below num_classes"
    );
    let c = choose_c(train, labels, num_classes, cfg);
    let all: Vec<usize> = (0..train.n).collect();
    let model = fit(train, &all, labels, c);
    let rows: Vec<usize> = (0..test.n).collect();
    model.predict(test, &rows, num_classes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn normal(rng: &mut StdRng) -> f32 {
        let u1 = 1.0 - rng.random::<f32>();
        let u2 = rng.random::<f32>();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// `per_class` points around each centre with standard deviation `spread`.
    fn blobs(
        centres: &[[f32; 2]],
        per_class: usize,
        spread: f32,
        seed: u64,
    ) -> (Embeddings, Vec<u32>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut data, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..per_class {
            for (c, centre) in centres.iter().enumerate() {
                data.push(centre[0] + spread * normal(&mut rng));
                data.push(centre[1] + spread * normal(&mut rng));
                labels.push(c as u32);
            }
        }
        let n = labels.len();
        (Embeddings::new(data, n, 2), labels)
    }

    fn accuracy(pred: &[u32], labels: &[u32]) -> f64 {
        pred.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
    }

    #[test]
    fn two_point_problem_matches_the_closed_form() {
        // x = 0 (y = +1) and x = 1 (y = -1): by symmetry a_1 = a_2 = 1 / (1 - K_12) and rho = 0,
        // unless C caps the multipliers.
        let k12 = (-0.5f64).exp();
        let k = [1.0, k12, k12, 1.0];
        let (a, rho) = solve_binary(&k, &[1.0, -1.0], 100.0);
        let want = 1.0 / (1.0 - k12);
        assert!(
            (a[0] - want).abs() < 1e-6 && (a[1] - want).abs() < 1e-6,
            "{a:?}"
        );
        assert!(rho.abs() < 1e-6, "{rho}");
        let (a, _) = solve_binary(&k, &[1.0, -1.0], 0.5);
        assert_eq!(a, vec![0.5, 0.5]);
    }

    #[test]
    fn gamma_is_scikit_learns_scale() {
        // Values 0, 1, 2, 3: variance 1.25, dim 2.
        let x = Embeddings::new(vec![0.0, 1.0, 2.0, 3.0], 2, 2);
        let k = Kernel::new(&x, &[0, 1]);
        assert!((k.gamma - 1.0 / 2.5).abs() < 1e-12);
        let flat = Embeddings::new(vec![3.0; 4], 2, 2);
        assert_eq!(Kernel::new(&flat, &[0, 1]).gamma, 1.0);
    }

    #[test]
    fn separable_blobs_are_classified_perfectly() {
        let centres = [[-3.0, 0.0], [3.0, 0.0]];
        let (train, labels) = blobs(&centres, 40, 0.5, 1);
        let (test, test_labels) = blobs(&centres, 100, 0.5, 2);
        let pred = svm_predict(&train, &labels, 2, &test, &SvmConfig::default());
        assert_eq!(accuracy(&pred, &test_labels), 1.0);
    }

    /// Points in `[-1, 1]^2` away from the axes, labelled by the sign of `x * y`.
    fn xor(n: usize, seed: u64) -> (Embeddings, Vec<u32>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut data, mut labels) = (Vec::new(), Vec::new());
        while labels.len() < n {
            let (x, y) = (
                rng.random_range(-1.0f32..1.0),
                rng.random_range(-1.0f32..1.0),
            );
            if x.abs() < 0.1 || y.abs() < 0.1 {
                continue;
            }
            data.extend([x, y]);
            labels.push(u32::from(x * y > 0.0));
        }
        (Embeddings::new(data, n, 2), labels)
    }

    #[test]
    fn rbf_separates_xor() {
        let (train, labels) = xor(200, 3);
        let (test, test_labels) = xor(400, 4);
        let pred = svm_predict(&train, &labels, 2, &test, &SvmConfig::default());
        let acc = accuracy(&pred, &test_labels);
        assert!(acc > 0.95, "XOR accuracy {acc}");
    }

    #[test]
    fn three_class_blobs_with_cross_validated_c() {
        let centres = [[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]];
        let (train, labels) = blobs(&centres, 30, 0.7, 5);
        let (test, test_labels) = blobs(&centres, 100, 0.7, 6);
        let cfg = SvmConfig::default();
        let c = choose_c(&train, &labels, 3, &cfg);
        assert!(cfg.c_grid.contains(&c));
        let pred = svm_predict(&train, &labels, 3, &test, &cfg);
        let acc = accuracy(&pred, &test_labels);
        assert!(acc > 0.95, "three-class accuracy {acc}");
        assert_eq!(
            pred,
            svm_predict(&train, &labels, 3, &test, &cfg),
            "not deterministic"
        );
    }

    #[test]
    fn one_vs_one_votes_pick_the_middle_classes() {
        // Five classes on a line: each machine sees only two classes, so a middle class wins by
        // collecting the votes of its four machines while the outer machines split theirs.
        let centres: Vec<[f32; 2]> = (0..5).map(|c| [c as f32 * 3.0, 0.0]).collect();
        let (train, labels) = blobs(&centres, 8, 0.3, 7);
        let (test, test_labels) = blobs(&centres, 20, 0.3, 8);
        // Class 5 has no examples and must never be predicted.
        let pred = svm_predict(&train, &labels, 6, &test, &SvmConfig::default());
        assert_eq!(accuracy(&pred, &test_labels), 1.0);
        let model = fit(&train, &(0..train.n).collect::<Vec<_>>(), &labels, 1e6);
        assert_eq!((model.classes.len(), model.machines.len()), (5, 10));
    }

    #[test]
    fn small_sets_use_the_largest_c_and_folds_are_stratified() {
        let (train, labels) = blobs(&[[0.0, 0.0], [1.0, 1.0]], 20, 1.0, 9);
        let cfg = SvmConfig::default();
        assert_eq!(choose_c(&train, &labels, 2, &cfg), 1e6);
        let labels: Vec<u32> = (0..100).map(|i| u32::from(i % 4 == 0)).collect();
        let fold = stratified_folds(&labels, 2, 5, 0);
        for f in 0..5 {
            let rows: Vec<usize> = (0..100).filter(|&i| fold[i] == f).collect();
            let ones = rows.iter().filter(|&&i| labels[i] == 1).count();
            assert_eq!((rows.len(), ones), (20, 5), "fold {f}");
        }
    }
}
