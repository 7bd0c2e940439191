//! Colour operations on `C x H x W` float images with values in `[0, 255]` (torchvision's
//! `ColorJitter`, `Grayscale` and `RandomSolarize` semantics).

/// ITU-R 601 luma weights, as torchvision's `rgb_to_grayscale`.
pub(super) const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

pub(super) fn adjust_brightness(img: &mut [f32], factor: f32) {
    img.iter_mut()
        .for_each(|v| *v = (*v * factor).clamp(0.0, 255.0));
}

/// Blend with the mean gray level (of the luma for colour images).
pub(super) fn adjust_contrast(img: &mut [f32], channels: usize, factor: f32) {
    let mean = if channels == 3 {
        let plane = img.len() / 3;
        let sums = img.chunks_exact(plane).map(|p| p.iter().sum::<f32>());
        sums.zip(LUMA).map(|(s, l)| s * l).sum::<f32>() / plane as f32
    } else {
        img.iter().sum::<f32>() / img.len() as f32
    };
    let offset = (1.0 - factor) * mean;
    img.iter_mut()
        .for_each(|v| *v = (factor * *v + offset).clamp(0.0, 255.0));
}

/// Split a 3-channel image into its R, G and B planes.
pub(super) fn rgb_planes(img: &mut [f32]) -> (&mut [f32], &mut [f32], &mut [f32]) {
    let plane = img.len() / 3;
    let (r, gb) = img.split_at_mut(plane);
    let (g, b) = gb.split_at_mut(plane);
    (r, g, b)
}

/// Blend each pixel with its own luma.
pub(super) fn adjust_saturation(img: &mut [f32], factor: f32) {
    let (r, g, b) = rgb_planes(img);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let gray = (1.0 - factor) * (LUMA[0] * *r + LUMA[1] * *g + LUMA[2] * *b);
        *r = (factor * *r + gray).clamp(0.0, 255.0);
        *g = (factor * *g + gray).clamp(0.0, 255.0);
        *b = (factor * *b + gray).clamp(0.0, 255.0);
    }
}

/// Rotation by `turns` about the gray axis (the SVG `hueRotate` matrix): a 3x3 product per pixel,
/// far cheaper than an HSV round trip; it leaves grays unchanged and is the identity at 0.
pub(super) fn hue_matrix(turns: f32) -> [[f32; 3]; 3] {
    let (sin, cos) = (turns * std::f32::consts::TAU).sin_cos();
    [
        [
            0.213 + cos * 0.787 - sin * 0.213,
            0.715 - cos * 0.715 - sin * 0.715,
            0.072 - cos * 0.072 + sin * 0.928,
        ],
        [
            0.213 - cos * 0.213 + sin * 0.143,
            0.715 + cos * 0.285 + sin * 0.140,
            0.072 - cos * 0.072 - sin * 0.283,
        ],
        [
            0.213 - cos * 0.213 - sin * 0.787,
            0.715 - cos * 0.715 + sin * 0.715,
            0.072 + cos * 0.928 + sin * 0.072,
        ],
    ]
}

pub(super) fn rotate_hue(img: &mut [f32], turns: f32) {
    let m = hue_matrix(turns);
    let (r, g, b) = rgb_planes(img);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let (r0, g0, b0) = (*r, *g, *b);
        *r = (m[0][0] * r0 + m[0][1] * g0 + m[0][2] * b0).clamp(0.0, 255.0);
        *g = (m[1][0] * r0 + m[1][1] * g0 + m[1][2] * b0).clamp(0.0, 255.0);
        *b = (m[2][0] * r0 + m[2][1] * g0 + m[2][2] * b0).clamp(0.0, 255.0);
    }
}

/// Luma copied into all three channels (torchvision's `Grayscale(num_output_channels=3)`).
pub(super) fn to_grayscale(img: &mut [f32]) {
    let (r, g, b) = rgb_planes(img);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let gray = LUMA[0] * *r + LUMA[1] * *g + LUMA[2] * *b;
        (*r, *g, *b) = (gray, gray, gray);
    }
}

/// torchvision's `solarize` threshold for 8-bit images (BYOL's 0.5 on `[0, 1]`).
pub(super) const SOLARIZE_THRESHOLD: f32 = 128.0;

/// Inverts every value at or above the threshold: `v >= 128 -> 255 - v`.
pub(super) fn solarize(img: &mut [f32]) {
    img.iter_mut().for_each(|v| {
        if *v >= SOLARIZE_THRESHOLD {
            *v = 255.0 - *v;
        }
    });
}
