//! Which augmentations make a two-view method's views: its own, or another method's pair (the
//! `views` setting of the two-view methods).

use serde::{Deserialize, Serialize};

use crate::augment::image::AugmentConfig;

/// Which augmentations make a two-view method's views.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewPreset {
    /// The method's own pair.
    #[default]
    Method,
    /// SimCLR's augmentation for both views (also SimSiam's, MoCo v2's and VICReg's).
    Simclr,
    /// BYOL's asymmetric pair: one view always blurred, the other sometimes solarised.
    Byol,
}

impl ViewPreset {
    /// The pair of views under this preset, given the method's `own`.
    pub fn pair(self, own: [AugmentConfig; 2], channels: usize, size: usize) -> Vec<AugmentConfig> {
        match self {
            ViewPreset::Method => own.to_vec(),
            ViewPreset::Simclr => vec![AugmentConfig::simclr(channels, size); 2],
            ViewPreset::Byol => AugmentConfig::byol_pair(channels, size).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_replaces_the_methods_own_pair() {
        let own = AugmentConfig::byol_pair(1, 28);
        assert_eq!(ViewPreset::Method.pair(own.clone(), 1, 28), own.to_vec());
        let simclr = ViewPreset::Simclr.pair(own.clone(), 1, 28);
        assert_eq!(simclr, vec![AugmentConfig::simclr(1, 28); 2]);
        assert_ne!(simclr, own.to_vec());
        let simclr_pair = [AugmentConfig::simclr(3, 32), AugmentConfig::simclr(3, 32)];
        let byol = ViewPreset::Byol.pair(simclr_pair, 3, 32);
        assert_eq!(byol, AugmentConfig::byol_pair(3, 32).to_vec());
        let parsed: ViewPreset = toml::Value::String("simclr".into())
            .try_into()
            .expect("parses");
        assert_eq!(parsed, ViewPreset::Simclr);
    }
}
