//! A generated problem for examples and tests: no download, the same series on every machine.

use std::path::Path;

use anyhow::Context;

/// Writes `<dir>/<name>_TRAIN.ts` and `_TEST.ts`: two classes of noisy series of `len` steps on
/// a rising trend (so their order can be restored), class "a" a sine with a jittered phase,
/// class "b" a bump in the middle third.
pub fn write_waves(dir: &Path, name: &str, per_class: usize, len: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for split in ["TRAIN", "TEST"] {
        let mut text = format!(
            "@problemName {name}\n@univariate true\n@equalLength true\n@seriesLength {len}\n@classLabel true a b\n@data\n"
        );
        for i in 0..2 * per_class {
            let class = if i % 2 == 0 { "a" } else { "b" };
            let (phase, centre) = (0.5 * uniform(), (1.0 + uniform()) * len as f64 / 3.0);
            let values: Vec<String> = (0..len)
                .map(|t| {
                    let t = t as f64;
                    let clean = if class == "a" {
                        (t / len as f64 * 2.0 * std::f64::consts::PI * 2.0 + phase).sin()
                    } else {
                        2.0 * (-((t - centre) / 4.0).powi(2)).exp()
                    };
                    let trend = 2.0 * t / len as f64;
                    format!("{:.4}", clean + trend + 0.3 * (uniform() - 0.5))
                })
                .collect();
            text.push_str(&format!("{}:{class}\n", values.join(",")));
        }
        let path = dir.join(format!("{name}_{split}.ts"));
        std::fs::write(&path, text).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}
