//! Image grids of normalised tensors (e.g. original / masked / reconstructed) as PNG.

use anyhow::{Context, bail};
use burn::prelude::*;
use image::ImageEncoder;
use image::codecs::png::PngEncoder;
use std::path::Path;

use crate::augment::image::{NORM_MEAN, NORM_STD};
use autodidact_core::train::checkpoint::write_atomic;

/// Pixels between tiles (and around the grid).
pub const GRID_GAP: usize = 2;

/// Integer scale-up that makes a tile at least 64 pixels wide.
pub fn grid_scale(size: usize) -> usize {
    64usize.div_ceil(size.max(1)).max(1)
}

/// Width and height of a grid of `rows x cols` tiles of `h x w` images.
pub fn grid_dims(rows: usize, cols: usize, h: usize, w: usize) -> (usize, usize) {
    let s = grid_scale(h.max(w));
    (
        cols * w * s + (cols + 1) * GRID_GAP,
        rows * h * s + (rows + 1) * GRID_GAP,
    )
}

/// A network-scale value back to a byte: undoes `augment::image`'s normalisation, clamps.
pub fn denormalise(v: f32) -> u8 {
    ((v * NORM_STD + NORM_MEAN) * 255.0)
        .round()
        .clamp(0.0, 255.0) as u8
}

/// Writes `rows` (each `[N, C, H, W]` in the network's normalised scale, C = 1 or 3, same shape)
/// as one PNG: one row of tiles per tensor, one column per image, on a white background.
pub fn write_image_grid(path: &Path, rows: &[Tensor<4>]) -> anyhow::Result<()> {
    let Some(first) = rows.first() else {
        bail!("{}: no images to draw", path.display());
    };
    let [n, c, h, w] = first.dims();
    if rows.iter().any(|r| r.dims() != [n, c, h, w]) || !(c == 1 || c == 3) || n == 0 {
        bail!(
            "{}: image rows must share one shape [N, 1 or 3, H, W]; found {:?}",
            path.display(),
            rows.iter().map(|r| r.dims()).collect::<Vec<_>>()
        );
    }
    let s = grid_scale(h.max(w));
    let (width, height) = grid_dims(rows.len(), n, h, w);
    let mut buf = vec![255u8; width * height * 3];
    for (r, row) in rows.iter().enumerate() {
        let values = row
            .clone()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{}: reading images: {e:?}", path.display()))?;
        for i in 0..n {
            let (x0, y0) = (
                GRID_GAP + i * (w * s + GRID_GAP),
                GRID_GAP + r * (h * s + GRID_GAP),
            );
            for y in 0..h * s {
                for x in 0..w * s {
                    let out = ((y0 + y) * width + x0 + x) * 3;
                    for k in 0..3 {
                        let ch = if c == 1 { 0 } else { k };
                        let v = values[((i * c + ch) * h + y / s) * w + x / s];
                        buf[out + k] = denormalise(v);
                    }
                }
            }
        }
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(
            &buf,
            width as u32,
            height as u32,
            image::ExtendedColorType::Rgb8,
        )
        .with_context(|| format!("{}: PNG encoding failed", path.display()))?;
    write_atomic(path, &png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_its_size_and_undoes_the_normalisation() {
        let device = Device::flex();
        // Two gray 4x4 images: one black (-2 after normalisation), one white (+2).
        let mut v = vec![-2.0f32; 16];
        v.extend(vec![2.0f32; 16]);
        let t = Tensor::<4>::from_data(TensorData::new(v, [2, 1, 4, 4]), &device);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        write_image_grid(&path, &[t.clone(), t]).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        let (w, h) = grid_dims(2, 2, 4, 4);
        assert_eq!((img.width() as usize, img.height() as usize), (w, h));
        assert_eq!(grid_scale(4), 16);
        assert_eq!(img.get_pixel(GRID_GAP as u32, GRID_GAP as u32).0, [0, 0, 0]);
        let x1 = (2 * GRID_GAP + 64) as u32;
        assert_eq!(img.get_pixel(x1, GRID_GAP as u32).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(denormalise(0.0), 128);
    }

    #[test]
    fn rows_of_different_shapes_are_an_error() {
        let device = Device::flex();
        let a = Tensor::<4>::zeros([2, 1, 4, 4], &device);
        let b = Tensor::<4>::zeros([3, 1, 4, 4], &device);
        let dir = tempfile::tempdir().unwrap();
        let err = write_image_grid(&dir.path().join("g.png"), &[a, b]).unwrap_err();
        assert!(format!("{err:#}").contains("one shape"), "{err:#}");
    }
}
