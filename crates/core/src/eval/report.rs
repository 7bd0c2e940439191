//! Evaluation results: JSON for machines, aligned text and Markdown tables for people.

use crate::eval::knn::KnnFeatures;
use crate::split::LabelBudget;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One protocol at one label budget: the SSL encoder's accuracy and, if run, the supervised
/// baseline's (both in 0..1).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EvalResult {
    pub protocol: String,
    /// Labels per class (image evaluation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_per_class: Option<LabelBudget>,
    /// Share of the train labels, stratified by class (series evaluation, `--labels-fraction`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_fraction: Option<f64>,
    pub ssl_accuracy: f64,
    pub baseline_accuracy: Option<f64>,
    /// Other reference figures at the same labels, by name (audio's `mfcc_accuracy`: the MFCC
    /// statistics read by the same protocol).
    #[serde(flatten)]
    pub references: std::collections::BTreeMap<String, f64>,
}

impl EvalResult {
    /// A result at a share of the train labels (series and text evaluation).
    pub fn at_fraction(
        protocol: &str,
        fraction: f64,
        ssl_accuracy: f64,
        baseline_accuracy: Option<f64>,
    ) -> Self {
        Self {
            protocol: protocol.to_string(),
            labels_per_class: None,
            labels_fraction: Some(fraction),
            ssl_accuracy,
            baseline_accuracy,
            references: Default::default(),
        }
    }

    /// One progress line: "svm with 10% of the labels: 90.00%".
    pub fn line(&self) -> String {
        let labels = match self.labels_per_class {
            Some(b) => format!("{b} labels per class"),
            None => format!("{} of the labels", self.labels()),
        };
        format!(
            "{} with {labels}: {:.2}%",
            self.protocol,
            100.0 * self.ssl_accuracy
        )
    }

    /// How many labels the classifier saw: `10`, `all` (per class) or `10%`.
    pub fn labels(&self) -> String {
        match (self.labels_per_class, self.labels_fraction) {
            (Some(b), _) => b.to_string(),
            (None, Some(f)) => format!("{}%", f * 100.0),
            (None, None) => "-".to_string(),
        }
    }

    /// SSL minus baseline accuracy in percentage points, if there is a baseline.
    pub fn difference_points(&self) -> Option<f64> {
        self.baseline_accuracy
            .map(|b| (self.ssl_accuracy - b) * 100.0)
    }
}

/// All results of an evaluation run (`eval.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EvalReport {
    /// How an image encoder's feature map became the representation (`mean`, `grid`, `grid4`;
    /// absent for text and series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooling: Option<String>,
    /// What image k-NN compared (absent for text and series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knn_features: Option<KnnFeatures>,
    /// How many transformer blocks a ViT was read through (absent for other encoders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vit_blocks: Option<usize>,
    pub results: Vec<EvalResult>,
    /// What a modality measures besides the label-budget results, by name (multimodal runs:
    /// `retrieval`, `zero_shot`).
    #[serde(flatten, default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl EvalReport {
    /// Writes the report as pretty JSON, via `path.tmp` and a rename.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let mut json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        json.push('\n');
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path)
    }
}

const HEADERS: [&str; 5] = [
    "protocol",
    "labels/class",
    "SSL %",
    "baseline %",
    "diff (pts)",
];

/// The column titles; the labels column says "labels/class" unless some row counts a share.
fn headers(results: &[EvalResult]) -> [&'static str; 5] {
    let mut h = HEADERS;
    if results.iter().any(|r| r.labels_per_class.is_none()) {
        h[1] = "labels";
    }
    h
}

/// The cells of one result row: percentages with two decimals, "-" where there is no baseline.
fn cells(r: &EvalResult) -> [String; 5] {
    [
        r.protocol.clone(),
        r.labels(),
        format!("{:.2}", r.ssl_accuracy * 100.0),
        r.baseline_accuracy
            .map_or_else(|| "-".to_string(), |b| format!("{:.2}", b * 100.0)),
        r.difference_points()
            .map_or_else(|| "-".to_string(), |d| format!("{d:+.2}")),
    ]
}

/// Plain-text table, columns aligned (protocol left, numbers right), one line per result.
pub fn format_table(results: &[EvalResult]) -> String {
    let rows: Vec<[String; 5]> = results.iter().map(cells).collect();
    let titles = headers(results);
    let mut widths = titles.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = format!("{:<w$}", cells[0], w = widths[0]);
        for (cell, w) in cells.iter().zip(widths).skip(1) {
            s.push_str(&format!("  {cell:>w$}"));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(titles);
    for row in &rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    out
}

/// GitHub-flavoured Markdown table (numbers right-aligned).
pub fn markdown_table(results: &[EvalResult]) -> String {
    let mut out = format!(
        "| {} |\n|---|---:|---:|---:|---:|\n",
        headers(results).join(" | ")
    );
    for r in results {
        let mut row = cells(r);
        row[0] = row[0].replace('|', "\\|");
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn results() -> Vec<EvalResult> {
        vec![
            EvalResult {
                protocol: "knn".to_string(),
                labels_per_class: Some(LabelBudget::PerClass(10)),
                labels_fraction: None,
                ssl_accuracy: 0.95,
                baseline_accuracy: Some(0.71),
                references: Default::default(),
            },
            EvalResult {
                protocol: "linear".to_string(),
                labels_per_class: Some(LabelBudget::All),
                labels_fraction: None,
                ssl_accuracy: 0.9712,
                baseline_accuracy: None,
                references: Default::default(),
            },
        ]
    }

    #[test]
    fn json_shape() {
        let r = results();
        let v: Value = serde_json::to_value(&r[0]).unwrap();
        let expected: Value = serde_json::from_str(
            r#"{"protocol": "knn", "labels_per_class": 10, "ssl_accuracy": 0.95, "baseline_accuracy": 0.71}"#,
        )
        .unwrap();
        assert_eq!(v, expected);
        assert!(v["labels_per_class"].is_u64());
        let v: Value = serde_json::to_value(&r[1]).unwrap();
        assert_eq!(v["labels_per_class"], Value::String("all".to_string()));
        assert!(v["baseline_accuracy"].is_null());
        assert!(v["ssl_accuracy"].is_f64());
        assert_eq!(v.as_object().unwrap().len(), 4);
    }

    #[test]
    fn report_round_trips_through_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eval.json");
        let report = EvalReport {
            pooling: Some("grid".to_string()),
            knn_features: Some(KnnFeatures::Standardised),
            vit_blocks: Some(3),
            results: results(),
            extra: [("retrieval".to_string(), serde_json::json!({"r1": 0.5}))]
                .into_iter()
                .collect(),
        };
        report.write_json(&path).unwrap();
        assert!(!dir.path().join("eval.json.tmp").exists());
        let text = std::fs::read_to_string(&path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["results"].as_array().unwrap().len(), 2);
        assert_eq!(v["results"][0]["protocol"], "knn");
        assert_eq!(v["pooling"], "grid");
        assert_eq!(v["knn_features"], "standardised");
        assert_eq!(v["vit_blocks"], 3);
        // A modality's own measures sit beside the results, by name.
        assert_eq!(v["retrieval"]["r1"], 0.5);
        let back: EvalReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn text_table_has_figures_and_alignment() {
        let t = format_table(&results());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].starts_with("protocol"));
        assert!(lines[1].starts_with("knn"));
        for figure in ["95.00", "71.00", "+24.00"] {
            assert!(lines[1].contains(figure), "{figure} missing in {t}");
        }
        assert!(
            lines[2].contains("all") && lines[2].contains("97.12"),
            "{t}"
        );
        assert_eq!(lines[2].matches(" -").count(), 2, "{t}");
        // Right-aligned numeric columns end at the same place.
        assert_eq!(lines[0].len(), lines[1].len());
        assert_eq!(lines[1].len(), lines[2].len());
        assert_eq!(format_table(&[]).lines().count(), 1);
    }

    #[test]
    fn markdown_table_rows() {
        let mut r = results();
        r[1].protocol = "a|b".to_string();
        r[1].baseline_accuracy = Some(0.99);
        let md = markdown_table(&r);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "| protocol | labels/class | SSL % | baseline % | diff (pts) |"
        );
        assert_eq!(lines[1], "|---|---:|---:|---:|---:|");
        assert_eq!(lines[2], "| knn | 10 | 95.00 | 71.00 | +24.00 |");
        assert_eq!(lines[3], "| a\\|b | all | 97.12 | 99.00 | -1.88 |");
    }

    #[test]
    fn series_results_count_a_share_of_the_labels() {
        let r = EvalResult {
            protocol: "svm".to_string(),
            labels_per_class: None,
            labels_fraction: Some(0.1),
            ssl_accuracy: 0.9,
            baseline_accuracy: None,
            references: Default::default(),
        };
        let v: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["labels_fraction"], 0.1);
        assert!(v.get("labels_per_class").is_none());
        let md = markdown_table(std::slice::from_ref(&r));
        assert!(md.starts_with("| protocol | labels | SSL %"), "{md}");
        assert!(md.contains("| svm | 10% | 90.00 |"), "{md}");
        let back: EvalResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }
}
