//! The cargo preset's reading of `Cargo.toml`: which target files cargo
//! needs to see before it builds a package's dependencies alone, and
//! which packages it cannot split (a workspace, path dependencies, a
//! cargo config that may point at vendored sources).
//!
//! The dependency step copies only the manifests, so every target the
//! manifest declares, and every one cargo would discover in the context,
//! gets a stub (`fn main() {}`, or an empty library) for the length of
//! `cargo build`; the stubs are removed after it, with the package's
//! fingerprints, so the build of the real sources recompiles the package
//! (their files may be older than the stubs were).

use std::collections::{BTreeMap, BTreeSet};

/// A package the dependency step can build with stubs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Package {
    /// `[package] name`.
    pub name: String,
    /// Target files to stub, relative to the package directory, sorted.
    pub stubs: Vec<Stub>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Stub {
    pub path: String,
    /// A library root (an empty file) rather than a program (`fn main`).
    pub lib: bool,
}

/// Reads the package at `dir` (a context directory, "" or ending in `/`),
/// or says why its build stays whole.
pub(super) fn package(dir: &str, context: &BTreeSet<String>, manifests: &BTreeMap<String, String>) -> Result<Package, String> {
    let manifest = format!("{dir}Cargo.toml");
    let text = manifests.get(&manifest).ok_or_else(|| format!("{manifest} could not be read"))?;
    let doc: toml::Table = text.parse().map_err(|_| format!("{manifest} is not valid TOML"))?;
    if doc.contains_key("workspace") {
        return Err(format!("{manifest} declares a [workspace], and the split builds one package's dependencies (write a `deps` block)"));
    }
    let package = doc.get("package").and_then(toml::Value::as_table).ok_or_else(|| format!("{manifest} has no [package]"))?;
    if package.contains_key("workspace") {
        return Err(format!("{manifest} belongs to a workspace elsewhere (`package.workspace`)"));
    }
    let name = package
        .get("name")
        .and_then(toml::Value::as_str)
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .ok_or_else(|| format!("{manifest} has no plain `package.name`"))?;
    if let Some(dep) = path_dependency(&doc) {
        return Err(format!("{manifest}: `{dep}` is a path dependency, which a copy of the manifests does not bring"));
    }
    for config in [".cargo/config.toml", ".cargo/config"] {
        if context.contains(&format!("{dir}{config}")) {
            return Err(format!("{dir}{config} may change where dependencies come from (vendored sources, a mirror)"));
        }
    }
    let mut stubs = BTreeSet::new();
    let mut add = |path: String, lib: bool| -> Result<(), String> {
        if !is_plain_relative(&path) {
            return Err(format!("{manifest} names the target file `{path}`, which is not a plain relative path"));
        }
        stubs.insert(Stub { path, lib });
        Ok(())
    };
    // What cargo discovers by itself, where the context has it.
    let has = |path: &str| context.contains(&format!("{dir}{path}"));
    for (path, lib) in [("src/lib.rs", true), ("src/main.rs", false), ("build.rs", false)] {
        if has(path) {
            add(path.to_owned(), lib)?;
        }
    }
    let bin_dir = format!("{dir}src/bin/");
    for file in context.range(bin_dir.clone()..).take_while(|f| f.starts_with(&bin_dir)) {
        let rest = &file[bin_dir.len()..];
        let discovered = match rest.split_once('/') {
            None => rest.ends_with(".rs"),
            Some((_, inner)) => inner == "main.rs",
        };
        if discovered {
            add(format!("src/bin/{rest}"), false)?;
        }
    }
    // What the manifest declares: its files must exist for cargo to load it.
    if let Some(lib) = doc.get("lib").and_then(toml::Value::as_table) {
        add(lib.get("path").and_then(toml::Value::as_str).unwrap_or("src/lib.rs").to_owned(), true)?;
    }
    if let Some(build) = package.get("build").and_then(toml::Value::as_str) {
        add(build.to_owned(), false)?;
    }
    for (kind, default_dir) in [("bin", "src/bin"), ("example", "examples"), ("test", "tests"), ("bench", "benches")] {
        for target in doc.get(kind).and_then(toml::Value::as_array).into_iter().flatten() {
            let Some(target) = target.as_table() else { continue };
            let path = match (target.get("path").and_then(toml::Value::as_str), target.get("name").and_then(toml::Value::as_str)) {
                (Some(path), _) => path.to_owned(),
                (None, Some(n)) if kind == "bin" && n == name => "src/main.rs".to_owned(),
                (None, Some(n)) if has(&format!("{default_dir}/{n}/main.rs")) => format!("{default_dir}/{n}/main.rs"),
                (None, Some(n)) => format!("{default_dir}/{n}.rs"),
                (None, None) => return Err(format!("{manifest} has a [[{kind}]] without a name")),
            };
            add(path, false)?;
        }
    }
    let mut stubs: Vec<Stub> = stubs.into_iter().collect();
    if !stubs.iter().any(|s| s.lib || s.path == "src/main.rs" || s.path.starts_with("src/bin/") || doc.contains_key("bin")) {
        // No library or program in sight: cargo needs one target to build.
        stubs.push(Stub { path: "src/main.rs".to_owned(), lib: false });
        stubs.sort();
    }
    Ok(Package { name: name.to_owned(), stubs })
}

impl Package {
    /// How `explain` names the dependency step.
    pub(super) fn describe(&self, script: &str) -> String {
        let build = script.lines().find(|l| l.starts_with("cargo build")).unwrap_or("cargo build");
        let files: Vec<&str> = self.stubs.iter().map(|s| s.path.as_str()).collect();
        format!("`{build}` (with stubs for {})", files.join(", "))
    }
}

/// The dependency step: stubs in, `cargo build` with the build's profile
/// and `--locked`, stubs and the package's own build products out. (The
/// emitter runs multi-line scripts under `set -e`.)
pub(super) fn fetch_script(package: &Package, build_script: &str, locked: bool) -> String {
    let mut flags = String::new();
    if build_script.contains("--release") {
        flags.push_str(" --release");
    }
    if locked || build_script.contains("--locked") {
        flags.push_str(" --locked");
    }
    let list = |lib: bool| package.stubs.iter().filter(|s| s.lib == lib).map(|s| s.path.as_str()).collect::<Vec<_>>().join(" ");
    let mut script = String::from("stubs=\n");
    for (lib, body) in [(false, "echo 'fn main() {}' >"), (true, ": >")] {
        let files = list(lib);
        if !files.is_empty() {
            script.push_str(&format!(
                "for f in {files}; do [ -e \"$f\" ] || {{ mkdir -p \"$(dirname \"$f\")\"; {body} \"$f\"; stubs=\"$stubs $f\"; }}; done\n"
            ));
        }
    }
    let crate_name = package.name.replace('-', "_");
    let name = &package.name;
    script.push_str(&format!(
        "cargo build{flags}\n\
         for f in $stubs; do rm -f \"$f\"; rmdir -p \"$(dirname \"$f\")\" 2>/dev/null || true; done\n\
         rm -rf target/*/.fingerprint/{name}-* target/*/build/{name}-* target/*/deps/{crate_name}-* target/*/deps/lib{crate_name}-* target/*/{name} target/*/{name}.d"
    ));
    script
}

/// The first dependency, in any dependency table, that is a path.
fn path_dependency(doc: &toml::Table) -> Option<String> {
    const TABLES: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    let in_table = |table: Option<&toml::Value>| -> Option<String> {
        table?.as_table()?.iter().find(|(_, dep)| dep.get("path").is_some()).map(|(name, _)| name.clone())
    };
    let targets = doc.get("target").and_then(toml::Value::as_table).into_iter().flat_map(|t| t.values());
    let patches = doc.get("patch").and_then(toml::Value::as_table).into_iter().flat_map(|t| t.values().map(Some));
    TABLES
        .iter()
        .map(|t| in_table(doc.get(*t)))
        .chain(targets.flat_map(|platform| TABLES.iter().map(move |t| in_table(platform.get(*t)))))
        .chain(patches.map(in_table))
        .chain(std::iter::once(in_table(doc.get("replace"))))
        .flatten()
        .next()
}

/// A path the stub script may write as it is: relative, inside the
/// package, and needing no shell quoting.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && path.chars().all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(files: &[(&str, &str)]) -> Result<Package, String> {
        let context: BTreeSet<String> = files.iter().map(|(p, _)| p.to_string()).collect();
        let manifests = files.iter().filter(|(p, _)| p.ends_with("Cargo.toml")).map(|(p, t)| (p.to_string(), t.to_string())).collect();
        package("", &context, &manifests)
    }

    fn paths(p: &Package) -> Vec<(&str, bool)> {
        p.stubs.iter().map(|s| (s.path.as_str(), s.lib)).collect()
    }

    #[test]
    fn stubs_what_cargo_discovers_and_what_the_manifest_declares() {
        let manifest = r#"
            [package]
            name = "my-app"
            build = "tools/build.rs"
            [lib]
            path = "lib/mod.rs"
            [[bin]]
            name = "cli"
            path = "src/cli.rs"
            [[bin]]
            name = "my-app"
            [[example]]
            name = "demo"
            [[test]]
            name = "smoke"
            [dependencies]
            serde = { version = "1" }
        "#;
        let p = read(&[("Cargo.toml", manifest), ("src/bin/tool.rs", ""), ("src/bin/multi/main.rs", ""), ("src/bin/multi/util.rs", ""), ("tests/smoke/main.rs", "")]).unwrap();
        assert_eq!(p.name, "my-app");
        assert_eq!(
            paths(&p),
            [
                ("examples/demo.rs", false),
                ("lib/mod.rs", true),
                ("src/bin/multi/main.rs", false),
                ("src/bin/tool.rs", false),
                ("src/cli.rs", false),
                ("src/main.rs", false),
                ("tests/smoke/main.rs", false),
                ("tools/build.rs", false),
            ]
        );
    }

    #[test]
    fn a_package_with_no_target_in_sight_gets_a_main() {
        let p = read(&[("Cargo.toml", "[package]\nname = \"x\"\n")]).unwrap();
        assert_eq!(paths(&p), [("src/main.rs", false)]);
        let p = read(&[("Cargo.toml", "[package]\nname = \"x\"\n"), ("src/lib.rs", ""), ("build.rs", "")]).unwrap();
        assert_eq!(paths(&p), [("build.rs", false), ("src/lib.rs", true)]);
    }

    #[test]
    fn nested_manifests_of_other_projects_do_not_matter() {
        let p = read(&[("Cargo.toml", "[package]\nname = \"x\"\n"), ("src/main.rs", ""), ("fixtures/other/Cargo.toml", "[package]\nname = \"other\"\n")]).unwrap();
        assert_eq!(paths(&p), [("src/main.rs", false)]);
    }

    #[test]
    fn says_why_a_package_stays_whole() {
        let cases = [
            ("[workspace]\nmembers = [\"a\"]\n", "declares a [workspace]"),
            ("[package]\nname = \"x\"\nworkspace = \"..\"\n", "belongs to a workspace"),
            ("[package]\nname = \"x\"\n[dependencies]\nutil = { path = \"util\" }\n", "`util` is a path dependency"),
            ("[package]\nname = \"x\"\n[target.'cfg(unix)'.dev-dependencies]\nu = { path = \"u\" }\n", "`u` is a path dependency"),
            ("[package]\nname = \"x\"\n[patch.crates-io]\nserde = { path = \"../serde\" }\n", "`serde` is a path dependency"),
            ("[package]\nname = \"x\"\n[[bin]]\nname = \"b\"\npath = \"../b.rs\"\n", "not a plain relative path"),
            ("[package]\nname = \"x\"\n[[bin]]\nname = \"b\"\npath = \"src/$(reboot).rs\"\n", "not a plain relative path"),
            ("[package]\nname = \"x y\"\n", "no plain `package.name`"),
            ("[package\n", "not valid TOML"),
            ("[dependencies]\n", "has no [package]"),
        ];
        for (manifest, why) in cases {
            let err = read(&[("Cargo.toml", manifest)]).unwrap_err();
            assert!(err.contains(why), "{manifest}: {err}");
        }
        let err = read(&[("Cargo.toml", "[package]\nname = \"x\"\n"), (".cargo/config.toml", "")]).unwrap_err();
        assert!(err.contains(".cargo/config.toml may change where dependencies come from"), "{err}");
        let context = BTreeSet::from(["Cargo.toml".to_owned()]);
        assert!(package("", &context, &BTreeMap::new()).unwrap_err().contains("could not be read"));
    }

    #[test]
    fn the_script_stubs_builds_and_cleans_up() {
        let p = Package {
            name: "my-app".into(),
            stubs: vec![Stub { path: "build.rs".into(), lib: false }, Stub { path: "src/lib.rs".into(), lib: true }],
        };
        let script = fetch_script(&p, "cargo build --release", true);
        assert!(script.starts_with("stubs=\nfor f in build.rs; do"), "{script}");
        assert!(script.contains("for f in src/lib.rs; do [ -e \"$f\" ] || { mkdir -p \"$(dirname \"$f\")\"; : > \"$f\";"), "{script}");
        assert!(script.contains("\ncargo build --release --locked\n"), "{script}");
        assert!(script.contains("target/*/.fingerprint/my-app-* target/*/build/my-app-* target/*/deps/my_app-*"), "{script}");
        assert_eq!(p.describe(&script), "`cargo build --release --locked` (with stubs for build.rs, src/lib.rs)");
    }
}
