//! The series methods and their one registration point, [`series_methods!`]: a method is a file
//! here and one line there.

use burn::prelude::*;

use crate::batch::SeriesBatch;
use crate::encoder::SeriesEncoder;
pub use autodidact_core::method::{AfterStep, Method, MethodSettings, StepOutput, device_of};
use autodidact_core::method::{default_settings, read_settings, recipe_settings};
use autodidact_core::recipe::Recipe;
use autodidact_core::train::limits::Settings;

/// A self-supervised method on series: a [`Method`] whose batch is a padded, standardised
/// [`SeriesBatch`] and whose encoder is the dilated convolutional [`SeriesEncoder`]. It draws its
/// own randomness (crops, shuffles, masks) from the step's seed.
pub trait SeriesMethod: Method<Batch = SeriesBatch, Encoder = SeriesEncoder> {
    /// The method's own hyper-parameters (`[method_config]`).
    type Config: MethodSettings;
    /// Builds the method's heads around `encoder`.
    fn new(cfg: &Self::Config, encoder: SeriesEncoder, device: &Device) -> Self;
}

/// Something to do with a method's type, given its [`SeriesMethodKind`] ([`SeriesMethodKind::visit`]).
pub trait MethodVisitor {
    type Output;
    fn visit<M: SeriesMethod>(self) -> Self::Output;
}

/// Declares the methods: module, type, name (as `--method` and `config.toml` spell it) and a
/// one-line description; generates [`SeriesMethodKind`] and its name <-> type mapping.
macro_rules! series_methods {
    ($($kind:ident = $name:literal => $module:ident::$ty:ident, $help:literal;)*) => {
        $(pub mod $module;)*

        /// The registered series methods.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum SeriesMethodKind {
            $(#[doc = $help] #[serde(rename = $name)] $kind,)*
        }

        impl SeriesMethodKind {
            /// Every series method, in registration order.
            pub const ALL: &[SeriesMethodKind] = &[$(SeriesMethodKind::$kind),*];

            /// The name `--method` and config files use.
            pub fn name(self) -> &'static str {
                match self { $(SeriesMethodKind::$kind => $name,)* }
            }

            /// What the method learns, in a line.
            pub fn help(self) -> &'static str {
                match self { $(SeriesMethodKind::$kind => $help,)* }
            }

            /// The method called `name`, if it is a series method.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(SeriesMethodKind::$kind),)* _ => None }
            }

            /// Calls `visitor` with the method's type.
            pub fn visit<V: MethodVisitor>(self, visitor: V) -> V::Output {
                match self { $(SeriesMethodKind::$kind => visitor.visit::<$module::$ty>(),)* }
            }

            /// The method's default settings as a table (`config.toml`'s `[method_config]`).
            pub fn default_settings(self) -> toml::Table {
                match self { $(SeriesMethodKind::$kind => default_settings::<<$module::$ty as SeriesMethod>::Config>(),)* }
            }

            /// The method's defaults with `recipe`'s `[method_config]` laid over them.
            pub fn recipe_settings(self, recipe: &Recipe) -> anyhow::Result<toml::Table> {
                match self { $(SeriesMethodKind::$kind => recipe_settings::<<$module::$ty as SeriesMethod>::Config>(recipe),)* }
            }

            /// Reads `table` as the method's settings and checks them.
            pub fn check_settings(self, table: &toml::Table, s: &Settings) -> anyhow::Result<()> {
                match self { $(SeriesMethodKind::$kind => read_settings::<<$module::$ty as SeriesMethod>::Config>(table, s).map(|_| ()),)* }
            }
        }
    };
}

series_methods! {
    TsOrder = "ts-order" => ts_order::TsOrder, "Order restoration: cut a series into segments, shuffle them, predict each one's place.";
    TsMask = "ts-mask" => ts_mask::TsMask, "Masked modelling: hide spans of time steps, reconstruct their values.";
    TsContrast = "ts-contrast" => ts_contrast::TsContrast, "Contrast: TS2Vec's hierarchical contrastive loss over two overlapping crops.";
}

impl std::fmt::Display for SeriesMethodKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
