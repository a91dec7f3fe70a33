//! Cargo packages: a package with a binary target is deployable (its
//! `[[bin]]` names, else `src/main.rs` or `src/bin/*.rs`); one with only a
//! library is not, and packages that use it by `path` copy it. A workspace
//! member builds from the workspace root with every member's manifest (cargo
//! loads them all; the lock file is shared anyway).

use std::collections::BTreeMap;

use super::{join, member_dirs, parent, ports_of, resolve, Found, Libraries, Package, Skipped, Tree};

struct Manifest {
    dir: String,
    toml: toml::Table,
}

pub(crate) fn detect(tree: &Tree, found: &mut Vec<Found>, skipped: &mut Vec<Skipped>, libraries: &mut Libraries) {
    let manifests: Vec<Manifest> = tree
        .texts
        .iter()
        .filter(|(path, _)| path.rsplit('/').next() == Some("Cargo.toml"))
        .filter_map(|(path, text)| Some(Manifest { dir: parent(path).to_owned(), toml: text.parse::<toml::Table>().ok()? }))
        .collect();
    // Workspace root → its members.
    let mut workspace_of: BTreeMap<String, String> = BTreeMap::new();
    let mut members_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &manifests {
        let Some(ws) = m.toml.get("workspace").and_then(|w| w.as_table()) else { continue };
        let strings = |key: &str| -> Vec<String> {
            ws.get(key).and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
        };
        let mut members = member_dirs(tree, &m.dir, &strings("members"), &strings("exclude"), "Cargo.toml");
        if m.toml.contains_key("package") {
            members.push(m.dir.clone());
        }
        for member in &members {
            workspace_of.insert(member.clone(), m.dir.clone());
        }
        members.sort();
        members_of.insert(m.dir.clone(), members);
    }
    let by_dir: BTreeMap<&str, &Manifest> = manifests.iter().map(|m| (m.dir.as_str(), m)).collect();
    let all_uses: BTreeMap<String, Vec<String>> = manifests
        .iter()
        .map(|m| {
            let root = workspace_of.get(&m.dir).and_then(|r| by_dir.get(r.as_str())).copied();
            (m.dir.clone(), path_dependencies(m, root))
        })
        .collect();
    for m in &manifests {
        let Some(package) = m.toml.get("package").and_then(|p| p.as_table()) else { continue };
        let cargo_toml = join(&m.dir, "Cargo.toml");
        let name = package.get("name").and_then(|n| n.as_str()).unwrap_or("app").to_owned();
        let workspace = workspace_of.get(&m.dir).and_then(|root| by_dir.get(root.as_str()).map(|r| (root.clone(), *r)));
        let uses = all_uses[&m.dir].clone();
        libraries.insert(m.dir.clone(), uses.clone());
        let bins = binaries(tree, m, &name);
        let metadata = package.get("metadata").and_then(|v| v.get("buildspec")).map(toml_to_json);
        let wanted = metadata.as_ref().and_then(|m| m.get("bin")).and_then(|b| b.as_str()).map(str::to_owned);
        let bin = match wanted {
            Some(bin) if bins.contains(&bin) => bin,
            _ => match bins.iter().find(|b| **b == name).or(bins.first()) {
                Some(bin) => bin.clone(),
                None => {
                    skipped.push(Skipped {
                        dir: m.dir.clone(),
                        detected_from: cargo_toml,
                        why: format!("Rust library crate `{name}` (no [[bin]], src/main.rs or src/bin/): no image; the packages that use it by path copy it"),
                    });
                    continue;
                }
            },
        };
        // A member builds in a workspace pruned to itself and what it uses
        // (cargo takes the members its globs match; the lock file is
        // pruned by the dependency step's fetch), unless the workspace lists
        // a member it does not use by a literal path: then every member's
        // manifest is copied, as cargo needs them all.
        let mut pruned = false;
        let (tool_dir, mut copied) = match &workspace {
            Some((root, root_manifest)) => {
                let closure = closure(&m.dir, &all_uses);
                let literal = literal_members(root_manifest);
                let needs_all = members_of[root].iter().any(|d| !closure.contains(d) && d != root && literal.contains(d));
                let mut files = vec![join(root, "Cargo.toml")];
                let members: Vec<&String> = members_of[root].iter().filter(|d| needs_all || closure.contains(*d) || *d == root).collect();
                pruned = members.len() < members_of[root].len();
                files.extend(members.iter().map(|d| join(d, "Cargo.toml")));
                files.extend(closure.iter().filter(|d| !members_of[root].contains(d)).map(|d| join(d, "Cargo.toml")));
                (root.clone(), files)
            }
            None => {
                let mut files = vec![cargo_toml.clone()];
                files.extend(closure(&m.dir, &all_uses).iter().filter(|d| **d != m.dir).map(|d| join(d, "Cargo.toml")));
                (m.dir.clone(), files)
            }
        };
        let lock = join(&tool_dir, "Cargo.lock");
        let locked = tree.has(&lock);
        if locked {
            copied.push(lock);
        }
        // Stub targets for every manifest the dependency step copies, so
        // that cargo can load the workspace before the sources are there.
        let stubs: Vec<String> = copied
            .iter()
            .filter(|f| f.ends_with("Cargo.toml"))
            .filter_map(|f| by_dir.get(parent(f)))
            .filter(|m| m.toml.contains_key("package"))
            .flat_map(|m| stub_targets(tree, m))
            .collect();
        let mut vars = BTreeMap::new();
        vars.insert("package".into(), name.clone().into());
        vars.insert("bin".into(), bin.clone().into());
        vars.insert("workspace".into(), workspace.is_some().into());
        vars.insert("locked".into(), locked.into());
        // A pruned workspace's fetch drops the other members from the lock
        // file: it cannot be --locked; the build after it can.
        vars.insert("fetch_locked".into(), (locked && !pruned).into());
        vars.insert("entrypoint".into(), vec![format!("/usr/local/bin/{bin}")].into());
        vars.insert("ports".into(), ports_of(metadata.as_ref().and_then(|m| m.get("port"))).into());
        found.push(Found {
            package: Package::new(m.dir.clone(), super::image_name(&bin), "rust", format!("Rust binary `{bin}` of crate `{name}`{}", if workspace.is_some() { " (workspace member)" } else { "" }), cargo_toml, vars),
            direct_uses: uses,
            manifests: copied,
            tool_dir,
            stubs,
        });
    }
}

/// `dir` and every package it reaches by path, transitively.
fn closure(dir: &str, uses: &BTreeMap<String, Vec<String>>) -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        if seen.insert(d.clone()) {
            todo.extend(uses.get(&d).cloned().unwrap_or_default());
        }
    }
    seen
}

/// The members a workspace lists by a literal path (no glob).
fn literal_members(root: &Manifest) -> std::collections::BTreeSet<String> {
    root.toml
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str())
                .filter(|s| !s.contains(['*', '?', '[']))
                .filter_map(|s| resolve(&root.dir, s))
                .collect()
        })
        .unwrap_or_default()
}

/// The directories of the packages a manifest depends on by `path` (also
/// through `workspace = true` and the root's `[workspace.dependencies]`).
fn path_dependencies(m: &Manifest, root: Option<&Manifest>) -> Vec<String> {
    let mut dirs = Vec::new();
    let root_deps = root.and_then(|r| r.toml.get("workspace")?.get("dependencies")?.as_table().cloned()).unwrap_or_default();
    let tables = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut all: Vec<&toml::Table> = tables.iter().filter_map(|t| m.toml.get(*t).and_then(|v| v.as_table())).collect();
    if let Some(targets) = m.toml.get("target").and_then(|t| t.as_table()) {
        for cfg in targets.values() {
            all.extend(tables.iter().filter_map(|t| cfg.get(*t).and_then(|v| v.as_table())));
        }
    }
    for deps in all {
        for (name, dep) in deps {
            let path = match dep.get("path").and_then(|p| p.as_str()) {
                Some(path) => resolve(&m.dir, path),
                None if dep.get("workspace").and_then(|w| w.as_bool()) == Some(true) => {
                    let root = root.expect("a workspace dependency has a root");
                    root_deps.get(name).and_then(|d| d.get("path")).and_then(|p| p.as_str()).and_then(|p| resolve(&root.dir, p))
                }
                None => None,
            };
            dirs.extend(path);
        }
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

/// The binary targets: `[[bin]]` names, `src/main.rs` (named after the
/// package) and `src/bin/NAME.rs` or `src/bin/NAME/main.rs`.
fn binaries(tree: &Tree, m: &Manifest, package: &str) -> Vec<String> {
    let mut bins: Vec<String> = m
        .toml
        .get("bin")
        .and_then(|b| b.as_array())
        .map(|a| a.iter().filter_map(|b| b.get("name")?.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let autobins = m.toml.get("package").and_then(|p| p.get("autobins")).and_then(|a| a.as_bool()) != Some(false);
    if autobins {
        if tree.has(&join(&m.dir, "src/main.rs")) && !bins.iter().any(|b| b == package) {
            bins.push(package.to_owned());
        }
        let bin_dir = join(&m.dir, "src/bin");
        for file in tree.files.range(format!("{bin_dir}/")..).take_while(|f| f.starts_with(&format!("{bin_dir}/"))) {
            let rest = &file[bin_dir.len() + 1..];
            let name = match rest.split_once('/') {
                Some((dir, "main.rs")) => Some(dir),
                None => rest.strip_suffix(".rs"),
                _ => None,
            };
            if let Some(name) = name.filter(|n| !bins.iter().any(|b| b == n)) {
                bins.push(name.to_owned());
            }
        }
    }
    bins
}

/// The files that stand in for a package's targets while only its
/// manifest is there: the declared paths, else cargo's defaults.
fn stub_targets(tree: &Tree, m: &Manifest) -> Vec<String> {
    let mut stubs = Vec::new();
    let declared = |key: &str| -> Vec<String> {
        match m.toml.get(key) {
            Some(toml::Value::Array(items)) => items.iter().filter_map(|t| t.get("path")?.as_str().map(str::to_owned)).collect(),
            Some(toml::Value::Table(t)) => t.get("path").and_then(|p| p.as_str()).map(str::to_owned).into_iter().collect(),
            _ => Vec::new(),
        }
    };
    stubs.extend(declared("lib"));
    stubs.extend(declared("bin"));
    for default in ["src/lib.rs", "src/main.rs"] {
        if tree.has(&join(&m.dir, default)) {
            stubs.push(default.to_owned());
        }
    }
    if stubs.is_empty() {
        stubs.push("src/lib.rs".to_owned());
    }
    if let Some(build) = m.toml.get("package").and_then(|p| p.get("build")).and_then(|b| b.as_str()) {
        stubs.push(build.to_owned());
    } else if tree.has(&join(&m.dir, "build.rs")) {
        stubs.push("build.rs".to_owned());
    }
    stubs.sort();
    stubs.dedup();
    stubs.into_iter().filter_map(|s| resolve(&m.dir, &s)).collect()
}

fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
