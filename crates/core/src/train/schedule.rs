//! Learning-rate schedule: linear warm-up, then cosine decay to zero.

/// Learning rate at `step` (0-based) of `total` steps, with `warmup` warm-up steps.
pub fn warmup_cosine(base_lr: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return base_lr * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / span as f64).min(1.0);
    0.5 * base_lr * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Warm-up length for a run of `total` steps: `fraction` of it, at least one step.
pub fn warmup_steps(total: usize, fraction: f64) -> usize {
    ((total as f64 * fraction).round() as usize).clamp(1, total.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_linearly_then_decays_to_zero() {
        let lr = |s| warmup_cosine(1.0, s, 10, 110);
        assert!((lr(0) - 0.1).abs() < 1e-12);
        assert!((lr(9) - 1.0).abs() < 1e-12);
        assert!((lr(10) - 1.0).abs() < 1e-12);
        assert!((lr(60) - 0.5).abs() < 1e-12);
        assert!(lr(110).abs() < 1e-12);
        assert!(lr(200).abs() < 1e-12);
        for s in 10..110 {
            assert!(lr(s + 1) <= lr(s));
        }
    }

    #[test]
    fn warmup_is_a_fraction_of_the_run() {
        assert_eq!(warmup_steps(1000, 0.05), 50);
        assert_eq!(warmup_steps(3, 0.05), 1);
    }
}
