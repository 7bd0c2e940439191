//! DINO's multi-crop views (Caron et al. 2021): two global crops at the full input size and
//! several small local crops, all from one image.

use super::image::AugmentConfig;

/// Global crops of a multi-crop set; they come first in [`AugmentConfig::multi_crop`]'s list.
pub const GLOBAL_CROPS: usize = 2;
/// Local crops DINO's small-budget recipes use beside the two global ones.
pub const LOCAL_CROPS: usize = 4;

/// Side of a local crop for inputs of side `size`: half of it (16 for CIFAR's 32, 14 for MNIST's
/// 28; DINO's 96 for 224 is 0.43), at least 8 so the small CNN's three stride-2 blocks keep a
/// spatial extent.
pub fn local_size(size: usize) -> usize {
    (size / 2).max(8)
}

impl AugmentConfig {
    /// DINO's multi-crop set: [`GLOBAL_CROPS`] global crops at `size` (area 0.4-1, BYOL's
    /// asymmetric pair: the first always blurred, the second blurred with p = 0.1 and solarised
    /// with p = 0.2), then `local_crops` local crops at [`local_size`] (area 0.05-0.4, blurred
    /// with p = 0.5, DINO's setting). One channel keeps the digit-safe pipeline of
    /// [`AugmentConfig::simclr`] (no flip, no hue or saturation) and its local crops cover at
    /// least 10% of the area: a 5% crop of a digit (6 x 6 pixels of 28 x 28) is mostly background.
    pub fn multi_crop(channels: usize, size: usize, local_crops: usize) -> Vec<Self> {
        let [first, second] = Self::byol_pair(channels, size);
        let global = |cfg: Self| Self {
            crop_scale: (0.4, 1.0),
            ..cfg
        };
        let local = Self {
            out_size: local_size(size),
            crop_scale: if channels == 1 {
                (0.1, 0.4)
            } else {
                (0.05, 0.4)
            },
            blur_prob: 0.5,
            solarize_prob: 0.0,
            ..first.clone()
        };
        let mut views = vec![global(first), global(second)];
        views.extend(std::iter::repeat_n(local, local_crops));
        views
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_crop_has_the_requested_views_and_sizes() {
        for (channels, size, local) in [(1, 28, 14), (3, 32, 16)] {
            let views = AugmentConfig::multi_crop(channels, size, 4);
            assert_eq!(views.len(), 6);
            let sizes: Vec<usize> = views.iter().map(|v| v.out_size).collect();
            assert_eq!(sizes, [size, size, local, local, local, local]);
            for v in &views {
                v.validate().expect("valid preset");
            }
            let (g1, g2) = (&views[0], &views[1]);
            assert_eq!((g1.crop_scale, g2.crop_scale), ((0.4, 1.0), (0.4, 1.0)));
            assert_eq!((g1.blur_prob, g1.solarize_prob), (1.0, 0.0));
            assert_eq!((g2.blur_prob, g2.solarize_prob), (0.1, 0.2));
            for l in &views[2..] {
                assert!(l.crop_scale.1 <= 0.4 && l.crop_scale.0 < 0.4);
                assert_eq!((l.blur_prob, l.solarize_prob), (0.5, 0.0));
            }
            let flip = if channels == 1 { 0.0 } else { 0.5 };
            assert!(views.iter().all(|v| v.flip_prob == flip));
        }
        assert_eq!(AugmentConfig::multi_crop(3, 32, 0).len(), GLOBAL_CROPS);
        assert_eq!(AugmentConfig::multi_crop(1, 28, 8).len(), 10);
        assert_eq!(local_size(224), 112);
        assert_eq!(local_size(12), 8);
    }
}
