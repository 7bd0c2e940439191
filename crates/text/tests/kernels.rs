//! The Transformer kernels keep the numerics of Burn's own operations: the loss curve of a few
//! causal-LM and masked-LM steps on a fixed batch matches the plain implementation's. (Its own
//! test binary: switching the kernels off is process-wide.)

use autodidact_text::bench::{TextObjective, TextStepBench, run};

fn losses(objective: TextObjective, plain: bool) -> Vec<f64> {
    let r = run(&TextStepBench {
        model: "tiny".into(),
        batch_size: 4,
        context: 32,
        vocab: 50,
        warmup: 0,
        steps: 6,
        plain_kernels: plain,
        ..TextStepBench::recipe(objective)
    })
    .expect("steps run");
    ["first_loss", "last_loss"]
        .iter()
        .map(|k| r.settings[*k].as_f64().expect("a loss"))
        .collect()
}

#[test]
fn fused_kernels_follow_the_plain_loss_curve() {
    for objective in [TextObjective::Clm, TextObjective::Mlm] {
        let plain = losses(objective, true);
        let fused = losses(objective, false);
        autodidact_kernels::set_fused(true);
        for (p, f) in plain.iter().zip(&fused) {
            assert!(
                (p - f).abs() < 1e-3 * p.abs(),
                "{objective:?}: plain {plain:?} vs fused {fused:?}"
            );
        }
        // Six steps apart, the curve has moved: the comparison is not of two starting points.
        assert_ne!(plain[0], plain[1], "{objective:?}");
    }
}
