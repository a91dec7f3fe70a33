//! `import` is the inverse of `compile` on compile's own output: a
//! Dockerfile that `compile` emits, imported and compiled again, gives the
//! same Dockerfile and .dockerignore (a fixed point; only the spec lines
//! its comments cite differ). For every example spec through the CLI, and
//! for random specs from the spec's vocabulary through the library.

mod support;

use buildspec::source::SourceFile;
use buildspec::CompileOpts;
use proptest::prelude::*;
use support::{buildspec, root, stderr};

/// The text with the spec locations its comments cite (`(buildspec.kdl:12)`) taken out.
fn without_locations(text: &str) -> String {
    text.lines()
        .map(|l| match (l.starts_with("# "), l.rfind(" (")) {
            (true, Some(at)) if l.ends_with(')') => &l[..at],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn every_example_spec_is_a_fixed_point_of_compile_then_import() {
    for entry in std::fs::read_dir(root().join("specs")).unwrap() {
        let dir = entry.unwrap().path();
        let tmp = tempfile::tempdir().unwrap();
        let (original, imported) = (tmp.path().join("original"), tmp.path().join("imported"));
        copy_dir(&dir, &original);
        copy_dir(&dir, &imported);
        std::fs::remove_file(imported.join("buildspec.kdl")).unwrap();
        let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
        let out = buildspec(&["compile", "-o", first.to_str().unwrap()], &original);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = buildspec(&["import", first.join("Dockerfile").to_str().unwrap(), "-o", "buildspec.kdl"], &imported);
        assert!(out.status.success(), "{}: {}", dir.display(), stderr(&out));
        let out = buildspec(&["compile", "-o", second.to_str().unwrap()], &imported);
        assert!(out.status.success(), "{}: {}", dir.display(), stderr(&out));
        for file in ["Dockerfile", "Dockerfile.dockerignore"] {
            let read = |d: &std::path::Path| without_locations(&std::fs::read_to_string(d.join(file)).unwrap());
            assert_eq!(read(&first), read(&second), "{}: {file}", dir.display());
        }
    }
}

const IMAGES: &[&str] = &["debian:bookworm-slim", "busybox:latest", "python:3.12-slim", "node:20-bookworm-slim", "alpine:3.20"];

/// One step; `earlier` names the builders a copy or bind may read.
fn step(earlier: Vec<String>) -> BoxedStrategy<String> {
    let from = move |n: usize| earlier.get(n % earlier.len().max(1)).cloned();
    let (f1, f2) = (from.clone(), from);
    prop_oneof![
        proptest::sample::select(vec![
            r#"workdir "/src""#, r#"workdir "app""#, r#"env "MODE"="two words" "PATH"="/opt/bin:${PATH}""#,
            r#"arg "VERSION" default="1.0""#, r#"label "org.opencontainers.image.title"="x y""#, r#"user "65534""#,
            r#"user "app:app""#, r#"copy "src" to="/src/""#, r#"copy "." "#, r#"copy "a.txt" "b.txt" to="/etc/" chmod="0644" link=#true"#,
            r#"run "make""#, r#"run "echo a && echo b > /out.txt""#, "run \"echo one\\necho two\"", "run \"set -e\\necho one\\necho two\"",
            "run \"apt-get update \\\\\\n && apt-get install -y curl\"", "run \"#!/usr/bin/env python3\\nprint(1)\"",
            "run \"echo 'a b' \\\\\\n && echo c\"", r#"run "pip install -r r.txt" { cache "/root/.cache/pip" id="pip"; }"#,
            r#"run "cat /run/secrets/token" { secret "token"; }"#, r#"run "ls /scratch" { tmpfs "/scratch"; }"#,
            r#"run "npm ci" network="host""#, r#"packages "curl" "ca-certificates" manager="apt""#, r#"expose 8080 "53/udp""#,
            r#"entrypoint "/usr/local/bin/app" "--flag""#, r#"cmd "sh" "-c" "echo hi""#,
            r#"healthcheck "curl" "-f" "http://localhost/" interval="30s" retries=3"#, r#"volume "/data""#,
            r#"stopsignal "SIGINT""#, r#"deps { copy "package.json"; run "npm install"; }"#,
        ])
        .prop_map(str::to_owned),
        any::<usize>().prop_map(move |n| f1(n).map_or_else(String::new, |b| format!(r#"copy "/out" from="{b}" to="/opt/out""#))),
        any::<usize>().prop_map(move |n| f2(n).map_or_else(String::new, |b| format!(r#"run "ls /in" {{ bind "/out" target="/in" from="{b}"; }}"#))),
    ]
    .boxed()
}

fn stage(kind: &'static str, name: String, earlier: Vec<String>, extra: &'static str) -> BoxedStrategy<String> {
    let bases: Vec<String> = IMAGES.iter().map(|s| s.to_string()).chain(earlier.iter().cloned()).collect();
    (proptest::sample::select(bases), proptest::collection::vec(step(earlier), 0..6))
        .prop_map(move |(base, steps)| format!("{kind} \"{name}\" from=\"{base}\"{extra} {{\n    {}\n}}\n", steps.join("\n    ")))
        .boxed()
}

/// A spec of one to three builders, up to two tests and one or two runtimes.
fn spec() -> impl Strategy<Value = String> {
    (1..4usize, 0..3usize, 1..3usize, any::<bool>()).prop_flat_map(|(n_builders, n_tests, n_runtimes, ungated)| {
        let builders: Vec<String> = (0..n_builders).map(|i| format!("build{i}")).collect();
        let mut parts: Vec<BoxedStrategy<String>> = Vec::new();
        for (i, name) in builders.iter().enumerate() {
            parts.push(stage("builder", name.clone(), builders[..i].to_vec(), ""));
        }
        for i in 0..n_tests {
            let base = builders[i % builders.len()].clone();
            let extra = if ungated && i == 0 { " gate=#false" } else { "" };
            parts.push(proptest::collection::vec(step(builders.clone()), 0..3).prop_map(move |steps| format!("test \"check{i}\" from=\"{base}\"{extra} {{\n    run \"true\"\n    {}\n}}\n", steps.join("\n    "))).boxed());
        }
        for i in 0..n_runtimes {
            parts.push(stage("runtime", format!("app{i}"), builders.clone(), ""));
        }
        parts.prop_map(|parts| format!("buildspec 1\n\ncontext {{\n    exclude \".git\" \"*.md\"\n}}\n\n{}", parts.join("\n")))
    })
}

fn compile(text: &str) -> Result<buildspec::Compiled, String> {
    buildspec::compile(&SourceFile::new("buildspec.kdl", text.to_owned()), &CompileOpts::new()).map_err(|f| {
        buildspec::diag::render(&f.sources, &f.diagnostics, buildspec::diag::RenderOpts { color: false, width: 100 })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn random_specs_are_fixed_points_of_compile_then_import(text in spec()) {
        let first = match compile(&text) {
            Ok(c) => c,
            // Not every random spec is valid; the valid ones are the test.
            Err(_) => return Err(TestCaseError::reject("invalid spec")),
        };
        let imported = buildspec::import::import(&first.dockerfile, Some(&first.dockerignore), "Dockerfile")
            .map_err(|e| TestCaseError::fail(format!("import failed: {e} at line {}\nspec:\n{text}\nDockerfile:\n{}", e.line, first.dockerfile)))?;
        let second = compile(&imported.kdl).map_err(|e| TestCaseError::fail(format!("{e}\nspec:\n{text}\nimported:\n{}", imported.kdl)))?;
        prop_assert_eq!(without_locations(&first.dockerfile), without_locations(&second.dockerfile), "spec:\n{}\nimported:\n{}", text, imported.kdl);
        prop_assert_eq!(without_locations(&first.dockerignore), without_locations(&second.dockerignore));
    }
}
