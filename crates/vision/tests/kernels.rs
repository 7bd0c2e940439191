//! The hand-written CPU kernels keep the numerics of Burn's own layers: the loss curve of SimCLR
//! steps on a fixed batch matches the plain implementation. (Its own test binary: switching the
//! kernels off is process-wide.)

use autodidact_vision::bench::simclr_step::{SimclrStepBench, run_steps};
use autodidact_vision::encoders::EncoderKind;

fn losses(encoder: EncoderKind, batch_size: usize, steps: usize, plain: bool) -> Vec<f64> {
    let cfg = SimclrStepBench {
        encoder,
        batch_size,
        steps,
        warmup: 0,
        plain_kernels: plain,
        ..Default::default()
    };
    run_steps(&cfg).expect("steps run").losses
}

#[test]
fn fused_kernels_follow_the_plain_loss_curve() {
    for (encoder, batch, steps) in [(EncoderKind::Cnn, 32, 12), (EncoderKind::Resnet18, 8, 3)] {
        let plain = losses(encoder, batch, steps, true);
        let fused = losses(encoder, batch, steps, false);
        autodidact_kernels::set_fused(true);
        assert_eq!(plain.len(), steps);
        assert!(
            plain.last() < plain.first(),
            "{encoder:?}: the fixed batch is being learned: {plain:?}"
        );
        for (step, (p, f)) in plain.iter().zip(&fused).enumerate() {
            assert!(
                (p - f).abs() < 1e-3 * p.abs(),
                "{encoder:?} step {step}: plain {p} vs fused {f}"
            );
        }
    }
}
