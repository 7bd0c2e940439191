//! The text methods and their one registration point, [`text_methods!`]: a method is a file here
//! and one line there.

use burn::prelude::*;

use crate::batch::TokenBatch;
use crate::model::TextEncoder;
pub use autodidact_core::method::{AfterStep, Method, MethodSettings, StepOutput, device_of};
use autodidact_core::method::{default_settings, read_settings, recipe_settings};
use autodidact_core::recipe::Recipe;
use autodidact_core::train::limits::Settings;

/// What a method trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextInput {
    /// Windows of the corpus as one token stream (next-token training).
    Stream,
    /// Texts one by one, `[CLS]` first, padded to the longest in the batch.
    Texts,
    /// Texts packed whole into rows of the context length, each attending only to itself:
    /// a batch holds as many texts as fit, not a fixed number (masked language modelling).
    Packed,
}

/// A self-supervised method on text: a [`Method`] whose batch is a [`TokenBatch`] and whose
/// encoder is the [`TextEncoder`]; its own randomness (masks) comes from the step's seed.
pub trait TextMethod: Method<Batch = TokenBatch, Encoder = TextEncoder> {
    /// The method's own hyper-parameters (`[method_config]`).
    type Config: MethodSettings;
    /// Builds the method's heads around `encoder`.
    fn new(cfg: &Self::Config, encoder: TextEncoder, device: &Device) -> Self;
    /// Whether the encoder attends only to earlier positions.
    fn causal() -> bool;
    fn input() -> TextInput;
}

/// Something to do with a method's type, given its [`TextMethodKind`] ([`TextMethodKind::visit`]).
pub trait MethodVisitor {
    type Output;
    fn visit<M: TextMethod>(self) -> Self::Output;
}

/// Declares the methods: module, type, name (as `--method` and `config.toml` spell it) and a
/// one-line description; generates [`TextMethodKind`] and its name <-> type mapping.
macro_rules! text_methods {
    ($($kind:ident = $name:literal => $module:ident::$ty:ident, $help:literal;)*) => {
        $(pub mod $module;)*

        /// The registered text methods.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum TextMethodKind {
            $(#[doc = $help] #[serde(rename = $name)] $kind,)*
        }

        impl TextMethodKind {
            /// Every text method, in registration order.
            pub const ALL: &[TextMethodKind] = &[$(TextMethodKind::$kind),*];

            /// The name `--method` and config files use.
            pub fn name(self) -> &'static str {
                match self { $(TextMethodKind::$kind => $name,)* }
            }

            /// What the method learns, in a line.
            pub fn help(self) -> &'static str {
                match self { $(TextMethodKind::$kind => $help,)* }
            }

            /// The method called `name`, if it is a text method.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some(TextMethodKind::$kind),)* _ => None }
            }

            /// Calls `visitor` with the method's type.
            pub fn visit<V: MethodVisitor>(self, visitor: V) -> V::Output {
                match self { $(TextMethodKind::$kind => visitor.visit::<$module::$ty>(),)* }
            }

            /// The method's default settings as a table (`config.toml`'s `[method_config]`).
            pub fn default_settings(self) -> toml::Table {
                match self { $(TextMethodKind::$kind => default_settings::<<$module::$ty as TextMethod>::Config>(),)* }
            }

            /// The method's defaults with `recipe`'s `[method_config]` laid over them.
            pub fn recipe_settings(self, recipe: &Recipe) -> anyhow::Result<toml::Table> {
                match self { $(TextMethodKind::$kind => recipe_settings::<<$module::$ty as TextMethod>::Config>(recipe),)* }
            }

            /// Reads `table` as the method's settings and checks them.
            pub fn check_settings(self, table: &toml::Table, s: &Settings) -> anyhow::Result<()> {
                match self { $(TextMethodKind::$kind => read_settings::<<$module::$ty as TextMethod>::Config>(table, s).map(|_| ()),)* }
            }
        }
    };
}

text_methods! {
    Mlm = "mlm" => mlm::Mlm, "Masked language modelling: BERT's 15% selection (80/10/10), loss on the selected tokens.";
    Clm = "clm" => clm::Clm, "Causal language modelling: GPT's next-token prediction.";
    Simcse = "simcse" => simcse::SimCse, "SimCSE: two dropout views of a sentence are positives, the batch's other sentences negatives.";
}

impl TextMethodKind {
    /// What the method trains on.
    pub fn input(self) -> TextInput {
        struct Input;
        impl MethodVisitor for Input {
            type Output = TextInput;
            fn visit<M: TextMethod>(self) -> TextInput {
                M::input()
            }
        }
        self.visit(Input)
    }

    /// Whether the method's encoder attends only to earlier positions.
    pub fn causal(self) -> bool {
        struct Causal;
        impl MethodVisitor for Causal {
            type Output = bool;
            fn visit<M: TextMethod>(self) -> bool {
                M::causal()
            }
        }
        self.visit(Causal)
    }
}

impl std::fmt::Display for TextMethodKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
