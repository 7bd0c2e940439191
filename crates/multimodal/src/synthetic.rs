//! Small generated paired sets for tests and examples, laid out as the real ones are.

use std::fmt::Write as _;
use std::path::Path;

use autodidact_audio::synthetic::write_tones;

const COLOURS: [(&str, [u8; 3]); 4] = [
    ("red", [220, 30, 30]),
    ("green", [30, 200, 40]),
    ("blue", [30, 40, 220]),
    ("yellow", [230, 220, 30]),
];
const SHAPES: [&str; 2] = ["square", "stripes"];
/// Side of the generated images.
pub const SIDE: u32 = 16;

/// A 16x16 RGB picture of `shape` in `colour` on gray, shifted by up to 2 pixels.
fn picture(colour: [u8; 3], shape: usize, shift: u32) -> image::RgbImage {
    image::RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let on = match shape {
            0 => (4 + shift..12 + shift).contains(&x) && (4..12).contains(&y),
            _ => (y + shift) % 4 < 2,
        };
        image::Rgb(if on { colour } else { [120, 120, 120] })
    })
}

fn save_png(img: &image::RgbImage, path: &Path) -> anyhow::Result<()> {
    img.save_with_format(path, image::ImageFormat::Png)?;
    Ok(())
}

/// Writes a paired set laid out as Flickr8k is: `images/<n>.png` (a colour on a shape, eight
/// kinds, `per_kind` of each), `captions.tsv` (two captions per image, "a red square" and "red
/// square"), `splits.tsv` (a quarter of each kind test, the rest train).
pub fn write_caption_pairs(dir: &Path, per_kind: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("images"))?;
    let mut captions = String::from("image\tcaption\n");
    let mut splits = String::from("image\tsplit\n");
    let mut n = 0;
    for (colour, rgb) in COLOURS {
        for (s, shape) in SHAPES.iter().enumerate() {
            for i in 0..per_kind {
                let name = format!("{n:04}.png");
                save_png(
                    &picture(rgb, s, (i % 3) as u32),
                    &dir.join("images").join(&name),
                )?;
                writeln!(captions, "{name}\ta {colour} {shape}")?;
                writeln!(captions, "{name}\t{colour} {shape}")?;
                let split = if i % 4 == 3 { "test" } else { "train" };
                writeln!(splits, "{name}\t{split}")?;
                n += 1;
            }
        }
    }
    std::fs::write(dir.join("captions.tsv"), captions)?;
    std::fs::write(dir.join("splits.tsv"), splits)?;
    Ok(())
}

/// Writes image-speech pairs sharing only a class, as AV-MNIST's do: `images/<n>.png` (the
/// colour of class `k`), tones of `200 (k + 1)` Hz under `tones/` (autodidact-audio's
/// `write_tones`, `per_class` train and 3 test clips), and `pairs.tsv` (`image`, `audio`,
/// `split`) pairing every image with a tone of its class and split; `classes` is at most 4.
pub fn write_speech_pairs(dir: &Path, classes: usize, per_class: usize) -> anyhow::Result<()> {
    let classes = classes.clamp(1, COLOURS.len());
    write_tones(&dir.join("tones"), classes, per_class)?;
    std::fs::create_dir_all(dir.join("images"))?;
    let mut pairs = String::from("image\taudio\tsplit\n");
    let mut n = 0;
    for (class, (_, rgb)) in COLOURS.iter().enumerate().take(classes) {
        for (split, count) in [("train", per_class), ("test", 3)] {
            for i in 0..count {
                let name = format!("{n:04}.png");
                save_png(
                    &picture(*rgb, 0, (i % 3) as u32),
                    &dir.join("images").join(&name),
                )?;
                writeln!(pairs, "{name}\ttones/{split}/tone{class}/{i}.wav\t{split}")?;
                n += 1;
            }
        }
    }
    std::fs::write(dir.join("pairs.tsv"), pairs)?;
    Ok(())
}

/// Writes a labelled image folder, `train/<name>/` (`per_class` pictures) and `test/<name>/` (3),
/// class `k` named `names[k]` and drawn as a square in the `k`-th colour of
/// [`write_caption_pairs`] (red, green, blue, yellow) and [`write_speech_pairs`].
pub fn write_labelled_pictures(dir: &Path, names: &[&str], per_class: usize) -> anyhow::Result<()> {
    for (k, name) in names.iter().enumerate().take(COLOURS.len()) {
        for (split, count) in [("train", per_class), ("test", 3)] {
            let folder = dir.join(split).join(name);
            std::fs::create_dir_all(&folder)?;
            for i in 0..count {
                save_png(
                    &picture(COLOURS[k].1, 0, (i % 3) as u32),
                    &folder.join(format!("{i}.png")),
                )?;
            }
        }
    }
    Ok(())
}
