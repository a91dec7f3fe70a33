//! The cargo preset's reading of `Cargo.toml`: which packages the build
//! sees (one, or a workspace's members and the path dependencies between
//! them), which target files cargo needs to see before it builds their
//! dependencies alone, and which builds it cannot split (a path
//! dependency out of the context, a cargo config that points at vendored
//! sources).
//!
//! The dependency step copies only the manifests, so every target a
//! manifest declares, and every one cargo would discover in the context,
//! gets a stub (`fn main() {}`, or an empty library) for the length of
//! `cargo build`; the stubs are removed after it, with the packages'
//! fingerprints, so the build of the real sources recompiles them (their
//! files may be older than the stubs were).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The packages of a cargo build, as the dependency step sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Project {
    /// Sorted by directory; the first is the top one when it is a package.
    pub packages: Vec<Package>,
    /// Flags of the build's own `cargo build`/`cargo test` that choose
    /// what gets compiled and how (profile, features, packages, target).
    pub flags: Vec<String>,
    /// Cargo configs of the copied directory (`.cargo/config.toml`), which
    /// the dependency step needs too: they set flags and registries.
    pub configs: Vec<String>,
}

/// A package the dependency step builds with stubs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Package {
    /// Its directory relative to the copied one: "" or ending in `/`.
    pub dir: String,
    /// `[package] name`.
    pub name: String,
    /// Target files to stub, relative to the copied directory, sorted.
    pub stubs: Vec<Stub>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Stub {
    pub path: String,
    /// A library root (an empty file) rather than a program (`fn main`).
    pub lib: bool,
}

/// Reads the cargo project copied from context directory `dir` ("" or
/// ending in `/`) for a build running `script`, or says why its build
/// stays whole.
pub(super) fn read(dir: &str, script: &str, context: &BTreeSet<String>, manifests: &BTreeMap<String, String>) -> Result<Project, String> {
    let mut configs = Vec::new();
    for config in [".cargo/config.toml", ".cargo/config"] {
        if context.contains(&format!("{dir}{config}")) {
            check_config(&format!("{dir}{config}"), manifests)?;
            configs.push(config.to_owned());
        }
    }
    let parse = |pkg_dir: &str| -> Result<toml::Table, String> {
        let manifest = format!("{dir}{pkg_dir}Cargo.toml");
        let text = manifests.get(&manifest).ok_or_else(|| format!("{manifest} could not be read"))?;
        text.parse().map_err(|_| format!("{manifest} is not valid TOML"))
    };
    let root = parse("")?;
    let mut queue: VecDeque<String> = VecDeque::new();
    if root.contains_key("package") {
        queue.push_back(String::new());
    }
    if let Some(workspace) = root.get("workspace").and_then(toml::Value::as_table) {
        queue.extend(members(dir, workspace, context)?);
        // `[workspace.dependencies]` may name packages by path too.
        queue.extend(path_dependencies(workspace, "").into_iter().map(|(_, target)| target));
    }
    if let Some(what) = patched_with_a_path(&root) {
        return Err(format!("{dir}Cargo.toml patches `{what}` with a local path: the dependencies built against it need its real sources"));
    }
    if queue.is_empty() {
        return Err(format!("{dir}Cargo.toml has neither a [package] nor workspace members in the context"));
    }
    // The packages, with the path dependencies they reach (cargo makes
    // those under the top directory members too).
    let mut docs: BTreeMap<String, toml::Table> = BTreeMap::new();
    while let Some(pkg_dir) = queue.pop_front() {
        if docs.contains_key(&pkg_dir) {
            continue;
        }
        let doc = if pkg_dir.is_empty() { root.clone() } else { parse(&pkg_dir)? };
        for (dep, target) in path_dependencies(&doc, &pkg_dir) {
            if !manifests.contains_key(&format!("{dir}{target}Cargo.toml")) {
                return Err(format!("{dir}{pkg_dir}Cargo.toml: the path dependency `{dep}` is not a package in the context"));
            }
            queue.push_back(target);
        }
        docs.insert(pkg_dir, doc);
    }
    let mut packages = Vec::new();
    for (pkg_dir, doc) in &docs {
        packages.push(package(dir, pkg_dir, doc, context)?);
    }
    Ok(Project { packages, configs, flags: build_flags(script) })
}

/// Whether the cargo config at `path` can travel with the manifests: it
/// must not point cargo at files the manifest copy does not bring
/// (vendored or local sources, path overrides or patches) nor move the
/// build's outputs (the step removes the stubs' products from the target
/// directory it knows from the environment).
fn check_config(path: &str, files: &BTreeMap<String, String>) -> Result<(), String> {
    let text = files.get(path).ok_or_else(|| format!("{path} could not be read"))?;
    let config: toml::Table = text.parse().map_err(|_| format!("{path} is not valid TOML"))?;
    let mut sources = config.get("source").and_then(toml::Value::as_table).into_iter().flat_map(|t| t.values());
    if sources.any(|source| source.get("directory").is_some() || source.get("local-registry").is_some()) {
        return Err(format!("{path} takes dependencies from local files (vendored sources)"));
    }
    for (key, why) in [("paths", "overrides dependencies with local paths"), ("patch", "patches dependencies")] {
        if config.contains_key(key) {
            return Err(format!("{path} {why}"));
        }
    }
    if config.get("build").and_then(|b| b.get("target-dir")).is_some() {
        return Err(format!("{path} moves the build's outputs (`build.target-dir`)"));
    }
    Ok(())
}

/// The member directories of a `[workspace]` that the context has.
fn members(dir: &str, workspace: &toml::Table, context: &BTreeSet<String>) -> Result<Vec<String>, String> {
    let globs = |key: &str| -> Result<globset::GlobSet, String> {
        let mut set = globset::GlobSetBuilder::new();
        for pattern in workspace.get(key).and_then(toml::Value::as_array).into_iter().flatten() {
            let pattern = pattern.as_str().ok_or_else(|| format!("{dir}Cargo.toml: workspace.{key} holds a non-string"))?;
            let glob = globset::GlobBuilder::new(pattern.trim_end_matches('/'))
                .literal_separator(true)
                .build()
                .map_err(|_| format!("{dir}Cargo.toml: `{pattern}` in workspace.{key} is not a glob"))?;
            set.add(glob);
        }
        set.build().map_err(|e| e.to_string())
    };
    let (include, exclude) = (globs("members")?, globs("exclude")?);
    let found: Vec<String> = context
        .iter()
        .filter_map(|f| f.strip_prefix(dir)?.strip_suffix("/Cargo.toml"))
        .filter(|member| include.is_match(member) && !exclude.is_match(member))
        .map(|member| format!("{member}/"))
        .collect();
    // Cargo insists on a member named without a glob.
    for literal in workspace.get("members").and_then(toml::Value::as_array).into_iter().flatten().filter_map(toml::Value::as_str) {
        let literal = literal.trim_end_matches('/');
        if !literal.contains(['*', '?', '[', '{']) && !found.iter().any(|f| f.trim_end_matches('/') == literal) {
            return Err(format!("{dir}Cargo.toml: the workspace member `{literal}` has no Cargo.toml in the context"));
        }
    }
    Ok(found)
}

/// The package in `pkg_dir` with stubs for its targets.
fn package(dir: &str, pkg_dir: &str, doc: &toml::Table, context: &BTreeSet<String>) -> Result<Package, String> {
    let manifest = format!("{dir}{pkg_dir}Cargo.toml");
    let package = doc.get("package").and_then(toml::Value::as_table).ok_or_else(|| format!("{manifest} has no [package]"))?;
    if pkg_dir.is_empty() && package.contains_key("workspace") {
        return Err(format!("{manifest} belongs to a workspace above the copied directory (`package.workspace`)"));
    }
    if !pkg_dir.is_empty() && doc.contains_key("workspace") {
        return Err(format!("{manifest} is a workspace of its own inside the build's"));
    }
    let name = package
        .get("name")
        .and_then(toml::Value::as_str)
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .ok_or_else(|| format!("{manifest} has no plain `package.name`"))?;
    let mut stubs = BTreeSet::new();
    let mut add = |path: &str, lib: bool| -> Result<(), String> {
        if !is_plain_relative(path) {
            return Err(format!("{manifest} names the target file `{path}`, which is not a plain relative path"));
        }
        stubs.insert(Stub { path: format!("{pkg_dir}{path}"), lib });
        Ok(())
    };
    // What cargo discovers by itself, where the context has it.
    let has = |path: &str| context.contains(&format!("{dir}{pkg_dir}{path}"));
    for (path, lib) in [("src/lib.rs", true), ("src/main.rs", false), ("build.rs", false)] {
        if has(path) {
            add(path, lib)?;
        }
    }
    let bin_dir = format!("{dir}{pkg_dir}src/bin/");
    for file in context.range(bin_dir.clone()..).take_while(|f| f.starts_with(&bin_dir)) {
        let rest = &file[bin_dir.len()..];
        let discovered = match rest.split_once('/') {
            None => rest.ends_with(".rs"),
            Some((_, inner)) => inner == "main.rs",
        };
        if discovered {
            add(&format!("src/bin/{rest}"), false)?;
        }
    }
    // What the manifest declares: its files must exist for cargo to load it.
    if let Some(lib) = doc.get("lib").and_then(toml::Value::as_table) {
        add(lib.get("path").and_then(toml::Value::as_str).unwrap_or("src/lib.rs"), true)?;
    }
    if let Some(build) = package.get("build").and_then(toml::Value::as_str) {
        add(build, false)?;
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
            add(&path, false)?;
        }
    }
    if !stubs.iter().any(|s| s.lib || s.path == format!("{pkg_dir}src/main.rs") || s.path.starts_with(&format!("{pkg_dir}src/bin/"))) && !doc.contains_key("bin") {
        // No library or program in sight: cargo needs one target to build.
        stubs.insert(Stub { path: format!("{pkg_dir}src/main.rs"), lib: false });
    }
    Ok(Package { dir: pkg_dir.to_owned(), name: name.to_owned(), stubs: stubs.into_iter().collect() })
}

impl Project {
    /// What the dependency step copies besides the top manifests, relative
    /// to the copied directory: the cargo configs, and the manifests of
    /// the members and of the packages they reach by path.
    pub(super) fn extra_files(&self) -> impl Iterator<Item = String> + '_ {
        let manifests = self.packages.iter().filter(|p| !p.dir.is_empty()).map(|p| format!("{}Cargo.toml", p.dir));
        self.configs.iter().cloned().chain(manifests)
    }

    /// How `explain` names the dependency step.
    pub(super) fn describe(&self, script: &str) -> String {
        let build = script.lines().find(|l| l.starts_with("cargo build")).unwrap_or("cargo build");
        let files: Vec<&str> = self.packages.iter().flat_map(|p| p.stubs.iter().map(|s| s.path.as_str())).collect();
        format!("`{build}` (with stubs for {})", files.join(", "))
    }

    /// The dependency step: stubs in, `cargo build` with the build's own
    /// selection flags (and `--locked` when there is a lockfile), stubs and
    /// the packages' own build products out. (The emitter runs multi-line
    /// scripts under `set -e`.)
    pub(super) fn fetch_script(&self, locked: bool) -> String {
        let mut flags = self.flags.clone();
        if locked && !flags.iter().any(|f| f == "--locked" || f == "--frozen") {
            flags.push("--locked".to_owned());
        }
        let stubs = |lib: bool| {
            self.packages.iter().flat_map(|p| &p.stubs).filter(|s| s.lib == lib).map(|s| s.path.as_str()).collect::<Vec<_>>().join(" ")
        };
        let mut script = String::from("stubs=\n");
        for (lib, body) in [(false, "echo 'fn main() {}' >"), (true, ": >")] {
            let files = stubs(lib);
            if !files.is_empty() {
                script.push_str(&format!(
                    "for f in {files}; do [ -e \"$f\" ] || {{ mkdir -p \"$(dirname \"$f\")\"; {body} \"$f\"; stubs=\"$stubs $f\"; }}; done\n"
                ));
            }
        }
        script.push_str("cargo build");
        for flag in &flags {
            script.push(' ');
            script.push_str(flag);
        }
        // Where cargo put its outputs: the image or the stage may move them.
        script.push_str("\nfor f in $stubs; do rm -f \"$f\"; rmdir -p \"$(dirname \"$f\")\" 2>/dev/null || true; done\n");
        script.push_str("t=\"${CARGO_TARGET_DIR:-${CARGO_BUILD_TARGET_DIR:-target}}\"\nrm -rf");
        for name in self.packages.iter().map(|p| &p.name).collect::<BTreeSet<_>>() {
            let crate_name = name.replace('-', "_");
            // PROFILE/…, and TRIPLE/PROFILE/… with --target.
            for profile_dir in ["\"$t\"/*", "\"$t\"/*/*"] {
                script.push_str(&format!(
                    " {profile_dir}/.fingerprint/{name}-* {profile_dir}/build/{name}-* {profile_dir}/deps/{crate_name}-* {profile_dir}/deps/lib{crate_name}-* {profile_dir}/{name} {profile_dir}/{name}.d"
                ));
            }
        }
        script
    }
}

/// The flags of the script's first `cargo build` (or `cargo test`) that
/// choose what is compiled and how; values are kept only when plain.
fn build_flags(script: &str) -> Vec<String> {
    const SWITCHES: &[&str] = &["--release", "--locked", "--frozen", "--offline", "--workspace", "--all", "--all-features", "--no-default-features"];
    const WITH_VALUE: &[&str] = &["-p", "--package", "--exclude", "-F", "--features", "--target", "--profile"];
    let plain = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "_-.,:/=".contains(c));
    let invocation = script.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.windows(2).position(|w| w[0] == "cargo" && (w[1] == "build" || w[1] == "test"))?;
        // Up to the end of the command.
        let mut args = Vec::new();
        for word in &words[at + 2..] {
            let (word, last) = match word.strip_suffix(';') {
                Some(w) => (w, true),
                None => (*word, false),
            };
            if ["&&", "||", "|", "--", ""].contains(&word) {
                break;
            }
            args.push(word);
            if last {
                break;
            }
        }
        Some(args)
    });
    let mut flags = Vec::new();
    let mut args = invocation.unwrap_or_default().into_iter();
    while let Some(arg) = args.next() {
        if let Some((key, value)) = arg.split_once('=').filter(|(key, _)| key.starts_with("--")) {
            if WITH_VALUE.contains(&key) && plain(value) {
                flags.push(arg.to_owned());
            }
        } else if SWITCHES.contains(&arg) {
            flags.push(arg.to_owned());
        } else if WITH_VALUE.contains(&arg) {
            match args.next() {
                Some(value) if plain(value) => flags.extend([arg.to_owned(), value.to_owned()]),
                _ => {}
            }
        }
    }
    flags
}

/// The dependencies, in every dependency table of `doc`, that are paths:
/// each name and directory relative to the copied one (ending in `/`; one
/// that leaves the copied directory starts with `../`), in table order.
fn path_dependencies(doc: &toml::Table, pkg_dir: &str) -> Vec<(String, String)> {
    const TABLES: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    let platforms = doc.get("target").and_then(toml::Value::as_table).into_iter().flat_map(|t| t.values());
    let tables = TABLES.iter().filter_map(|t| doc.get(*t)).chain(platforms.flat_map(|platform| TABLES.iter().filter_map(move |t| platform.get(*t))));
    tables
        .filter_map(toml::Value::as_table)
        .flat_map(|table| table.iter())
        .filter_map(|(name, dep)| {
            let path = dep.get("path")?.as_str().unwrap_or("/");
            Some((name.clone(), join(pkg_dir, path).unwrap_or_else(|| format!("../{path}/"))))
        })
        .collect()
}

/// A crate that `[patch]` or `[replace]` points at a local path.
fn patched_with_a_path(doc: &toml::Table) -> Option<String> {
    let with_path = |table: &toml::Value| table.as_table()?.iter().find(|(_, dep)| dep.get("path").is_some()).map(|(name, _)| name.clone());
    let patches = doc.get("patch").and_then(toml::Value::as_table).into_iter().flat_map(|t| t.values());
    patches.chain(doc.get("replace")).find_map(with_path)
}

/// `path` (relative to `pkg_dir`) as a directory relative to the copied
/// one, ending in `/`; `None` when it leaves it or is not plain.
fn join(pkg_dir: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = pkg_dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    (!parts.is_empty() && is_plain_relative(&joined)).then(|| format!("{joined}/"))
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

    fn read_files(files: &[(&str, &str)], script: &str) -> Result<Project, String> {
        let context: BTreeSet<String> = files.iter().map(|(p, _)| p.to_string()).collect();
        let manifests = files.iter().filter(|(p, _)| p.ends_with("Cargo.toml") || p.contains(".cargo/")).map(|(p, t)| (p.to_string(), t.to_string())).collect();
        read("", script, &context, &manifests)
    }

    fn one(files: &[(&str, &str)]) -> Result<Package, String> {
        let project = read_files(files, "cargo build")?;
        assert_eq!(project.packages.len(), 1, "{project:?}");
        Ok(project.packages.into_iter().next().unwrap())
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
        let p = one(&[("Cargo.toml", manifest), ("src/bin/tool.rs", ""), ("src/bin/multi/main.rs", ""), ("src/bin/multi/util.rs", ""), ("tests/smoke/main.rs", "")]).unwrap();
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
        let p = one(&[("Cargo.toml", "[package]\nname = \"x\"\n")]).unwrap();
        assert_eq!(paths(&p), [("src/main.rs", false)]);
        let p = one(&[("Cargo.toml", "[package]\nname = \"x\"\n"), ("src/lib.rs", ""), ("build.rs", "")]).unwrap();
        assert_eq!(paths(&p), [("build.rs", false), ("src/lib.rs", true)]);
    }

    #[test]
    fn nested_manifests_of_other_projects_do_not_matter() {
        let p = one(&[("Cargo.toml", "[package]\nname = \"x\"\n"), ("src/main.rs", ""), ("fixtures/other/Cargo.toml", "[package]\nname = \"other\"\n")]).unwrap();
        assert_eq!(paths(&p), [("src/main.rs", false)]);
    }

    #[test]
    fn a_workspace_brings_its_members_and_their_path_dependencies() {
        let files = [
            ("Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\nexclude = [\"crates/old\"]\n"),
            ("crates/api/Cargo.toml", "[package]\nname = \"api\"\n[dependencies]\ncore = { path = \"../core\", package = \"app-core\" }\n"),
            ("crates/api/src/main.rs", ""),
            ("crates/core/Cargo.toml", "[package]\nname = \"app-core\"\n[dependencies]\nutil = { path = \"../../util\" }\n"),
            ("crates/core/src/lib.rs", ""),
            ("crates/old/Cargo.toml", "[package]\nname = \"old\"\n"),
            ("util/Cargo.toml", "[package]\nname = \"util\"\n"),
            ("util/src/lib.rs", ""),
        ];
        let project = read_files(&files, "cargo build --release -p api --features fast && cp target/release/api /bin").unwrap();
        let dirs: Vec<(&str, &str)> = project.packages.iter().map(|p| (p.dir.as_str(), p.name.as_str())).collect();
        assert_eq!(dirs, [("crates/api/", "api"), ("crates/core/", "app-core"), ("util/", "util")]);
        assert_eq!(project.extra_files().collect::<Vec<_>>(), ["crates/api/Cargo.toml", "crates/core/Cargo.toml", "util/Cargo.toml"]);
        assert_eq!(project.flags, ["--release", "-p", "api", "--features", "fast"]);
        let script = project.fetch_script(true);
        assert!(script.contains("for f in crates/api/src/main.rs; do"), "{script}");
        assert!(script.contains("for f in crates/core/src/lib.rs util/src/lib.rs; do"), "{script}");
        assert!(script.contains("\ncargo build --release -p api --features fast --locked\n"), "{script}");
        assert!(script.contains("\"$t\"/*/.fingerprint/app-core-* \"$t\"/*/build/app-core-* \"$t\"/*/deps/app_core-*"), "{script}");
    }

    #[test]
    fn the_build_flags_are_the_builds_own() {
        let cases = [
            ("cargo build --release --locked", &["--release", "--locked"][..]),
            ("cargo test --workspace --all-features && cargo build", &["--workspace", "--all-features"]),
            ("cargo build --target=x86_64-unknown-linux-musl --profile dist -j 2", &["--target=x86_64-unknown-linux-musl", "--profile", "dist"]),
            ("cargo build --features \"$FEATURES\" --release", &["--release"]),
            ("cargo build --release; cargo test --no-default-features", &["--release"]),
            ("cargo build\ncargo test --release", &[]),
            ("make", &[]),
        ];
        for (script, flags) in cases {
            assert_eq!(build_flags(script), flags, "{script}");
        }
    }

    #[test]
    fn says_why_a_build_stays_whole() {
        let cases = [
            ("[package]\nname = \"x\"\nworkspace = \"..\"\n", "belongs to a workspace above the copied directory"),
            ("[package]\nname = \"x\"\n[dependencies]\nutil = { path = \"util\" }\n", "the path dependency `util` is not a package in the context"),
            ("[package]\nname = \"x\"\n[target.'cfg(unix)'.dev-dependencies]\nu = { path = \"../u\" }\n", "`u` is not a package in the context"),
            ("[package]\nname = \"x\"\n[patch.crates-io]\nserde = { path = \"serde\" }\n", "patches `serde` with a local path"),
            ("[workspace]\nmembers = [\"api\", \"crates/*\"]\n", "the workspace member `api` has no Cargo.toml in the context"),
            ("[package]\nname = \"x\"\n[[bin]]\nname = \"b\"\npath = \"../b.rs\"\n", "not a plain relative path"),
            ("[package]\nname = \"x\"\n[[bin]]\nname = \"b\"\npath = \"src/$(reboot).rs\"\n", "not a plain relative path"),
            ("[package]\nname = \"x y\"\n", "no plain `package.name`"),
            ("[package\n", "not valid TOML"),
            ("[dependencies]\n", "neither a [package] nor workspace members"),
            ("[workspace]\nmembers = [\"crates/*\"]\n", "neither a [package] nor workspace members"),
            ("[workspace]\nmembers = [\"[\"]\n", "is not a glob"),
        ];
        for (manifest, why) in cases {
            let err = read_files(&[("Cargo.toml", manifest)], "cargo build").unwrap_err();
            assert!(err.contains(why), "{manifest}: {err}");
        }
        for (config, why) in [
            ("[source.crates-io]\nreplace-with = \"vendored\"\n[source.vendored]\ndirectory = \"vendor\"\n", "takes dependencies from local files"),
            ("[build]\ntarget-dir = \"out\"\n", "moves the build's outputs"),
            ("paths = [\"../x\"]\n", "overrides dependencies with local paths"),
        ] {
            let err = read_files(&[("Cargo.toml", "[package]\nname = \"x\"\n"), (".cargo/config.toml", config)], "cargo build").unwrap_err();
            assert!(err.contains(why), "{config}: {err}");
        }
        let config = "[build]\nrustflags = [\"-Cdebuginfo=1\"]\n[source.crates-io]\nreplace-with = \"mirror\"\n[source.mirror]\nregistry = \"sparse+https://mirror.example/index/\"\n";
        let project = read_files(&[("Cargo.toml", "[package]\nname = \"x\"\n"), (".cargo/config.toml", config)], "cargo build").unwrap();
        assert_eq!(project.configs, [".cargo/config.toml"]);
        let context = BTreeSet::from(["Cargo.toml".to_owned()]);
        assert!(read("", "cargo build", &context, &BTreeMap::new()).unwrap_err().contains("could not be read"));
    }

    #[test]
    fn the_script_stubs_builds_and_cleans_up() {
        let project = Project {
            packages: vec![Package {
                dir: String::new(),
                name: "my-app".into(),
                stubs: vec![Stub { path: "build.rs".into(), lib: false }, Stub { path: "src/lib.rs".into(), lib: true }],
            }],
            flags: vec!["--release".into()],
            configs: Vec::new(),
        };
        let script = project.fetch_script(true);
        assert!(script.starts_with("stubs=\nfor f in build.rs; do"), "{script}");
        assert!(script.contains("for f in src/lib.rs; do [ -e \"$f\" ] || { mkdir -p \"$(dirname \"$f\")\"; : > \"$f\";"), "{script}");
        assert!(script.contains("\ncargo build --release --locked\n"), "{script}");
        assert!(script.contains("\nt=\"${CARGO_TARGET_DIR:-${CARGO_BUILD_TARGET_DIR:-target}}\"\nrm -rf \"$t\"/*/.fingerprint/my-app-* \"$t\"/*/build/my-app-* \"$t\"/*/deps/my_app-*"), "{script}");
        assert_eq!(project.describe(&script), "`cargo build --release --locked` (with stubs for build.rs, src/lib.rs)");
    }
}
