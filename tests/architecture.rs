//! The layering holds: each crate depends on the crates of ours its place in the graph allows,
//! and inside a crate no modules import each other, directly or round a longer loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each crate of ours and the crates of ours it may depend on.
const CRATES: [(&str, &[&str]); 10] = [
    ("crates/core", &["autodidact-kernels"]),
    ("crates/audio", &["autodidact-core", "autodidact-kernels"]),
    ("crates/kernels", &[]),
    ("crates/series", &["autodidact-core"]),
    ("crates/text", &["autodidact-core", "autodidact-kernels"]),
    ("crates/vision", &["autodidact-core", "autodidact-kernels"]),
    (
        "crates/multimodal",
        &[
            "autodidact-audio",
            "autodidact-core",
            "autodidact-text",
            "autodidact-vision",
        ],
    ),
    (
        "crates/cli",
        &[
            "autodidact-audio",
            "autodidact-core",
            "autodidact-kernels",
            "autodidact-mpi",
            "autodidact-multimodal",
            "autodidact-series",
            "autodidact-text",
            "autodidact-vision",
        ],
    ),
    ("crates/mpi", &["autodidact-core"]),
    ("crates/python", &["autodidact-cli", "autodidact-core"]),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn each_crate_depends_only_on_the_crates_below_it() {
    for (dir, allowed) in CRATES {
        let manifest = root().join(dir).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let ours: BTreeSet<&str> = ["dependencies", "dev-dependencies"]
            .iter()
            .filter_map(|section| table.get(*section).and_then(|d| d.as_table()))
            .flat_map(|deps| deps.keys())
            .map(String::as_str)
            .filter(|name| name.starts_with("autodidact"))
            .collect();
        let allowed: BTreeSet<&str> = allowed.iter().copied().collect();
        assert!(
            ours.is_subset(&allowed),
            "{dir} depends on {ours:?}; it may depend on {allowed:?}"
        );
    }
}

#[test]
fn no_modules_of_a_crate_import_each_other() {
    for dir in CRATES
        .iter()
        .map(|(dir, _)| root().join(dir).join("src"))
        .chain([root().join("src")])
    {
        let graph = module_graph(&dir);
        assert!(!graph.is_empty(), "{dir:?}");
        if let Some(cycle) = find_cycle(&graph) {
            panic!(
                "{}: modules import each other: {}",
                dir.display(),
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let edge = |a: &str, b: &str| (a.to_string(), BTreeSet::from([b.to_string()]));
    let looped: BTreeMap<String, BTreeSet<String>> = BTreeMap::from([
        edge("train", "eval"),
        edge("eval", "batch"),
        edge("batch", "train"),
    ]);
    assert!(find_cycle(&looped).is_some());
    let layered: BTreeMap<String, BTreeSet<String>> =
        BTreeMap::from([edge("train", "eval"), edge("eval", "batch")]);
    assert_eq!(find_cycle(&layered), None);
    let parsed = references("use crate::{batch::X, train::{Y, Z}};\nlet a = super::eval::f();");
    assert!(
        parsed.contains(&(false, vec!["batch".into(), "X".into()])),
        "{parsed:?}"
    );
    assert!(
        parsed.contains(&(false, vec!["train".into()])),
        "{parsed:?}"
    );
    assert!(
        parsed.contains(&(true, vec!["eval".into(), "f".into()])),
        "{parsed:?}"
    );
}

/// Module path (`a::b`, empty for the crate root) -> the modules it refers to by `crate::` or
/// `super::` paths, outside its tests and comments. A module's own ancestors and descendants are
/// not counted: declaring a child or using a parent's items is not a mutual import.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files(src);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(src, f), f.clone()))
        .collect();
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let code = without_tests_and_comments(&text);
        let mut targets = BTreeSet::new();
        for (is_super, path) in references(&code) {
            // `super` is the parent module, whether this one is a file or a folder.
            let mut target: Vec<String> = if is_super {
                module[..module.len().saturating_sub(1)].to_vec()
            } else {
                Vec::new()
            };
            for part in path {
                if part == "super" {
                    target.pop();
                    continue;
                }
                let mut deeper = target.clone();
                deeper.push(part);
                if modules.contains_key(&deeper) {
                    target = deeper;
                } else {
                    break;
                }
            }
            let related = target.starts_with(module) || module.starts_with(&target);
            if !related {
                targets.insert(target.join("::"));
            }
        }
        graph.insert(module.join("::"), targets);
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn without_tests_and_comments(text: &str) -> String {
    let code = text
        .find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i]);
    code.lines()
        .map(|line| line.find("//").map_or(line, |i| &line[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `(starts with super, path segments)` of every `crate::...` and `super::...` path; a brace
/// group (`crate::{a::B, c}`) gives one path per member.
fn references(code: &str) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    for (start, _) in code.match_indices("::") {
        let before = &code[..start];
        let word_start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let head = &before[word_start..];
        let is_super = match head {
            "crate" => false,
            "super" if !before[..word_start].ends_with("::") => true,
            _ => continue,
        };
        let rest = &code[start + 2..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            for member in split_top_level(&group[..end]) {
                out.push((is_super, segments(member)));
            }
        } else {
            out.push((is_super, segments(rest)));
        }
    }
    out
}

fn split_top_level(group: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut from) = (Vec::new(), 0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&group[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&group[from..]);
    parts
}

/// The leading `a::b::c` of `text` (a group's first level only).
fn segments(text: &str) -> Vec<String> {
    let path: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    path.split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A loop of modules, if the graph has one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}
