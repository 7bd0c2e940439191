//! The protocols that turn a pre-trained representation into a classifier.

use std::str::FromStr;

/// How the pre-trained representation is turned into a classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Weighted k-NN on cosine similarity.
    Knn,
    /// Logistic regression on frozen features.
    Linear,
    /// RBF-kernel SVM on frozen features, its C chosen by cross-validation (TS2Vec's protocol).
    Svm,
    /// The whole encoder trained with a linear head (text).
    Finetune,
    /// The whole encoder trained through its language-model head and a prompt template (text).
    Prompt,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Knn => "knn",
            Protocol::Linear => "linear",
            Protocol::Svm => "svm",
            Protocol::Finetune => "finetune",
            Protocol::Prompt => "prompt",
        }
    }

    /// Whether the protocol reads frozen embeddings (k-NN, linear, SVM) rather than training the
    /// encoder.
    pub fn is_frozen(self) -> bool {
        matches!(self, Protocol::Knn | Protocol::Linear | Protocol::Svm)
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "knn" => Ok(Protocol::Knn),
            "linear" => Ok(Protocol::Linear),
            "svm" => Ok(Protocol::Svm),
            "finetune" => Ok(Protocol::Finetune),
            "prompt" => Ok(Protocol::Prompt),
            other => Err(format!(
                "unknown protocol `{other}` (expected knn, linear, svm, finetune or prompt)"
            )),
        }
    }
}

/// Parses a comma-separated protocol list such as `knn,linear`.
pub fn parse_protocols(list: &str) -> Result<Vec<Protocol>, String> {
    list.split(',').map(str::parse).collect()
}
