//! `include "PATH"` through the real CLI: paths relative to the including
//! file, fragments at the top level and inside stages, diagnostics placed
//! in the included file, cycles across files, missing files.

mod support;

use std::path::Path;

use support::{buildspec, stderr, stdout};

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const SPEC: &str = r#"buildspec 1
include "../../.buildspec/versions.kdl"

runtime "app" from="debian:${DEBIAN}-slim" {
    include "../../.buildspec/runtime.kdl"
    entrypoint "/bin/true"
}
"#;

#[test]
fn fragments_resolve_against_the_including_file_and_comments_name_them() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("services/api/buildspec.kdl", SPEC),
            (".buildspec/versions.kdl", "include \"base/debian.kdl\"\n"),
            (".buildspec/base/debian.kdl", "arg \"DEBIAN\" default=\"bookworm\"\n"),
            (".buildspec/runtime.kdl", "user 65532\nlabel \"org.opencontainers.image.vendor\"=\"acme\"\ncopy \"conf\" to=\"/etc/app\"\n"),
        ],
    );
    let out = buildspec(&["compile", "services/api/buildspec.kdl"], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let dockerfile = stdout(&out);
    assert!(dockerfile.contains("ARG DEBIAN=bookworm"), "{dockerfile}");
    assert!(dockerfile.contains("FROM debian:${DEBIAN}-slim AS app"), "{dockerfile}");
    assert!(dockerfile.contains("USER 65532"), "{dockerfile}");
    assert!(dockerfile.contains("LABEL org.opencontainers.image.vendor=acme") || dockerfile.contains("org.opencontainers.image.vendor"), "{dockerfile}");
    // The stage comment names the spec file; plan names the fragment's line.
    assert!(dockerfile.contains("# runtime \"app\" (buildspec.kdl:4)"), "{dockerfile}");
    let out = buildspec(&["plan", "services/api/buildspec.kdl", "--changed", "conf/app.toml"], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("rebuild  ../../.buildspec/runtime.kdl:3"), "{}", stdout(&out));
}

#[test]
fn an_error_inside_an_included_file_names_that_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("services/api/buildspec.kdl", SPEC),
            (".buildspec/versions.kdl", "arg \"DEBIAN\" default=\"bookworm\"\n"),
            (".buildspec/runtime.kdl", "// shared\nuser 65532\nexpose 99999\n"),
        ],
    );
    let out = buildspec(&["compile", "services/api/buildspec.kdl"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("[services/api/../../.buildspec/runtime.kdl:3:8]") || err.contains(".buildspec/runtime.kdl:3:8]"), "{err}");
    assert!(err.contains("buildspec::spec::invalid_port"), "{err}");
    assert!(err.contains("3 │ expose 99999"), "{err}");
}

#[test]
fn kdl_errors_and_misplaced_nodes_in_fragments_are_placed_there() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("buildspec.kdl", "buildspec 1\ninclude \"top.kdl\"\nruntime \"app\" from=\"scratch\" {\n    include \"steps.kdl\"\n}\n"),
            ("top.kdl", "context \".\"\n"),
            ("steps.kdl", "runtime \"nested\" from=\"scratch\"\nuser 1 {\n"),
        ],
    );
    let out = buildspec(&["compile"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("[steps.kdl:"), "{err}");
    let steps = std::fs::write(tmp.path().join("steps.kdl"), "runtime \"nested\" from=\"scratch\"\n");
    steps.unwrap();
    let out = buildspec(&["compile"], tmp.path());
    let err = stderr(&out);
    assert!(err.contains("`context` belongs in the spec file"), "{err}");
    assert!(err.contains("[top.kdl:1:1]"), "{err}");
    assert!(err.contains("unknown node `runtime` inside `runtime` (through an include)") || err.contains("(through an include)"), "{err}");
    assert!(err.contains("[steps.kdl:1:1]"), "{err}");
}

#[test]
fn a_cycle_through_two_fragments_and_a_missing_one_are_both_reported() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("buildspec.kdl", "buildspec 1\ninclude \"a.kdl\"\ninclude \"gone.kdl\"\nruntime \"app\" from=\"scratch\" {\n    entrypoint \"/x\"\n}\n"),
            ("a.kdl", "include \"sub/b.kdl\"\n"),
            ("sub/b.kdl", "include \"../a.kdl\"\n"),
        ],
    );
    let out = buildspec(&["compile"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("`../a.kdl` includes itself: a.kdl → sub/b.kdl → a.kdl"), "{err}");
    assert!(err.contains("[sub/b.kdl:1:9]"), "{err}");
    assert!(err.contains("cannot include `gone.kdl`: no such file"), "{err}");
    assert!(err.contains("(2 errors)"), "{err}");
}
