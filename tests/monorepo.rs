//! The monorepo half through the real CLI, on the fixture workspace in
//! tests/fixtures/monorepo (a cargo workspace with two binaries and a
//! library, a go.work workspace, an npm workspace with a service, a shared
//! package and a static front end, a Python project and a static site):
//! `generate` (snapshots, idempotence, hand edits, user templates, errors),
//! `init`, `compile --all` and what `plan --changed` says about siblings.

mod support;

use std::path::{Path, PathBuf};

use support::{buildspec, root, stderr, stdout};

/// A fresh copy of the fixture workspace.
fn workspace() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("tests/fixtures/monorepo"), tmp.path());
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let dest = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// Every file below `dir` with its bytes and modification time.
fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_owned(), std::fs::read(e.path()).unwrap(), e.metadata().unwrap().modified().unwrap()))
        .collect();
    files.sort();
    files
}

fn generated_specs(dir: &Path) -> Vec<String> {
    let mut specs: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() == "buildspec.kdl" || e.path().parent().is_some_and(|p| p.ends_with(".buildspec")))
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect();
    specs.sort();
    specs
}

#[test]
fn generate_writes_a_spec_per_deployable_package_and_each_compiles() {
    let ws = workspace();
    let out = buildspec(&["generate"], ws.path());
    assert!(out.status.success(), "{}", stderr(&out));
    insta::assert_snapshot!("generate_report", stdout(&out));
    let specs = generated_specs(ws.path());
    assert_eq!(
        specs,
        [
            ".buildspec/go.kdl",
            ".buildspec/node.kdl",
            ".buildspec/python.kdl",
            ".buildspec/rust.kdl",
            "crates/api/buildspec.kdl",
            "crates/worker/buildspec.kdl",
            "docs-site/buildspec.kdl",
            "go/hello/buildspec.kdl",
            "py/greeter/buildspec.kdl",
            "web/packages/api/buildspec.kdl",
            "web/packages/site/buildspec.kdl",
        ]
    );
    for spec in &specs {
        let text = std::fs::read_to_string(ws.path().join(spec)).unwrap();
        insta::assert_snapshot!(format!("generated__{}", spec.replace(['/', '.'], "_")), text);
        if spec.ends_with("buildspec.kdl") {
            let out = buildspec(&["compile", spec], ws.path());
            assert!(out.status.success(), "{spec} does not compile:\n{}", stderr(&out));
            let split = support::split_dockerfile(&stdout(&out));
            assert!(split.iter().any(|i| i.keyword == "FROM"), "{spec}");
        }
    }
    // Libraries get no spec, and the report says why.
    for lib in ["crates/shared", "go/greet", "web/packages/shared"] {
        assert!(!ws.path().join(lib).join("buildspec.kdl").exists(), "{lib}");
    }
}

#[test]
fn a_second_run_writes_nothing() {
    let ws = workspace();
    assert!(buildspec(&["generate"], ws.path()).status.success());
    let before = snapshot_tree(ws.path());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = buildspec(&["generate"], ws.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("up to date: nothing to write (11 files checked, 0 kept)"), "{}", stdout(&out));
    assert_eq!(before, snapshot_tree(ws.path()), "the second run touched files");
}

#[test]
fn hand_edits_are_kept_until_forced_and_dry_run_writes_nothing() {
    let ws = workspace();
    assert!(buildspec(&["generate"], ws.path()).status.success());
    let api = ws.path().join("crates/api/buildspec.kdl");
    let edited = std::fs::read_to_string(&api).unwrap().replace("user 65532", "user 1000");
    std::fs::write(&api, &edited).unwrap();
    // A change that would alter the spec: the service now declares port 9090.
    let manifest = ws.path().join("crates/api/Cargo.toml");
    std::fs::write(&manifest, std::fs::read_to_string(&manifest).unwrap().replace("port = 8080", "port = 9090")).unwrap();
    let out = buildspec(&["generate"], ws.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("kept  crates/api/buildspec.kdl (edited by hand; --force replaces it)"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&api).unwrap(), edited);
    // A spec nobody edited is updated.
    let worker = ws.path().join("crates/worker/buildspec.kdl");
    std::fs::write(ws.path().join("crates/worker/Cargo.toml"), "[package]\nname = \"worker\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.buildspec]\nport = 7000\n").unwrap();
    let before = snapshot_tree(ws.path());
    let out = buildspec(&["generate", "--dry-run"], ws.path());
    assert!(stdout(&out).contains("would update  crates/worker/buildspec.kdl"), "{}", stdout(&out));
    assert_eq!(before, snapshot_tree(ws.path()), "--dry-run wrote");
    let out = buildspec(&["generate", "--format", "json", "--dry-run"], ws.path());
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let action = |path: &str| doc["files"].as_array().unwrap().iter().find(|f| f["path"] == path).unwrap()["action"].as_str().unwrap().to_owned();
    assert_eq!(action("crates/worker/buildspec.kdl"), "update");
    assert_eq!(action("crates/api/buildspec.kdl"), "kept");
    assert_eq!(action("go/hello/buildspec.kdl"), "up-to-date");
    assert!(buildspec(&["generate"], ws.path()).status.success());
    assert!(std::fs::read_to_string(&worker).unwrap().contains("expose 7000"));
    let out = buildspec(&["generate", "--force"], ws.path());
    assert!(stdout(&out).contains("overwrote  crates/api/buildspec.kdl"), "{}", stdout(&out));
    let forced = std::fs::read_to_string(&api).unwrap();
    assert!(forced.contains("user 65532") && forced.contains("expose 9090"), "{forced}");
}

#[test]
fn a_user_template_overrides_the_built_in_one() {
    let ws = workspace();
    let dir = ws.path().join(".buildspec/templates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("static-site.kdl.j2"),
        "buildspec 1\n\ncontext \"{{ context }}\"\n\nruntime \"app\" from=\"httpd:2.4-alpine\" {\n    copy \"{{ dir }}\" to=\"/usr/local/apache2/htdocs\"\n    label \"team\"=\"{{ name }}\"\n}\n",
    )
    .unwrap();
    let out = buildspec(&["generate"], ws.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let site = std::fs::read_to_string(ws.path().join("docs-site/buildspec.kdl")).unwrap();
    assert!(site.contains("from template static-site.kdl.j2"), "{site}");
    assert!(site.contains("from=\"httpd:2.4-alpine\"") && site.contains("label \"team\"=\"docs-site\""), "{site}");
    // The others still come from the built-ins.
    assert!(std::fs::read_to_string(ws.path().join("go/hello/buildspec.kdl")).unwrap().contains("from=\"scratch\""));
}

#[test]
fn a_template_that_fails_to_render_names_its_file_line_and_package() {
    let ws = workspace();
    let dir = ws.path().join(".buildspec/templates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("go.kdl.j2"), "buildspec 1\n// {{ name }}\nruntime \"app\" from=\"scratch\" {\n    {{ binary | no_such_filter }}\n}\n").unwrap();
    let before = snapshot_tree(ws.path());
    let out = buildspec(&["generate"], ws.path());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains(".buildspec/templates/go.kdl.j2"), "{err}");
    assert!(err.contains("for package go/hello"), "{err}");
    assert!(err.contains("go.kdl.j2:4"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(before, snapshot_tree(ws.path()));
}

#[test]
fn a_template_that_renders_a_spec_that_does_not_compile_is_an_error() {
    let ws = workspace();
    let dir = ws.path().join(".buildspec/templates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("python.kdl.j2"), "buildspec 1\n\nruntime \"app\" {\n    expose 99999\n}\n").unwrap();
    let before = snapshot_tree(ws.path());
    let out = buildspec(&["generate"], ws.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("buildspec::spec::missing_from") && err.contains("buildspec::spec::invalid_port"), "{err}");
    assert!(err.contains("[py/greeter/buildspec.kdl:"), "{err}");
    assert!(err.contains(".buildspec/templates/python.kdl.j2 rendered a spec for package py/greeter that does not compile"), "{err}");
    assert_eq!(before, snapshot_tree(ws.path()));
}

#[test]
fn values_from_manifests_cannot_inject_spec_nodes() {
    let ws = workspace();
    std::fs::write(
        ws.path().join("web/packages/api/package.json"),
        r#"{"name": "@acme/api", "scripts": {"start": "node server.js\"\n}\nrun \"evil"}, "dependencies": {"@acme/shared": "1.0.0"}}"#,
    )
    .unwrap();
    let out = buildspec(&["generate"], ws.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let out = buildspec(&["compile", "web/packages/api/buildspec.kdl"], ws.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let dockerfile = stdout(&out);
    let runs = support::split_dockerfile(&dockerfile).into_iter().filter(|i| i.keyword == "RUN").count();
    assert_eq!(runs, 2, "{dockerfile}");
    assert!(dockerfile.contains(r#"CMD ["sh","-c","node server.js\"\n}\nrun \"evil"]"#), "{dockerfile}");
}

#[test]
fn init_detects_writes_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("bench/apps/go"), tmp.path());
    std::fs::remove_file(tmp.path().join("buildspec.kdl")).unwrap();
    let out = buildspec(&["init"], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "detected Go main package `.` of module `example.com/greeter` (from go.mod)\nwrote ./buildspec.kdl\n");
    let written = std::fs::read_to_string(tmp.path().join("buildspec.kdl")).unwrap();
    assert!(written.contains("arg \"GO_VERSION\"") && !written.contains("include"), "init writes a self-contained spec:\n{written}");
    assert!(buildspec(&["compile"], tmp.path()).status.success());
    std::fs::write(tmp.path().join("buildspec.kdl"), "// mine\n").unwrap();
    let out = buildspec(&["init"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "error: ./buildspec.kdl exists: init leaves it as it is (--force replaces it)\n");
    assert_eq!(std::fs::read_to_string(tmp.path().join("buildspec.kdl")).unwrap(), "// mine\n");
    let out = buildspec(&["init", "--force"], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(tmp.path().join("buildspec.kdl")).unwrap().contains("GO_VERSION"));
}

#[test]
fn init_on_a_directory_of_no_known_kind_says_what_it_looked_for() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "hi").unwrap();
    let out = buildspec(&["init", "."], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&out), @"error: no project to build in .: looked for Cargo.toml with a binary target, go.mod with a main package, package.json with a start script (or a build script and an index.html), pyproject.toml or requirements.txt with a way to start ([project.scripts], __main__.py), or an index.html");
    assert!(!tmp.path().join("buildspec.kdl").exists());
    // A library says why it gets no image; a workspace points at generate.
    std::fs::write(tmp.path().join("Cargo.toml"), "[package]\nname = \"lib\"\nversion = \"0.1.0\"\n").unwrap();
    let out = buildspec(&["init"], tmp.path());
    assert!(stderr(&out).contains("note: Rust library crate `lib`"), "{}", stderr(&out));
    let ws = workspace();
    let out = buildspec(&["init"], ws.path());
    assert!(stderr(&out).contains("run `buildspec generate .`"), "{}", stderr(&out));
}

#[test]
fn compile_all_writes_every_dockerfile_and_a_bake_file() {
    let ws = workspace();
    assert!(buildspec(&["generate"], ws.path()).status.success());
    let out = buildspec(&["compile", "--all", "-o", "out"], ws.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let bake: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ws.path().join("out/docker-bake.json")).unwrap()).unwrap();
    let targets = bake["group"]["default"]["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 7, "{bake}");
    assert_eq!(bake["target"]["crates-api"]["context"], ".");
    assert_eq!(bake["target"]["crates-api"]["dockerfile"], "out/crates/api/Dockerfile");
    assert_eq!(bake["target"]["hello"]["context"], "go");
    assert_eq!(bake["target"]["hello"]["dockerfile"], "../out/go/hello/Dockerfile");
    // Each Dockerfile is what `compile` alone writes.
    let alone = buildspec(&["compile", "go/hello/buildspec.kdl"], ws.path());
    assert_eq!(std::fs::read_to_string(ws.path().join("out/go/hello/Dockerfile")).unwrap(), stdout(&alone));
    let ignore = std::fs::read_to_string(ws.path().join("out/crates/api/Dockerfile.dockerignore")).unwrap();
    assert!(ignore.contains("!crates/shared\n") && !ignore.contains("!crates/worker\n"), "{ignore}");
}

#[test]
fn compile_all_reports_the_errors_of_every_spec_and_writes_nothing() {
    let ws = workspace();
    assert!(buildspec(&["generate"], ws.path()).status.success());
    std::fs::write(ws.path().join("docs-site/buildspec.kdl"), "buildspec 1\nruntime \"app\" from=\"scratch\" {\n    expose 0\n}\n").unwrap();
    std::fs::write(ws.path().join("go/hello/buildspec.kdl"), "buildspec 1\nruntime \"app\" {\n}\n").unwrap();
    let out = buildspec(&["compile", "--all", "-o", "out"], ws.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("[./docs-site/buildspec.kdl:3:12]") || err.contains("docs-site/buildspec.kdl:3:12]"), "{err}");
    assert!(err.contains("go/hello/buildspec.kdl:2:"), "{err}");
    assert!(err.contains("error: 2 of 7 specs did not compile"), "{err}");
    assert!(!ws.path().join("out").exists());
}

#[test]
fn plan_says_an_edit_to_one_package_rebuilds_nothing_of_another() {
    let ws = workspace();
    assert!(buildspec(&["generate"], ws.path()).status.success());
    let plan = |spec: &str, changed: &str| {
        let out = buildspec(&["plan", spec, "--changed", changed, "--format", "json"], ws.path());
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        doc["steps"].as_array().unwrap().iter().filter(|s| s["rebuild"] == true).count()
    };
    assert_eq!(plan("crates/api/buildspec.kdl", "crates/worker/src/main.rs"), 0);
    assert_eq!(plan("crates/worker/buildspec.kdl", "crates/api/src/main.rs"), 0);
    assert!(plan("crates/api/buildspec.kdl", "crates/shared/src/lib.rs") > 0);
    assert_eq!(plan("crates/worker/buildspec.kdl", "crates/shared/src/lib.rs"), 0);
    // The npm workspace's specs build from web/: paths are relative to it.
    assert_eq!(plan("web/packages/site/buildspec.kdl", "packages/api/server.js"), 0);
    assert!(plan("web/packages/api/buildspec.kdl", "packages/shared/index.js") > 0);
    assert_eq!(plan("web/packages/site/buildspec.kdl", "packages/shared/index.js"), 0);
    assert!(plan("web/packages/site/buildspec.kdl", "packages/site/index.html") > 0);
}
