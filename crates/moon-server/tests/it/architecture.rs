//! The intended structure holds: `docs/architecture.json` names the parts (by path), and the
//! arrows that must never exist. This test reads every Rust source file of the workspace, finds
//! what it refers to (`crate::module`, `super::…` is local, `moon_crate::`), maps both ends to
//! parts, and fails naming each file that breaks a "never" rule. Crate boundaries enforce most
//! rules by themselves; this catches the ones inside a crate (a component reaching up to the
//! wiring, agents using sales, the security layer using the console).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Every `.rs` file under `dir`, relative to the workspace root, with `/` separators.
fn sources(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // Tests may use anything; only the code users run is held to the rules.
            if !matches!(path.file_name().and_then(|n| n.to_str()), Some("tests" | "examples" | "target")) {
                sources(root, &path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The part a workspace path belongs to: the part with the longest matching path prefix.
fn part_of<'a>(parts: &'a [(String, Vec<String>)], path: &str) -> Option<&'a str> {
    parts
        .iter()
        .flat_map(|(name, prefixes)| prefixes.iter().map(move |p| (name, p)))
        .filter(|(_, p)| path == p.trim_end_matches('/') || path.starts_with(p.as_str()))
        .max_by_key(|(_, p)| p.len())
        .map(|(name, _)| name.as_str())
}

/// The workspace paths a file refers to: `crate::x` as `<crate src>/x`, `moon_y::` as the
/// crate `moon-y`. Comments (doc links among them) are not references.
fn references(file: &str, text: &str) -> BTreeSet<String> {
    let src = &file[..file.find("/src/").map_or(file.len(), |i| i + 5)];
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let code = code.split(" //").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // e.g. `moon_crate::` is not `crate::`
            }
            let rest = &code[at + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                group.split('}').next().unwrap_or_default().split(',').collect()
            } else {
                vec![rest]
            };
            for name in names {
                let module: String = name.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !module.is_empty() && module.chars().next().is_some_and(|c| c.is_lowercase()) {
                    out.insert(format!("{src}{module}"));
                }
            }
        }
        for (at, _) in code.match_indices("moon_") {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = code[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if code[at + name.len()..].starts_with("::") {
                out.insert(format!("crates/{}/", name.replace('_', "-")));
            }
        }
    }
    out
}

#[test]
fn no_never_rule_of_the_intended_structure_is_broken() {
    let root = workspace();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(root.join("docs/architecture.json")).unwrap())
        .expect("docs/architecture.json is JSON");
    let parts: Vec<(String, Vec<String>)> = doc["parts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, p)| {
            (name.clone(), p["is"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        })
        .collect();
    let never: Vec<(String, String, String)> = doc["never"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let s = |i: usize| n[i].as_str().unwrap_or_default().to_owned();
            (s(0), s(1), s(2))
        })
        .collect();
    assert!(!never.is_empty(), "docs/architecture.json lists no never rule");
    let mut files = Vec::new();
    sources(&root, &root.join("crates"), &mut files);
    assert!(files.len() > 50, "found only {} source files under crates/", files.len());
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let Some(from) = part_of(&parts, file) else { continue };
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for target in references(file, &text) {
            // `crate::x` names a file `x.rs` or a folder `x/`.
            let to = part_of(&parts, &format!("{target}.rs")).or_else(|| part_of(&parts, &format!("{target}/")));
            let Some(to) = to.filter(|to| *to != from) else { continue };
            checked += 1;
            if let Some((_, _, why)) = never.iter().find(|(a, b, _)| a == from && b == to) {
                broken.push(format!("{file} ({from}) -> {target} ({to}): {why}"));
            }
        }
    }
    assert!(checked > 100, "only {checked} references between parts were found; is the scanner blind?");
    assert!(broken.is_empty(), "never rules of docs/architecture.json broken:\n{}", broken.join("\n"));
}

#[test]
fn the_scanner_sees_references_and_ignores_comments() {
    let text = "use crate::{agents::model::AgentRef, sales};\n/// see [`crate::web`]\nlet x = moon_http::ApiError::internal(); // crate::web\n";
    let refs = references("crates/moon-server/src/notifications/mod.rs", text);
    let expected: BTreeSet<String> =
        ["crates/moon-server/src/agents", "crates/moon-server/src/sales", "crates/moon-http/"].map(String::from).into();
    assert_eq!(refs, expected);
}
