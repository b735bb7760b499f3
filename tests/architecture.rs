//! The shape of the library's source: no module imports one that imports it back, so
//! each concern can be read (and changed) from its own module down.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file of the library (the reference app's `src/main.rs` and `src/app/`
/// are not the library).
fn library_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() && path != Path::new("src/app") {
            library_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") && path != Path::new("src/main.rs") {
            found.push(path);
        }
    }
}

/// `src/oidc/flow.rs` → `oidc::flow`; `src/oidc/mod.rs` → `oidc`; `src/lib.rs` → ``.
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix("src").expect("under src").with_extension("");
    let parts: Vec<String> = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|part| *part != "mod" && *part != "lib").collect();
    parts.join("::")
}

/// The modules a file names as `crate::a::b…` (the longest prefix that is a module),
/// leaving out its `#[cfg(test)] mod tests`.
fn imports(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let path: String = code[at + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let parts: Vec<&str> = path.split("::").filter(|part| !part.is_empty()).collect();
        if let Some(module) =
            (1..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|candidate| modules.contains(candidate))
        {
            found.insert(module);
        }
    }
    found
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let mut files = Vec::new();
    library_files(Path::new("src"), &mut files);
    let modules: BTreeSet<String> = files.iter().map(|path| module_of(path)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &files {
        let module = module_of(path);
        let text = std::fs::read_to_string(path).expect("source");
        let mut used = imports(&text, &modules);
        used.remove(&module);
        graph.insert(module, used);
    }
    assert!(graph.len() > 20 && graph["store::sessions"].contains("session"), "the reading works: {graph:?}");
    // The same at the top level: `oidc::flow` importing `shared` counts as `oidc` → `shared`.
    let top = |module: &str| module.split("::").next().unwrap_or_default().to_string();
    let mut top_graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, used) in &graph {
        let edges = top_graph.entry(top(module)).or_default();
        edges.extend(used.iter().map(|other| top(other)).filter(|other| *other != top(module) && !other.is_empty()));
    }

    let mut mutual = Vec::new();
    for (name, level) in [("module", &graph), ("top-level module", &top_graph)] {
        for (a, uses) in level.iter() {
            for b in uses.iter().filter(|b| a < *b) {
                if level.get(b).is_some_and(|back| back.contains(a)) {
                    mutual.push(format!("{name} {a} <-> {b}"));
                }
            }
        }
    }
    assert!(mutual.is_empty(), "modules that import each other: {mutual:#?}");
}
