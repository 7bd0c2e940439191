//! The protocols that turn a frozen representation into a classifier.

use std::str::FromStr;

/// How the frozen representation is turned into a classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Weighted k-NN on cosine similarity.
    Knn,
    /// Logistic regression on frozen features.
    Linear,
    /// RBF-kernel SVM on frozen features, its C chosen by cross-validation (TS2Vec's protocol).
    Svm,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Knn => "knn",
            Protocol::Linear => "linear",
            Protocol::Svm => "svm",
        }
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "knn" => Ok(Protocol::Knn),
            "linear" => Ok(Protocol::Linear),
            "svm" => Ok(Protocol::Svm),
            other => Err(format!(
                "unknown protocol `{other}` (expected knn, linear or svm)"
            )),
        }
    }
}

/// Parses a comma-separated protocol list such as `knn,linear`.
pub fn parse_protocols(list: &str) -> Result<Vec<Protocol>, String> {
    list.split(',').map(str::parse).collect()
}
