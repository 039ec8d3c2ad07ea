//! The runtime's layering, as ARCHITECTURE.md states it: every module of
//! `runtime/src/<layer>/` imports only its own layer and the layers before
//! it (model, core, store, exec, ctx, engine), and names what it imports by
//! its real module path, not through the crate root's re-exports (which
//! would hide the layer it comes from).

use std::path::{Path, PathBuf};

/// The layers, in order: each may import only those before it.
const LAYERS: [&str; 6] = ["model", "core", "store", "exec", "ctx", "engine"];

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read runtime/src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// The code of a file without its unit tests (they may reach further).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// Every `crate::<first segment>` the code names, with its line; a group
/// `crate::{a::x, b}` names `a` and `b`.
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let ident = |text: &str| -> String {
        text.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (index, line) in code.lines().enumerate() {
        let line = line.split("//").next().unwrap_or_default();
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            match after.strip_prefix('{') {
                Some(group) => {
                    let inner = group.split('}').next().unwrap_or_default();
                    for item in inner.split(',').filter(|item| !item.trim().is_empty()) {
                        found.push((index + 1, ident(item)));
                    }
                }
                None => found.push((index + 1, ident(after))),
            }
            rest = after;
        }
    }
    found
}

#[test]
fn each_layer_imports_only_the_layers_before_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(layer) = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .and_then(|first| LAYERS.iter().position(|layer| *layer == first))
        else {
            continue; // lib.rs: the crate root re-exports every layer.
        };
        if file.file_name().is_some_and(|name| name == "tests.rs") {
            continue; // A module of unit tests may drive the whole engine.
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (line, segment) in crate_paths(without_tests(&text)) {
            match LAYERS.iter().position(|candidate| *candidate == segment) {
                Some(imported) if imported <= layer => {}
                Some(imported) => problems.push(format!(
                    "{}:{line}: the {} layer imports the {} layer, which comes after it",
                    relative.display(),
                    LAYERS[layer],
                    LAYERS[imported]
                )),
                None => problems.push(format!(
                    "{}:{line}: `crate::{segment}` goes through the crate root; name the module it comes from",
                    relative.display()
                )),
            }
        }
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_import_scanner_sees_paths_and_groups() {
    let code = "use crate::model::ids::RunId;\nuse crate::{Error, core::json}; // crate::engine in a comment\nlet x = crate::engine::Engine::builder();";
    let paths = crate_paths(code);
    let found: Vec<(usize, &str)> = paths
        .iter()
        .map(|(line, segment)| (*line, segment.as_str()))
        .collect();
    assert_eq!(
        found,
        [(1, "model"), (2, "Error"), (2, "core"), (3, "engine")]
    );
}
