//! Generated labelled sentences for examples and tests: no download, the same texts everywhere.

use crate::LabelledTexts;

/// `n` sentences about two topics with a fixed grammar ("the cat sat on the mat ..." is topic
/// 0, "a car runs near the station ..." topic 1), alternating.
pub fn topic_sentences(n: usize) -> LabelledTexts {
    let animals = ["cat", "dog", "bird", "horse", "cow"];
    let places = ["mat", "hill", "barn", "field", "road"];
    let machines = ["car", "train", "plane", "ship", "truck"];
    let verbs = ["runs", "stops", "turns", "starts", "waits"];
    let (labels, texts) = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                let (a, p) = (animals[i / 2 % 5], places[(i / 10) % 5]);
                (0, format!("the {a} sat on the {p} and the {a} slept ."))
            } else {
                let (m, v) = (machines[i / 2 % 5], verbs[(i / 10) % 5]);
                (
                    1,
                    format!("a {m} {v} near the station when the {m} is late ."),
                )
            }
        })
        .unzip();
    LabelledTexts {
        texts,
        labels,
        class_names: vec!["animals".to_string(), "machines".to_string()],
    }
}
