//! Which packages of a workspace are deployable, and what their specs
//! need: workspace facts in ([`Tree`]), [`Package`]s out. Pure: the tree
//! was read at the edge (`workspace::tree`), and the templates render
//! what this decides (`template`).
//!
//! One module per ecosystem, each answering for the directories it knows:
//! `rust` (cargo packages and workspaces), `go` (modules, `go.work`, `main`
//! packages), `node` (npm, pnpm and yarn workspaces), `python` (pyproject
//! and requirements projects, uv workspaces) and `site` (a directory of
//! HTML with no manifest). A package that uses siblings gets the workspace
//! root as its build context and copies only itself and what it uses.

mod go;
mod node;
mod python;
mod rust;
mod site;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use crate::workspace::tree::Tree;

/// A deployable package: where its spec goes and what its template is
/// given.
#[derive(Debug, Clone, Serialize)]
pub struct Package {
    /// The package's directory relative to the workspace root ("" for the
    /// root); its spec is `DIR/buildspec.kdl`.
    pub dir: String,
    /// Its name, usable as an image name.
    pub name: String,
    /// The template that renders its spec.
    pub template: &'static str,
    /// What it is, for people: "Rust binary crate `api`".
    pub kind: String,
    /// The file that told (relative to the root).
    pub detected_from: String,
    /// The build context relative to the root: the package itself, or the
    /// workspace root when it uses siblings (or the workspace needs every
    /// member's manifest).
    pub context: String,
    /// Directories (relative to the root) of the sibling packages it uses,
    /// transitively, sorted.
    pub uses: Vec<String>,
    /// The template variables (see docs/monorepo.md): the common ones are
    /// filled by [`detect`], the rest by the ecosystem's module.
    pub vars: BTreeMap<String, serde_json::Value>,
}

impl Package {
    /// A package as an ecosystem module finds it: its context and uses are
    /// filled when the uses are closed.
    pub(crate) fn new(dir: String, name: String, template: &'static str, kind: String, detected_from: String, vars: BTreeMap<String, serde_json::Value>) -> Package {
        Package { dir, name, template, kind, detected_from, context: String::new(), uses: Vec::new(), vars }
    }
}

/// The first of `locks` (file name, tool) present in `dir`, else `default`.
pub(crate) fn tool_by_lock(tree: &Tree, dir: &str, locks: &[(&str, &'static str)], default: &'static str) -> &'static str {
    locks.iter().find(|(file, _)| tree.has(&join(dir, file))).map_or(default, |(_, tool)| tool)
}

/// A package that gets no image, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    pub dir: String,
    pub detected_from: String,
    pub why: String,
}

/// Everything detection found below a root.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Detection {
    pub packages: Vec<Package>,
    pub skipped: Vec<Skipped>,
}

/// What an ecosystem module reports: packages with their own variables
/// set, and the sibling directories each uses directly.
pub(crate) struct Found {
    pub package: Package,
    /// Directories of packages it uses directly (resolved against the
    /// root); the driver closes them transitively.
    pub direct_uses: Vec<String>,
    /// Files (relative to the root) the dependency step copies: the
    /// package's manifests, and in a workspace its root manifest, lock file
    /// and every member's manifest (the tool loads them all).
    pub manifests: Vec<String>,
    /// Where the tool runs (relative to the root): the workspace root or
    /// the package.
    pub tool_dir: String,
    /// Files (relative to the root) the dependency step makes empty so the
    /// tool can load the manifests before the sources are there.
    pub stubs: Vec<String>,
}

/// Libraries ecosystems report (which others may use), keyed by directory.
pub(crate) type Libraries = BTreeMap<String, Vec<String>>;

/// Detects every deployable package below the tree's root.
pub fn detect(tree: &Tree) -> Detection {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    let mut libraries = Libraries::new();
    rust::detect(tree, &mut found, &mut skipped, &mut libraries);
    go::detect(tree, &mut found, &mut skipped, &mut libraries);
    node::detect(tree, &mut found, &mut skipped, &mut libraries);
    python::detect(tree, &mut found, &mut skipped, &mut libraries);
    let claimed: BTreeSet<String> = found
        .iter()
        .map(|f: &Found| f.package.dir.clone())
        .chain(skipped.iter().map(|s| s.dir.clone()))
        .chain(libraries.keys().cloned())
        .collect();
    site::detect(tree, &claimed, &mut found);
    let mut packages: Vec<Package> = found.into_iter().map(|f| finish(f, &libraries)).collect();
    packages.sort_by(|a, b| a.dir.cmp(&b.dir).then(a.name.cmp(&b.name)));
    dedupe_names(&mut packages);
    skipped.sort();
    skipped.dedup();
    Detection { packages, skipped }
}

/// Closes the uses transitively and fills the variables every template
/// has (see docs/monorepo.md): `name`, `context`, `dir`, `tool_dir`,
/// `sources`, `manifests`, `uses`, `fragments`, `ports`.
fn finish(found: Found, libraries: &Libraries) -> Package {
    let Found { mut package, direct_uses, manifests, tool_dir, stubs } = found;
    let mut uses = BTreeSet::new();
    let mut todo = direct_uses;
    while let Some(dir) = todo.pop() {
        if dir != package.dir && uses.insert(dir.clone()) {
            todo.extend(libraries.get(&dir).cloned().unwrap_or_default());
        }
    }
    package.uses = uses.into_iter().collect();
    // The context: the nearest directory holding the package, what it
    // uses and the manifests its tool loads.
    let dirs: Vec<&str> = std::iter::once(package.dir.as_str())
        .chain(package.uses.iter().map(String::as_str))
        .chain(manifests.iter().map(|m| parent(m)))
        .chain(std::iter::once(tool_dir.as_str()))
        .collect();
    package.context = common_ancestor(&dirs);
    let context = package.context.clone();
    let within = |path: &str| -> String {
        if path == context {
            ".".to_owned()
        } else if context.is_empty() {
            path.to_owned()
        } else {
            path.strip_prefix(&format!("{context}/")).unwrap_or(path).to_owned()
        }
    };
    let sources: Vec<String> = std::iter::once(package.dir.as_str()).chain(package.uses.iter().map(String::as_str)).map(within).collect();
    let mut manifests: Vec<String> = manifests.iter().map(|m| within(m)).collect();
    manifests.sort();
    manifests.dedup();
    let depth = |p: &str| p.split('/').filter(|c| !c.is_empty()).count();
    let up = |n: usize| if n == 0 { ".".to_owned() } else { vec![".."; n].join("/") };
    let vars = &mut package.vars;
    vars.insert("name".into(), package.name.clone().into());
    vars.insert("context".into(), up(depth(&package.dir) - depth(&context)).into());
    vars.insert("dir".into(), within(&package.dir).into());
    vars.insert("tool_dir".into(), within(&tool_dir).into());
    vars.insert("sources".into(), sources.into());
    vars.insert("manifests".into(), manifests.into());
    let stubs: Vec<String> = stubs.iter().map(|s| within(s)).collect();
    vars.insert("stubs".into(), stubs.into());
    vars.insert("uses".into(), package.uses.clone().into());
    vars.insert("fragments".into(), format!("{}/.buildspec", up(depth(&package.dir))).trim_start_matches("./").to_owned().into());
    vars.entry("ports".into()).or_insert_with(|| serde_json::Value::Array(Vec::new()));
    package
}

/// The longest common directory prefix of root-relative directories.
fn common_ancestor(dirs: &[&str]) -> String {
    let split = |d: &str| -> Vec<String> { d.split('/').filter(|c| !c.is_empty()).map(str::to_owned).collect() };
    let mut common = split(dirs.first().copied().unwrap_or(""));
    for dir in &dirs[1..] {
        let parts = split(dir);
        let n = common.iter().zip(&parts).take_while(|(a, b)| a == b).count();
        common.truncate(n);
    }
    common.join("/")
}

/// Two packages of one name (a `cmd/api` in two Go modules) get their
/// directory's path as name instead.
fn dedupe_names(packages: &mut [Package]) {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for p in packages.iter() {
        *count.entry(p.name.clone()).or_default() += 1;
    }
    for p in packages.iter_mut() {
        if count[&p.name] > 1 && !p.dir.is_empty() {
            p.name = image_name(&p.dir.replace('/', "-"));
            p.vars.insert("name".into(), p.name.clone().into());
        }
    }
}

/// A name made fit for an image and a stage: lowercase ASCII letters,
/// digits and `-`, starting with a letter.
pub fn image_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    match out.chars().next() {
        Some(c) if c.is_ascii_lowercase() => out,
        Some(_) => format!("app-{out}"),
        None => "app".to_owned(),
    }
}

/// The directory part of a root-relative path ("" at the root).
pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// `dir/name`, or `name` at the root.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// `base` joined with a relative path, with `.` and `dir/..` taken out;
/// `None` when it climbs out of the root.
pub(crate) fn resolve(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            _ => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// The directories below the root matching workspace member globs (`*`,
/// `**`, `?`, `[…]`, `!`-negations ignored here), as cargo, npm and uv
/// match them: each a directory holding `marker`.
pub(crate) fn member_dirs(tree: &Tree, base: &str, globs: &[String], excludes: &[String], marker: &str) -> Vec<String> {
    let build = |pats: &[String]| {
        let mut set = globset::GlobSetBuilder::new();
        for pat in pats {
            let pat = pat.trim_start_matches("./").trim_end_matches('/');
            if let Ok(glob) = globset::GlobBuilder::new(&join(base, pat)).literal_separator(true).build() {
                set.add(glob);
            }
        }
        set.build().ok()
    };
    let (Some(include), Some(exclude)) = (build(globs), build(excludes)) else { return Vec::new() };
    let mut dirs: Vec<String> = tree
        .files
        .iter()
        .filter(|f| f.rsplit('/').next() == Some(marker))
        .map(|f| parent(f).to_owned())
        .filter(|d| include.is_match(d) && !exclude.is_match(d))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// A `port` value from a manifest's buildspec table: an integer or a list.
pub(crate) fn ports_of(value: Option<&serde_json::Value>) -> Vec<u16> {
    let one = |v: &serde_json::Value| v.as_u64().and_then(|n| u16::try_from(n).ok()).filter(|n| *n > 0);
    match value {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_fit_for_images() {
        assert_eq!(image_name("My_App.v2"), "my-app-v2");
        assert_eq!(image_name("@acme/web"), "acme-web");
        assert_eq!(image_name("2fa"), "app-2fa");
        assert_eq!(image_name("__"), "app");
    }

    #[test]
    fn relative_paths_stay_in_the_root() {
        assert_eq!(resolve("crates/api", "../shared").as_deref(), Some("crates/shared"));
        assert_eq!(resolve("", "../x"), None);
        assert_eq!(resolve("a", "./b/../c").as_deref(), Some("a/c"));
    }
}
