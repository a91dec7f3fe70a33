//! Node packages: a `package.json` with `scripts.start` is a service; one
//! with `scripts.build` and an `index.html` (at its root, in `public/` or
//! `src/`) and no start script is a static front end, built and served by
//! a web server; anything else is a library. npm and yarn workspaces
//! (`workspaces` in the root `package.json`) and pnpm ones
//! (`pnpm-workspace.yaml`) build from the workspace root with every
//! member's manifest, since the shared lock file and the install read them
//! all; the lock file picks the package manager.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{join, member_dirs, parent, ports_of, resolve, Found, Libraries, Package, Skipped, Tree};

struct Workspace {
    dir: String,
    manager: &'static str,
    members: Vec<String>,
}

/// npm's placeholder test script, which is no test.
const NO_TEST: &str = "echo \"Error: no test specified\" && exit 1";

pub(crate) fn detect(tree: &Tree, found: &mut Vec<Found>, skipped: &mut Vec<Skipped>, libraries: &mut Libraries) {
    let manifests: BTreeMap<String, Value> = tree
        .texts
        .iter()
        .filter(|(p, _)| p.rsplit('/').next() == Some("package.json"))
        .filter_map(|(p, text)| Some((parent(p).to_owned(), serde_json::from_str::<Value>(text).ok()?)))
        .collect();
    let mut workspaces: Vec<Workspace> = Vec::new();
    for (dir, json) in &manifests {
        let globs: Vec<String> = match json.get("workspaces") {
            Some(Value::Array(a)) => a.iter().filter_map(|g| g.as_str().map(str::to_owned)).collect(),
            Some(Value::Object(o)) => o.get("packages").and_then(|p| p.as_array()).map(|a| a.iter().filter_map(|g| g.as_str().map(str::to_owned)).collect()).unwrap_or_default(),
            _ => Vec::new(),
        };
        let pnpm = tree.text(&join(dir, "pnpm-workspace.yaml")).map(pnpm_packages);
        let (globs, manager) = match pnpm {
            Some(globs) => (globs, "pnpm"),
            None if globs.is_empty() => continue,
            None => (globs, if tree.has(&join(dir, "yarn.lock")) { "yarn" } else { "npm" }),
        };
        let (include, exclude): (Vec<String>, Vec<String>) = globs.into_iter().partition(|g| !g.starts_with('!'));
        let exclude: Vec<String> = exclude.iter().map(|g| g[1..].to_owned()).collect();
        let members = member_dirs(tree, dir, &include, &exclude, "package.json");
        workspaces.push(Workspace { dir: dir.clone(), manager, members });
    }
    let workspace_of = |dir: &str| workspaces.iter().find(|w| w.members.iter().any(|m| m == dir));
    // Package name → directory, per workspace, for links by name.
    let name_of = |dir: &str| manifests.get(dir).and_then(|j| j.get("name")).and_then(|n| n.as_str()).map(str::to_owned);
    let all_uses: BTreeMap<String, Vec<String>> =
        manifests.iter().map(|(dir, json)| (dir.clone(), local_dependencies(dir, json, workspace_of(dir).map(|w| (w, &manifests))))).collect();
    for (dir, json) in &manifests {
        let package_json = join(dir, "package.json");
        let is_root = workspaces.iter().any(|w| w.dir == *dir);
        let workspace = workspace_of(dir);
        let uses = all_uses[dir].clone();
        libraries.insert(dir.clone(), uses.clone());
        let name = name_of(dir).unwrap_or_else(|| dir.rsplit('/').next().unwrap_or("app").to_owned());
        let scripts = json.get("scripts").and_then(|s| s.as_object());
        let script = |key: &str| scripts.and_then(|s| s.get(key)).and_then(|v| v.as_str()).map(str::to_owned);
        let index_html = ["index.html", "public/index.html", "src/index.html"].iter().any(|f| tree.has(&join(dir, f)));
        let settings = json.get("buildspec");
        let template = match (script("start"), script("build")) {
            (Some(_), _) => "node-service",
            (None, Some(_)) if index_html => "node-static",
            _ if is_root => continue,
            _ => {
                skipped.push(Skipped {
                    dir: dir.clone(),
                    detected_from: package_json,
                    why: format!("Node package `{name}` has no start script and is no front end (a build script and an index.html): a library, no image"),
                });
                continue;
            }
        };
        let manager = workspace.map(|w| w.manager).unwrap_or_else(|| lock_manager(tree, dir));
        let tool_dir = workspace.map(|w| w.dir.clone()).unwrap_or_else(|| dir.clone());
        let mut copied = vec![join(&tool_dir, "package.json")];
        if let Some(w) = workspace {
            // npm installs a workspace whose members are partly there (the
            // lock file's other entries are left alone): the package and
            // what it reaches. pnpm's and yarn's frozen installs want every
            // member's manifest.
            if w.manager == "npm" {
                let mut closure = std::collections::BTreeSet::new();
                let mut todo = vec![dir.clone()];
                while let Some(d) = todo.pop() {
                    if closure.insert(d.clone()) {
                        todo.extend(all_uses.get(&d).cloned().unwrap_or_default());
                    }
                }
                copied.extend(closure.iter().map(|m| join(m, "package.json")));
            } else {
                copied.extend(w.members.iter().map(|m| join(m, "package.json")));
            }
            if w.manager == "pnpm" {
                copied.push(join(&w.dir, "pnpm-workspace.yaml"));
            }
        }
        let lock = ["package-lock.json", "pnpm-lock.yaml", "yarn.lock", "npm-shrinkwrap.json"].iter().map(|f| join(&tool_dir, f)).find(|f| tree.has(f));
        let locked = lock.is_some();
        copied.extend(lock);
        for npmrc in [".npmrc", ".yarnrc", ".yarnrc.yml"] {
            let f = join(&tool_dir, npmrc);
            if tree.has(&f) {
                copied.push(f);
            }
        }
        let test = script("test").filter(|t| t.trim() != NO_TEST);
        let mut vars = BTreeMap::new();
        vars.insert("package".into(), name.clone().into());
        vars.insert("manager".into(), manager.into());
        vars.insert("locked".into(), locked.into());
        vars.insert("workspace".into(), workspace.is_some().into());
        vars.insert("build".into(), script("build").is_some().into());
        vars.insert("test".into(), test.is_some().into());
        let output = settings.and_then(|s| s.get("output")).and_then(|o| o.as_str()).unwrap_or("dist").trim_matches('/').to_owned();
        vars.insert("output".into(), output.into());
        let ports = ports_of(settings.and_then(|s| s.get("port")));
        vars.insert("ports".into(), if template == "node-static" { vec![8080u16].into() } else { ports.into() });
        if let Some(start) = script("start") {
            vars.insert("cmd".into(), start_command(&start).into());
        }
        let kind = if template == "node-service" { "service" } else { "static front end" };
        found.push(Found {
            package: Package::new(
                dir.clone(),
                super::image_name(name.rsplit('/').next().unwrap_or(&name)),
                template,
                format!("Node {kind} `{name}` ({manager}{})", if workspace.is_some() { " workspace member" } else { "" }),
                package_json,
                vars,
            ),
            direct_uses: uses,
            manifests: copied,
            tool_dir,
            stubs: Vec::new(),
        });
    }
}

/// The directories of the local packages a manifest depends on: `file:`
/// and `link:` paths, `workspace:` ranges, and (in npm and yarn
/// workspaces) any dependency named like a member.
fn local_dependencies(dir: &str, json: &Value, workspace: Option<(&Workspace, &BTreeMap<String, Value>)>) -> Vec<String> {
    let mut uses = Vec::new();
    for table in ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"] {
        let Some(deps) = json.get(table).and_then(|d| d.as_object()) else { continue };
        for (name, spec) in deps {
            let spec = spec.as_str().unwrap_or("");
            if let Some(path) = spec.strip_prefix("file:").or_else(|| spec.strip_prefix("link:")) {
                uses.extend(resolve(dir, path));
                continue;
            }
            let Some((w, manifests)) = workspace else { continue };
            let member = w.members.iter().find(|m| manifests.get(*m).and_then(|j| j.get("name")).and_then(|n| n.as_str()) == Some(name.as_str()));
            if let Some(member) = member
                && (spec.starts_with("workspace:") || w.manager != "pnpm")
            {
                uses.push(member.clone());
            }
        }
    }
    uses.sort();
    uses.dedup();
    uses
}

/// The package manager a lone package's lock file names.
fn lock_manager(tree: &Tree, dir: &str) -> &'static str {
    super::tool_by_lock(tree, dir, &[("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn")], "npm")
}

/// The `packages:` globs of a pnpm-workspace.yaml (a list of strings, the
/// only part of it that matters here; read line by line).
fn pnpm_packages(text: &str) -> Vec<String> {
    let mut globs = Vec::new();
    let mut in_packages = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if !line.starts_with([' ', '\t', '-']) && !trimmed.is_empty() {
            in_packages = trimmed.starts_with("packages:");
            continue;
        }
        if in_packages && let Some(item) = trimmed.strip_prefix('-') {
            let item = item.split(" #").next().unwrap_or("").trim().trim_matches(|c| c == '"' || c == '\'');
            if !item.is_empty() {
                globs.push(item.to_owned());
            }
        }
    }
    globs
}

/// The runtime command for a start script: its words when it is a plain
/// command, else the script through `sh -c`.
fn start_command(start: &str) -> Vec<String> {
    let plain = start.chars().all(|c| c.is_ascii_alphanumeric() || " ./-_:@,+".contains(c));
    if plain && !start.trim().is_empty() {
        start.split_whitespace().map(str::to_owned).collect()
    } else {
        vec!["sh".to_owned(), "-c".to_owned(), start.to_owned()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pnpm_workspace_and_start_scripts_are_read() {
        assert_eq!(pnpm_packages("packages:\n  - 'apps/*'\n  - \"libs/*\" # shared\n  - '!**/test/**'\nother: 1\n"), ["apps/*", "libs/*", "!**/test/**"]);
        assert_eq!(start_command("node dist/server.js"), ["node", "dist/server.js"]);
        assert_eq!(start_command("NODE_ENV=production node a.js && echo"), ["sh", "-c", "NODE_ENV=production node a.js && echo"]);
    }
}
