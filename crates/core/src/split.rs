//! Label budgets (k labelled samples per class) and seeded splits.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How many labelled samples per class an evaluation may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelBudget {
    /// At most this many samples of each class.
    PerClass(usize),
    /// Every labelled sample.
    All,
}

impl fmt::Display for LabelBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelBudget::PerClass(k) => write!(f, "{k}"),
            LabelBudget::All => f.write_str("all"),
        }
    }
}

impl FromStr for LabelBudget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") {
            return Ok(LabelBudget::All);
        }
        match s.parse::<usize>() {
            Ok(0) => Err("label budget must be at least 1 per class, found 0".to_string()),
            Ok(k) => Ok(LabelBudget::PerClass(k)),
            Err(_) => Err(format!(
                "invalid label budget {s:?}: expected a number of labels per class or \"all\""
            )),
        }
    }
}

impl Serialize for LabelBudget {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            LabelBudget::PerClass(k) => serializer.serialize_u64(*k as u64),
            LabelBudget::All => serializer.serialize_str("all"),
        }
    }
}

struct BudgetVisitor;

impl Visitor<'_> for BudgetVisitor {
    type Value = LabelBudget;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a positive number of labels per class or \"all\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<LabelBudget, E> {
        match usize::try_from(v) {
            Ok(0) | Err(_) => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
            Ok(k) => Ok(LabelBudget::PerClass(k)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<LabelBudget, E> {
        match u64::try_from(v) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<LabelBudget, E> {
        v.parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

impl<'de> Deserialize<'de> for LabelBudget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BudgetVisitor)
    }
}

/// Parses a comma-separated list of budgets such as `"1,10,100,all"`.
pub fn parse_budgets(list: &str) -> Result<Vec<LabelBudget>, String> {
    let budgets = list
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<LabelBudget>, String>>()?;
    if budgets.is_empty() {
        return Err("empty list of label budgets".to_string());
    }
    Ok(budgets)
}

/// Seeded stratified sample: up to `k` indices of each class (all of a smaller class), sorted.
pub fn sample_per_class(labels: &[u32], budget: LabelBudget, seed: u64) -> Vec<usize> {
    let k = match budget {
        LabelBudget::All => return (0..labels.len()).collect(),
        LabelBudget::PerClass(k) => k,
    };
    let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, &label) in labels.iter().enumerate() {
        by_class.entry(label).or_default().push(i);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut chosen = Vec::new();
    for indices in by_class.values_mut() {
        if indices.len() > k {
            let (picked, _) = indices.partial_shuffle(&mut rng, k);
            chosen.extend_from_slice(picked);
        } else {
            chosen.extend_from_slice(indices);
        }
    }
    chosen.sort_unstable();
    chosen
}

/// Seeded stratified sample of a share of the labels: `round(fraction * n_c)` indices of each
/// class of `n_c` samples, at least one, sorted. `fraction >= 1` keeps everything.
pub fn sample_fraction(labels: &[u32], fraction: f64, seed: u64) -> Vec<usize> {
    if fraction >= 1.0 {
        return (0..labels.len()).collect();
    }
    let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, &label) in labels.iter().enumerate() {
        by_class.entry(label).or_default().push(i);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut chosen = Vec::new();
    for indices in by_class.values_mut() {
        let k = ((fraction * indices.len() as f64).round() as usize).clamp(1, indices.len());
        let (picked, _) = indices.partial_shuffle(&mut rng, k);
        chosen.extend_from_slice(picked);
    }
    chosen.sort_unstable();
    chosen
}

/// Parses `--labels-fraction`: comma-separated shares in (0, 1], e.g. `0.1,1`.
pub fn parse_fractions(list: &str) -> Result<Vec<f64>, String> {
    list.split(',')
        .map(|s| match s.trim().parse::<f64>() {
            Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
            _ => Err(format!(
                "invalid label fraction {:?}: expected a number in (0, 1], e.g. 0.1",
                s.trim()
            )),
        })
        .collect()
}

/// Seeded random split of `0..n`: `first` indices (at most `n`) in part one, the rest in part
/// two; each part sorted.
pub fn split_indices(n: usize, first: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut indices: Vec<usize> = (0..n).collect();
    indices.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut second = indices.split_off(first.min(n));
    indices.sort_unstable();
    second.sort_unstable();
    (indices, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!(
            parse_budgets("1,10, 100,all").unwrap(),
            vec![
                LabelBudget::PerClass(1),
                LabelBudget::PerClass(10),
                LabelBudget::PerClass(100),
                LabelBudget::All
            ]
        );
        assert_eq!("ALL".parse::<LabelBudget>(), Ok(LabelBudget::All));
        assert!(parse_budgets("1,x").unwrap_err().contains("\"x\""));
        assert!(parse_budgets("0").unwrap_err().contains("at least 1"));
        assert!(parse_budgets("").is_err());
        assert!("-3".parse::<LabelBudget>().is_err());
        assert_eq!(LabelBudget::PerClass(10).to_string(), "10");
        assert_eq!(LabelBudget::All.to_string(), "all");
    }

    #[test]
    fn serde_number_or_all() {
        let budgets = vec![LabelBudget::PerClass(10), LabelBudget::All];
        let json = serde_json::to_string(&budgets).unwrap();
        assert_eq!(json, r#"[10,"all"]"#);
        let back: Vec<LabelBudget> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, budgets);
        let from_str: LabelBudget = serde_json::from_str(r#""5""#).unwrap();
        assert_eq!(from_str, LabelBudget::PerClass(5));
        assert!(serde_json::from_str::<LabelBudget>("0").is_err());
        assert!(serde_json::from_str::<LabelBudget>("-1").is_err());
        assert!(serde_json::from_str::<LabelBudget>(r#""some""#).is_err());
    }

    #[test]
    fn per_class_sample_is_stratified_seeded_and_sorted() {
        // Class 0: 10 samples, class 1: 5, class 2: 1.
        let labels: Vec<u32> = [vec![0; 10], vec![1; 5], vec![2; 1]].concat();
        let picked = sample_per_class(&labels, LabelBudget::PerClass(3), 7);
        assert_eq!(picked.len(), 3 + 3 + 1);
        assert!(picked.windows(2).all(|w| w[0] < w[1]));
        for class in 0..3u32 {
            let n = picked.iter().filter(|&&i| labels[i] == class).count();
            assert_eq!(n, if class == 2 { 1 } else { 3 });
        }
        assert_eq!(
            picked,
            sample_per_class(&labels, LabelBudget::PerClass(3), 7)
        );
        let other_seeds: Vec<Vec<usize>> = (0..5)
            .map(|s| sample_per_class(&labels, LabelBudget::PerClass(3), s))
            .collect();
        assert!(other_seeds.iter().any(|p| *p != picked));
        assert_eq!(sample_per_class(&labels, LabelBudget::All, 1).len(), 16);
        assert_eq!(
            sample_per_class(&labels, LabelBudget::PerClass(100), 1).len(),
            16
        );
    }

    #[test]
    fn split_is_a_seeded_partition() {
        let (a, b) = split_indices(20, 6, 3);
        assert_eq!((a.len(), b.len()), (6, 14));
        let mut all = [a.clone(), b.clone()].concat();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
        assert_eq!(split_indices(20, 6, 3), (a.clone(), b));
        assert_ne!(split_indices(20, 6, 4).0, a);
        assert_eq!(split_indices(3, 10, 0).0.len(), 3);
    }

    #[test]
    fn fractions_are_stratified_with_at_least_one_per_class() {
        // 50 of class 0, 20 of class 1, 3 of class 2.
        let labels: Vec<u32> = (0..73)
            .map(|i| u32::from(i >= 50) + u32::from(i >= 70))
            .collect();
        let idx = sample_fraction(&labels, 0.1, 4);
        let count = |c: u32| idx.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!((count(0), count(1), count(2)), (5, 2, 1));
        assert_eq!(idx, sample_fraction(&labels, 0.1, 4));
        assert_eq!(sample_fraction(&labels, 1.0, 4).len(), 73);
        assert_eq!(parse_fractions("0.1, 1").unwrap(), vec![0.1, 1.0]);
        assert!(parse_fractions("0").is_err() && parse_fractions("1.5").is_err());
        assert!(parse_fractions("ten").unwrap_err().contains("ten"));
    }
}
