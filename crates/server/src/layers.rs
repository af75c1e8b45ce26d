//! The modules' layers, checked: each layer may use the ones below it and
//! never one above or beside it at its level. Read from the source, so a
//! `use` that crosses a line fails the build's tests, not a review.
//!
//! From the bottom: `domain` (rules, no I/O) → `store`, `auth`, `api_keys`, `clock`, `config`,
//! `hub`, `bus`, `presence`, `cluster`, `rate`, `slots`, `files`,
//! `metrics`, `memory` → `state` → the services `chat`, `edits`, `team`, `uploads` →
//! `edge` (what REST and WebSocket endpoints share) → `http` and `ws`, side
//! by side → `app`, `demo`.

use std::path::{Path, PathBuf};

/// Modules above the lower layers: what those may never use.
const UPPER: [&str; 16] = [
    "state",
    "chat",
    "edits",
    "team",
    "uploads",
    "webhooks",
    "data_rights",
    "lifecycle",
    "hours",
    "queue",
    "email",
    "edge",
    "http",
    "ws",
    "app",
    "demo",
];
const LOWER: [&str; 16] = [
    "domain", "store", "auth", "api_keys", "clock", "config", "mail", "hub", "bus", "presence",
    "cluster", "rate", "slots", "files", "metrics", "memory",
];

fn sources(module: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    let file = root.join(format!("{module}.rs"));
    if file.exists() {
        found.push(file);
    }
    let mut folders = vec![root.join(module)];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    assert!(!found.is_empty(), "no sources for {module}");
    found
}

/// Every `crate::<module>` that `module`'s sources name.
fn uses(module: &str) -> Vec<(PathBuf, String)> {
    let mut named = Vec::new();
    for path in sources(module) {
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            named.push((path.clone(), name));
        }
    }
    named
}

fn crossings(module: &str, forbidden: &[&str]) -> Vec<String> {
    uses(module)
        .into_iter()
        .filter(|(_, name)| forbidden.contains(&name.as_str()))
        .map(|(path, name)| format!("{} uses crate::{name}", path.display()))
        .collect()
}

#[test]
fn the_rules_use_nothing_of_the_server() {
    let others: Vec<&str> = UPPER
        .iter()
        .chain(&LOWER)
        .copied()
        .filter(|m| *m != "domain")
        .collect();
    assert_eq!(crossings("domain", &others), Vec::<String>::new());
}

#[test]
fn lower_layers_never_reach_up() {
    for module in LOWER {
        assert_eq!(crossings(module, &UPPER), Vec::<String>::new(), "{module}");
    }
}

#[test]
fn rest_and_websocket_endpoints_never_use_each_other() {
    assert_eq!(crossings("ws", &["http", "app"]), Vec::<String>::new());
    assert_eq!(crossings("http", &["ws", "app"]), Vec::<String>::new());
    // Every upper module below the endpoints uses none of them.
    let endpoints = ["http", "ws", "app", "demo"];
    for module in UPPER.into_iter().filter(|m| !endpoints.contains(m)) {
        assert_eq!(
            crossings(module, &endpoints),
            Vec::<String>::new(),
            "{module}"
        );
    }
}
