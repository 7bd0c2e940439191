//! Small generated data sets of every modality, written where a test asks.

use std::path::Path;

/// Writes `<root>/<split>/<class>/<i>.png`: bright class-0 squares, dark class-1 ones, with noise.
pub fn write_folder(root: &Path, per_class: usize) {
    write_image_folder(root, per_class, 12, false);
}

/// [`write_folder`]'s images at `side` pixels, in colour (three equal channels) if `rgb`.
pub fn write_image_folder(root: &Path, per_class: usize, side: u32, rgb: bool) {
    for split in ["train", "test"] {
        for (class, base) in [("bright", 200u8), ("dark", 40u8)] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..per_class {
                let img = image::GrayImage::from_fn(side, side, |x, y| {
                    let noise = ((x * 7 + y * 13 + i as u32 * 31) % 40) as u8;
                    image::Luma([base.saturating_add(noise).saturating_sub(20)])
                });
                let path = dir.join(format!("{i}.png"));
                if rgb {
                    image::DynamicImage::ImageLuma8(img)
                        .to_rgb8()
                        .save(path)
                        .unwrap();
                } else {
                    img.save(path).unwrap();
                }
            }
        }
    }
}

/// Writes `<dir>/<name>_TRAIN.ts` and `_TEST.ts`: two classes of noisy series of `len` steps on
/// a rising trend (so their order can be restored), class "a" a sine with a jittered phase,
/// class "b" a bump in the middle third.
pub fn write_problem(dir: &Path, name: &str, per_class: usize, len: usize) {
    std::fs::create_dir_all(dir).unwrap();
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
        std::fs::write(dir.join(format!("{name}_{split}.ts")), text).unwrap();
    }
}

/// Sentences about two topics with a fixed grammar: "the cat sat on the mat ." style lines,
/// labelled by topic.
pub fn sentences(n: usize) -> Vec<(u32, String)> {
    let animals = ["cat", "dog", "bird", "horse", "cow"];
    let places = ["mat", "hill", "barn", "field", "road"];
    let machines = ["car", "train", "plane", "ship", "truck"];
    let verbs = ["runs", "stops", "turns", "starts", "waits"];
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                let (a, p) = (animals[i / 2 % 5], places[(i / 10) % 5]);
                (0, format!("the {a} sat on the {p} and the {a} slept ."))
            } else {
                let (m, v) = (machines[i / 2 % 5], verbs[(i / 10) % 5]);
                (
                    1,
                    format!("a {m} {v} near the station when the {m} is late ."),
                )
            }
        })
        .collect()
}

/// Writes `<dir>/train.tsv` and `<dir>/test.tsv` (SST-2's layout).
pub fn write_labelled(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let rows = sentences(240);
    for (name, part) in [("train.tsv", &rows[..200]), ("test.tsv", &rows[200..])] {
        let mut text = String::from("label\tsentence\n");
        for (label, s) in part {
            text.push_str(&format!("{label}\t{s}\n"));
        }
        std::fs::write(dir.join(name), text).unwrap();
    }
}
