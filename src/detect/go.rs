//! Go modules: every `main` package (a directory whose non-test `.go`
//! files say `package main`) is deployable, one image each, as ko does; a
//! module without one is a library. A module in a `go.work` workspace
//! builds from the workspace root with every member's `go.mod` (go loads
//! them all); a local `replace` or a required workspace module is a use.
//! Ports come from a `//buildspec:port N` line in the main package.

use std::collections::BTreeMap;

use super::{join, parent, resolve, Found, Libraries, Package, Skipped, Tree};

struct Module {
    dir: String,
    path: String,
    requires: Vec<String>,
    local_replaces: Vec<String>,
}

pub(crate) fn detect(tree: &Tree, found: &mut Vec<Found>, skipped: &mut Vec<Skipped>, libraries: &mut Libraries) {
    let modules: Vec<Module> = tree
        .texts
        .iter()
        .filter(|(p, _)| p.rsplit('/').next() == Some("go.mod"))
        .map(|(p, text)| parse_go_mod(parent(p), text))
        .collect();
    if modules.is_empty() {
        return;
    }
    // Module dir → the go.work directory that uses it, and its members.
    let mut workspace_of: BTreeMap<String, String> = BTreeMap::new();
    let mut members_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, text) in tree.texts.iter().filter(|(p, _)| p.rsplit('/').next() == Some("go.work")) {
        let dir = parent(path).to_owned();
        let members: Vec<String> = go_work_uses(text).iter().filter_map(|u| resolve(&dir, u)).collect();
        for m in &members {
            workspace_of.insert(m.clone(), dir.clone());
        }
        members_of.insert(dir, members);
    }
    let by_path: BTreeMap<&str, &Module> = modules.iter().map(|m| (m.path.as_str(), m)).collect();
    // Main packages, by module.
    let mut mains: BTreeMap<&str, Vec<(String, Vec<u16>)>> = BTreeMap::new();
    let mut packages: BTreeMap<String, (bool, Vec<u16>)> = BTreeMap::new();
    for (path, text) in tree.texts.iter().filter(|(p, _)| p.ends_with(".go") && !p.ends_with("_test.go")) {
        let Some(clause) = package_clause(text) else { continue };
        let entry = packages.entry(parent(path).to_owned()).or_default();
        entry.0 |= clause == "main";
        entry.1.extend(text.lines().filter_map(|l| l.trim().strip_prefix("//buildspec:port ")).filter_map(|n| n.trim().parse::<u16>().ok()));
    }
    for (dir, (is_main, ports)) in &packages {
        if !is_main {
            continue;
        }
        // The nearest module at or above the package.
        let module = modules.iter().filter(|m| m.dir.is_empty() || *dir == m.dir || dir.starts_with(&format!("{}/", m.dir))).max_by_key(|m| m.dir.len());
        if let Some(m) = module {
            mains.entry(m.dir.as_str()).or_default().push((dir.clone(), ports.clone()));
        }
    }
    let direct_uses = |m: &Module| -> Vec<String> {
        let workspace = workspace_of.get(&m.dir);
        let mut uses: Vec<String> = m.local_replaces.iter().filter_map(|r| resolve(&m.dir, r)).collect();
        if workspace.is_some() {
            uses.extend(m.requires.iter().filter_map(|r| by_path.get(r.as_str())).filter(|o| workspace_of.get(&o.dir) == workspace).map(|o| o.dir.clone()));
        }
        uses.sort();
        uses.dedup();
        uses
    };
    let all_uses: BTreeMap<String, Vec<String>> = modules.iter().map(|m| (m.dir.clone(), direct_uses(m))).collect();
    for m in &modules {
        let go_mod = join(&m.dir, "go.mod");
        let workspace = workspace_of.get(&m.dir);
        let uses = all_uses[&m.dir].clone();
        libraries.insert(m.dir.clone(), uses.clone());
        let Some(main_dirs) = mains.get(m.dir.as_str()) else {
            skipped.push(Skipped {
                dir: m.dir.clone(),
                detected_from: go_mod,
                why: format!("Go module `{}` has no main package: no image; the modules that use it copy it", m.path),
            });
            continue;
        };
        let mut manifests = Vec::new();
        let mut add_module_files = |dir: &str| {
            for f in ["go.mod", "go.sum"] {
                let f = join(dir, f);
                if tree.has(&f) {
                    manifests.push(f);
                }
            }
        };
        // The module and every module it reaches; in a go.work workspace
        // the dependency step makes a go.work of just these (`go work
        // init`), since the workspace's own lists modules that are not
        // copied.
        let mut closure = std::collections::BTreeSet::new();
        let mut todo = vec![m.dir.clone()];
        while let Some(d) = todo.pop() {
            if closure.insert(d.clone()) {
                todo.extend(all_uses.get(&d).cloned().unwrap_or_default());
            }
        }
        for dir in &closure {
            add_module_files(dir);
        }
        // What a workspace build downloads: the requirements no module of
        // the workspace provides (go 1.19's bare `go mod download` in
        // workspace mode fetches the workspace's own modules too).
        let provided: std::collections::BTreeSet<&str> = modules.iter().filter(|o| workspace.is_some() && workspace_of.get(&o.dir) == workspace).map(|o| o.path.as_str()).collect();
        let mut downloads: Vec<String> = modules
            .iter()
            .filter(|o| closure.contains(&o.dir))
            .flat_map(|o| o.requires.iter())
            .filter(|r| !provided.contains(r.as_str()))
            .cloned()
            .collect();
        downloads.sort();
        downloads.dedup();
        for (main_dir, ports) in main_dirs {
            let rel = if *main_dir == m.dir { ".".to_owned() } else { format!("./{}", &main_dir[if m.dir.is_empty() { 0 } else { m.dir.len() + 1 }..]) };
            let binary = match main_dir.rsplit('/').next() {
                Some(last) if *main_dir != m.dir && !last.is_empty() => last.to_owned(),
                _ => m.path.rsplit('/').next().unwrap_or("app").to_owned(),
            };
            let binary = super::image_name(&binary);
            let mut vars = BTreeMap::new();
            vars.insert("module".into(), m.path.clone().into());
            vars.insert("main".into(), rel.clone().into());
            vars.insert("binary".into(), binary.clone().into());
            vars.insert("workspace".into(), workspace.is_some().into());
            vars.insert("downloads".into(), downloads.clone().into());
            vars.insert("entrypoint".into(), vec![format!("/{binary}")].into());
            let mut ports = ports.clone();
            ports.sort();
            ports.dedup();
            vars.insert("ports".into(), ports.into());
            found.push(Found {
                package: Package::new(main_dir.clone(), binary.clone(), "go", format!("Go main package `{rel}` of module `{}`{}", m.path, if workspace.is_some() { " (go.work member)" } else { "" }), go_mod.clone(), vars),
                direct_uses: std::iter::once(m.dir.clone()).chain(uses.iter().cloned()).filter(|d| d != main_dir).collect(),
                manifests: manifests.clone(),
                tool_dir: m.dir.clone(),
                stubs: Vec::new(),
            });
        }
    }
}

fn parse_go_mod(dir: &str, text: &str) -> Module {
    let mut module = Module { dir: dir.to_owned(), path: String::new(), requires: Vec::new(), local_replaces: Vec::new() };
    let mut block: Option<&str> = None;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line == ")" {
            block = None;
            continue;
        }
        let (directive, rest) = match block {
            Some(b) => (b, line),
            None => match line.split_once(char::is_whitespace) {
                Some((d, rest)) if rest.trim() == "(" => {
                    block = Some(match d {
                        "require" => "require",
                        "replace" => "replace",
                        _ => "other",
                    });
                    continue;
                }
                Some((d, rest)) => (d, rest.trim()),
                None => continue,
            },
        };
        match directive {
            "module" => module.path = rest.trim_matches('"').to_owned(),
            "require" => module.requires.extend(rest.split_whitespace().next().map(|s| s.trim_matches('"').to_owned())),
            "replace" => {
                if let Some((_, target)) = rest.split_once("=>") {
                    let target = target.split_whitespace().next().unwrap_or("");
                    if target.starts_with("./") || target.starts_with("../") {
                        module.local_replaces.push(target.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    if module.path.is_empty() {
        module.path = dir.rsplit('/').next().unwrap_or("app").to_owned();
    }
    module
}

/// The directories a `go.work` file `use`s.
fn go_work_uses(text: &str) -> Vec<String> {
    let mut uses = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if in_block {
            if line == ")" {
                in_block = false;
            } else if !line.is_empty() {
                uses.push(line.trim_matches('"').to_owned());
            }
        } else if let Some(rest) = line.strip_prefix("use") {
            let rest = rest.trim();
            if rest == "(" {
                in_block = true;
            } else if !rest.is_empty() {
                uses.push(rest.trim_matches('"').to_owned());
            }
        }
    }
    uses
}

/// The package name of a Go file, skipping comments; `None` for a file
/// excluded from builds (`//go:build ignore`).
fn package_clause(text: &str) -> Option<&str> {
    let mut in_comment = false;
    for line in text.lines() {
        let line = line.trim();
        if in_comment {
            if line.contains("*/") {
                in_comment = false;
            }
            continue;
        }
        if line.starts_with("//go:build ignore") || line.starts_with("// +build ignore") {
            return None;
        }
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        if line.starts_with("/*") {
            in_comment = !line.contains("*/");
            continue;
        }
        return line.strip_prefix("package ").map(|rest| rest.split_whitespace().next().unwrap_or(""));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_mod_and_go_work_are_read() {
        let m = parse_go_mod("svc", "module example.com/svc\n\ngo 1.22\n\nrequire (\n\texample.com/lib v0.0.0 // indirect\n)\nreplace example.com/lib => ../lib\n");
        assert_eq!(m.path, "example.com/svc");
        assert_eq!(m.requires, ["example.com/lib"]);
        assert_eq!(m.local_replaces, ["../lib"]);
        assert_eq!(go_work_uses("go 1.22\n\nuse (\n\t./a\n\t./b // two\n)\nuse ./c\n"), ["./a", "./b", "./c"]);
        assert_eq!(package_clause("// Copyright\n/* x\n */\npackage main\n"), Some("main"));
        assert_eq!(package_clause("//go:build ignore\n\npackage main\n"), None);
    }
}
