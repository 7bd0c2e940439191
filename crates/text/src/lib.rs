//! Text: corpora and labelled sets, tokenizers, the Transformer, the text pretexts, their loop,
//! generation, search and few-label transfer.

pub mod batch;
pub mod bench;
pub mod data;
pub mod eval;
pub mod generate;
pub mod masking;
pub mod methods;
pub mod model;
pub mod prompt;
pub mod recipe;
pub mod run;
pub mod search;
#[cfg(test)]
mod shared_data;
pub mod synthetic;
pub mod tokenizer;
pub mod train;

/// Labelled texts: one class index per text.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledTexts {
    pub texts: Vec<String>,
    /// Class index of each text (into `class_names`).
    pub labels: Vec<u32>,
    pub class_names: Vec<String>,
}

impl LabelledTexts {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The texts at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> LabelledTexts {
        LabelledTexts {
            texts: indices.iter().map(|&i| self.texts[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
        }
    }
}

/// A labelled problem: train and test splits with the same classes.
#[derive(Clone, Debug)]
pub struct TextProblem {
    /// The data set's name (folder or file stem).
    pub name: String,
    pub train: LabelledTexts,
    pub test: LabelledTexts,
}
