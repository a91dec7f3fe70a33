//! Python projects: a `pyproject.toml` (PEP 621 `[project]` or
//! `[tool.poetry]`) or a directory with `requirements*.txt`. The lock file
//! picks the tool: `uv.lock` → uv, `poetry.lock` → poetry, else pip. A
//! project is deployable when it says how it starts: `[project.scripts]`
//! (or poetry's scripts), `[tool.buildspec] cmd`, or a package with a
//! `__main__.py`; else it is a library. uv workspace members (and `path`
//! sources) use their siblings and build from the workspace root.

use std::collections::BTreeMap;

use super::{join, member_dirs, parent, ports_of, resolve, Found, Libraries, Package, Skipped, Tree};

pub(crate) fn detect(tree: &Tree, found: &mut Vec<Found>, skipped: &mut Vec<Skipped>, libraries: &mut Libraries) {
    let projects: BTreeMap<String, toml::Table> = tree
        .texts
        .iter()
        .filter(|(p, _)| p.rsplit('/').next() == Some("pyproject.toml"))
        .filter_map(|(p, text)| Some((parent(p).to_owned(), text.parse::<toml::Table>().ok()?)))
        .collect();
    // Directories with requirements but no pyproject are projects too.
    let mut dirs: Vec<String> = projects.keys().cloned().collect();
    for f in &tree.files {
        let name = f.rsplit('/').next().unwrap_or(f);
        if name.starts_with("requirements") && name.ends_with(".txt") && !projects.contains_key(parent(f)) {
            dirs.push(parent(f).to_owned());
        }
    }
    dirs.sort();
    dirs.dedup();
    // uv workspaces: root → members.
    let mut workspace_of: BTreeMap<String, String> = BTreeMap::new();
    let mut members_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (dir, toml) in &projects {
        let Some(ws) = toml.get("tool").and_then(|t| t.get("uv")).and_then(|u| u.get("workspace")) else { continue };
        let list = |key: &str| -> Vec<String> { ws.get(key).and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default() };
        let mut members = member_dirs(tree, dir, &list("members"), &list("exclude"), "pyproject.toml");
        members.push(dir.clone());
        members.sort();
        members.dedup();
        for m in &members {
            workspace_of.insert(m.clone(), dir.clone());
        }
        members_of.insert(dir.clone(), members);
    }
    let name_to_dir: BTreeMap<String, String> = projects.iter().filter_map(|(d, t)| Some((normalize(project_name(t)?), d.clone()))).collect();
    for dir in &dirs {
        let toml = projects.get(dir);
        let from = if toml.is_some() { join(dir, "pyproject.toml") } else { requirements(tree, dir).first().cloned().unwrap_or_default() };
        let name = toml.and_then(project_name).map(str::to_owned).unwrap_or_else(|| dir.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("app").to_owned());
        let workspace = workspace_of.get(dir);
        let uses: Vec<String> = toml.map(|t| local_sources(dir, t, &name_to_dir)).unwrap_or_default();
        libraries.insert(dir.clone(), uses.clone());
        let settings = toml.and_then(|t| t.get("tool")).and_then(|t| t.get("buildspec"));
        let module = main_module(tree, dir);
        let cmd: Option<Vec<String>> = match (settings.and_then(|s| s.get("cmd")), scripts(toml)) {
            (Some(toml::Value::Array(words)), _) => Some(words.iter().filter_map(|w| w.as_str().map(str::to_owned)).collect()),
            (Some(toml::Value::String(line)), _) => Some(vec!["sh".to_owned(), "-c".to_owned(), line.clone()]),
            (_, Some((_, target))) => script_command(&target),
            _ => module.as_ref().map(|m| vec!["python".to_owned(), "-m".to_owned(), m.clone()]).or_else(|| wsgi_command(tree, dir)),
        };
        let Some(cmd) = cmd.filter(|c| !c.is_empty()) else {
            if workspace.is_some_and(|w| w == dir) && toml.is_some_and(|t| !t.contains_key("project")) {
                continue;
            }
            skipped.push(Skipped {
                dir: dir.clone(),
                detected_from: from,
                why: format!("Python project `{name}` says nothing about how it starts ([project.scripts], [tool.buildspec] cmd, or a package with __main__.py): a library, no image"),
            });
            continue;
        };
        let tool = if let Some(ws) = workspace {
            if tree.has(&join(ws, "uv.lock")) { "uv" } else { tool_of(tree, dir) }
        } else {
            tool_of(tree, dir)
        };
        let tool_dir = workspace.cloned().unwrap_or_else(|| dir.clone());
        let mut copied = Vec::new();
        let mut add = |f: String| {
            if tree.has(&f) {
                copied.push(f);
            }
        };
        match workspace {
            Some(ws) => {
                for m in &members_of[ws] {
                    add(join(m, "pyproject.toml"));
                }
                add(join(ws, "uv.lock"));
            }
            None => {
                add(join(dir, "pyproject.toml"));
                for lock in ["uv.lock", "poetry.lock"] {
                    add(join(dir, lock));
                }
            }
        }
        let reqs = requirements(tree, dir);
        for r in &reqs {
            copied.push(r.clone());
        }
        let runtime_reqs = reqs.iter().find(|r| r.ends_with("/requirements.txt") || *r == "requirements.txt").map(|r| r.rsplit('/').next().unwrap_or(r).to_owned());
        let dependencies: Vec<String> = toml
            .and_then(|t| t.get("project"))
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_array())
            .map(|a| a.iter().filter_map(|d| d.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let dev_text = format!("{:?}", toml.map(|t| (t.get("project").and_then(|p| p.get("optional-dependencies")), t.get("dependency-groups"), t.get("tool").and_then(|t| t.get("poetry")))));
        let tests_dir = tree.has_below(&join(dir, "tests")) || tree.has_below(&join(dir, "test"));
        let pytest = dev_text.contains("pytest") || reqs.iter().any(|r| r.contains("dev") || r.contains("test")) && tests_dir && tree.text(&join(dir, "pyproject.toml")).is_some_and(|t| t.contains("pytest"));
        let test = if !tests_dir {
            None
        } else if pytest {
            Some("python -m pytest")
        } else {
            Some(if tree.has_below(&join(dir, "tests")) { "python -m unittest discover -s tests -t ." } else { "python -m unittest discover -s test -t ." })
        };
        let mut vars = BTreeMap::new();
        vars.insert("package".into(), name.clone().into());
        vars.insert("tool".into(), tool.into());
        vars.insert("workspace".into(), workspace.is_some().into());
        vars.insert("requirements".into(), runtime_reqs.into());
        vars.insert("dependencies".into(), dependencies.into());
        vars.insert("cmd".into(), cmd.clone().into());
        vars.insert("test".into(), test.into());
        let mut ports = ports_of(settings.and_then(|s| s.get("port")).and_then(|p| serde_json::to_value(p).ok()).as_ref());
        if ports.is_empty() && cmd.iter().any(|c| c == "gunicorn") {
            ports.push(8000);
        }
        vars.insert("ports".into(), ports.into());
        found.push(Found {
            package: Package::new(dir.clone(), super::image_name(&name), "python", format!("Python project `{name}` ({tool}{})", if workspace.is_some() { ", uv workspace member" } else { "" }), from, vars),
            direct_uses: uses,
            manifests: copied,
            tool_dir,
            stubs: Vec::new(),
        });
    }
}

/// A WSGI app served by gunicorn, when the requirements name gunicorn and
/// the project has an `app.py` or `wsgi.py` (at its root or in a package)
/// defining `app`: `python -m gunicorn --bind 0.0.0.0:8000 MODULE:app`.
fn wsgi_command(tree: &Tree, dir: &str) -> Option<Vec<String>> {
    let reqs = requirements(tree, dir);
    let gunicorn = reqs.iter().filter_map(|r| tree.text(r)).any(|t| t.lines().any(|l| l.trim_start().to_ascii_lowercase().starts_with("gunicorn")));
    if !gunicorn {
        return None;
    }
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let module = tree.files.range(prefix.clone()..).take_while(|f| f.starts_with(&prefix)).find_map(|f| {
        let rest = &f[prefix.len()..];
        let module = rest.strip_suffix("/app.py").or_else(|| rest.strip_suffix("/wsgi.py")).map(|pkg| format!("{pkg}.{}", if rest.ends_with("app.py") { "app" } else { "wsgi" }));
        let module = module.or_else(|| match rest {
            "app.py" => Some("app".to_owned()),
            "wsgi.py" => Some("wsgi".to_owned()),
            _ => None,
        })?;
        (!module.contains('/') && module.split('.').all(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))).then_some(module)
    })?;
    Some(["python", "-m", "gunicorn", "--bind", "0.0.0.0:8000", &format!("{module}:app")].map(str::to_owned).to_vec())
}

fn project_name(toml: &toml::Table) -> Option<&str> {
    toml.get("project").and_then(|p| p.get("name")).or_else(|| toml.get("tool")?.get("poetry")?.get("name")).and_then(|n| n.as_str())
}

/// PEP 503 name normalization.
fn normalize(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// `[project.scripts]` or `[tool.poetry.scripts]`: the first entry.
fn scripts(toml: Option<&toml::Table>) -> Option<(String, String)> {
    let toml = toml?;
    let table = toml.get("project").and_then(|p| p.get("scripts")).or_else(|| toml.get("tool")?.get("poetry")?.get("scripts"))?.as_table()?;
    let (name, target) = table.iter().next()?;
    Some((name.clone(), target.as_str()?.to_owned()))
}

/// `module:func` → a python command that runs it without installing the
/// project (so no build backend is needed in the image).
fn script_command(target: &str) -> Option<Vec<String>> {
    let (module, func) = target.split_once(':')?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    (ok(module) && ok(func)).then(|| vec!["python".to_owned(), "-c".to_owned(), format!("import sys; from {module} import {func}; sys.exit({func}())")])
}

/// The directories of the projects this one takes from local paths: uv's
/// `[tool.uv.sources]` (`workspace = true` or `path`).
fn local_sources(dir: &str, toml: &toml::Table, name_to_dir: &BTreeMap<String, String>) -> Vec<String> {
    let mut uses = Vec::new();
    if let Some(sources) = toml.get("tool").and_then(|t| t.get("uv")).and_then(|u| u.get("sources")).and_then(|s| s.as_table()) {
        for (name, source) in sources {
            if let Some(path) = source.get("path").and_then(|p| p.as_str()) {
                uses.extend(resolve(dir, path));
            } else if source.get("workspace").and_then(|w| w.as_bool()) == Some(true) {
                uses.extend(name_to_dir.get(&normalize(name)).cloned());
            }
        }
    }
    if let Some(deps) = toml.get("tool").and_then(|t| t.get("poetry")).and_then(|p| p.get("dependencies")).and_then(|d| d.as_table()) {
        uses.extend(deps.values().filter_map(|d| d.get("path")?.as_str()).filter_map(|p| resolve(dir, p)));
    }
    uses.sort();
    uses.dedup();
    uses
}

fn tool_of(tree: &Tree, dir: &str) -> &'static str {
    super::tool_by_lock(tree, dir, &[("uv.lock", "uv"), ("poetry.lock", "poetry")], "pip")
}

/// `requirements*.txt` files of a project, root-relative.
fn requirements(tree: &Tree, dir: &str) -> Vec<String> {
    tree.files_in(dir)
        .filter(|f| {
            let name = f.rsplit('/').next().unwrap_or(f);
            name.starts_with("requirements") && name.ends_with(".txt")
        })
        .map(str::to_owned)
        .collect()
}

/// A top-level package of the project (or under `src/`) with a
/// `__main__.py`.
fn main_module(tree: &Tree, dir: &str) -> Option<String> {
    for base in [dir.to_owned(), join(dir, "src")] {
        let prefix = if base.is_empty() { String::new() } else { format!("{base}/") };
        let hit = tree.files.range(prefix.clone()..).take_while(|f| f.starts_with(&prefix)).find_map(|f| {
            let rest = &f[prefix.len()..];
            let (module, file) = rest.split_once('/')?;
            (file == "__main__.py" && module.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then(|| module.to_owned())
        });
        if hit.is_some() {
            return hit;
        }
    }
    None
}
