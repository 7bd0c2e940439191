//! The text methods and their one registration point, [`autodidact_core::method_registry!`]: a method is a file here
//! and one line there.

use burn::prelude::*;

use crate::batch::TokenBatch;
use crate::model::TextEncoder;
pub use autodidact_core::method::{AfterStep, Method, MethodSettings, StepOutput, device_of};

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

autodidact_core::method_registry! {
    /// The registered text methods.
    pub enum TextMethodKind: TextMethod;
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
