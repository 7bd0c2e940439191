//! Branch-free f32 approximations of erf and exp that the compiler vectorises (libm's are scalar
//! calls): erf as XLA's and Eigen's rational polynomial (within 4e-7 of the true value in f32), exp of a
//! non-positive argument by range reduction and Cephes' polynomial (within 3e-7 relative).

const ERF_P: [f64; 7] = [
    -2.726_142_258_013_06e-10,
    2.770_681_424_959_02e-8,
    -2.101_024_020_825_08e-6,
    -5.692_506_394_623_46e-5,
    -7.349_906_303_268_55e-4,
    -2.954_599_808_540_25e-3,
    -1.609_603_332_624_15e-2,
];
const ERF_Q: [f64; 5] = [
    -1.456_607_184_649_96e-5,
    -2.133_740_552_789_05e-4,
    -1.682_826_974_382_03e-3,
    -7.373_329_167_204_68e-3,
    -1.426_473_905_141_89e-2,
];

/// erf(x), within 4e-7 (it is +-1 in f32 beyond |x| = 4).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = ERF_P[0] as f32;
    for &c in &ERF_P[1..] {
        p = p * x2 + c as f32;
    }
    let mut q = ERF_Q[0] as f32;
    for &c in &ERF_Q[1..] {
        q = q * x2 + c as f32;
    }
    x * p / q
}

const EXP_P: [f64; 6] = [
    1.987_569_15e-4,
    1.398_199_950_7e-3,
    8.333_451_907_3e-3,
    4.166_579_589_4e-2,
    1.666_666_545_9e-1,
    5.000_000_120_1e-1,
];
/// 1.5 * 2^23: adding and subtracting it rounds an f32 below 2^22 to the nearest integer.
const ROUND: f32 = 12_582_912.0;

/// exp(x) for x <= 0 (0 below -87, where f32 runs out of normal numbers).
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    let below = x < -87.0;
    let x = x.clamp(-87.0, 0.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    // ln 2 in two parts (355/512 exactly, then the rest), so that k * ln 2 is exact enough.
    let r = x - k * (355.0 / 512.0) - k * (-2.121_944_4e-4_f64 as f32);
    let mut p = EXP_P[0] as f32;
    for &c in &EXP_P[1..] {
        p = p * r + c as f32;
    }
    let e = p * r * r + r + 1.0;
    // 2^k from the integer in `shifted`'s low mantissa bits: integer lanes the compiler
    // vectorises, where a float-to-int cast would not be.
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    let e = e * f32::from_bits(biased << 23);
    if below { 0.0 } else { e }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// erf in f64 by its Taylor series (|x| <= 3) or its continued fraction (beyond): a
    /// reference independent of the approximation under test.
    pub(crate) fn erf_reference(x: f64) -> f64 {
        if x.abs() <= 3.0 {
            let (mut term, mut sum) = (x, x);
            for n in 1..200 {
                term *= -x * x / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(x) = exp(-x^2) / sqrt(pi) * 1 / (x + 1/2 / (x + 1 / (x + 3/2 / (x + ...))))
            let a = x.abs();
            let mut f = a;
            for k in (1..60).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / f;
            (1.0 - erfc) * x.signum()
        }
    }

    #[test]
    fn erf_is_within_4e7_of_the_series_everywhere() {
        let mut worst = 0.0f64;
        for i in -8000..=8000 {
            let x = i as f32 / 1000.0;
            worst = worst.max((erf(x) as f64 - erf_reference(x as f64)).abs());
        }
        assert!(worst < 4e-7, "worst |error| {worst}");
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(-20.0), -erf(20.0));
    }

    #[test]
    fn exp_is_within_3e7_relative_of_std() {
        for i in 0..=8700 {
            let x = -(i as f32) / 100.0;
            let (ours, want) = (exp_nonpositive(x) as f64, (x as f64).exp());
            assert!(
                (ours / want - 1.0).abs() < 3e-7,
                "exp({x}) = {ours}, want {want}"
            );
        }
        assert_eq!(exp_nonpositive(-88.0), 0.0);
        assert_eq!(exp_nonpositive(-1e9), 0.0);
    }
}
