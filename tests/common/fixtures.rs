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

/// Writes a generated two-class series problem ([`autodidact::series::synthetic::write_waves`]).
pub fn write_problem(dir: &Path, name: &str, per_class: usize, len: usize) {
    autodidact::series::synthetic::write_waves(dir, name, per_class, len).unwrap();
}

/// Sentences about two topics ([`autodidact::text::synthetic::topic_sentences`]), labelled.
pub fn sentences(n: usize) -> Vec<(u32, String)> {
    let set = autodidact::text::synthetic::topic_sentences(n);
    set.labels.into_iter().zip(set.texts).collect()
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
