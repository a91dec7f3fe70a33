//! Every diagnostic buildspec reports, through the real CLI: one fixture
//! per diagnostic code in tests/cli/errors/, its stderr and exit code
//! snapshotted. A first line `// args: …` adds command-line arguments.

mod support;

use buildspec::diag::Code;
use support::{buildspec, root, stderr, stdout};

#[test]
fn error_fixtures() {
    insta::glob!("cli/errors", "*.kdl", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let extra: Vec<&str> = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// args: "))
            .map(|a| a.split_whitespace().collect())
            .unwrap_or_default();
        let name = path.file_name().unwrap().to_str().unwrap();
        let mut args = vec!["compile", name];
        args.extend(extra);
        let out = buildspec(&args, path.parent().unwrap());
        let code = out.status.code().expect("exited");
        assert!(code == 0 || code == 1, "spec errors exit with 1, got {code}");
        if code == 1 {
            assert_eq!(stdout(&out), "", "nothing on stdout when compiling fails");
        }
        insta::assert_snapshot!(format!("exit: {code}\n{}", stderr(&out)));
    });
}

/// Each code's name is the fixture's name, so no code goes untested.
#[test]
fn every_code_has_a_fixture() {
    for code in Code::ALL {
        let name = code.as_str().rsplit("::").next().unwrap();
        let path = root().join("tests/cli/errors").join(format!("{name}.kdl"));
        assert!(path.exists(), "no fixture {} for {}", path.display(), code.as_str());
    }
}

#[test]
fn usage_errors_exit_with_2() {
    let dir = root().join("specs/go-static");
    for args in [&["compile", "--frobnicate"][..], &["compile", "--syntax", "not a ref"], &["frobnicate"], &[]] {
        let out = buildspec(args, &dir);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn missing_spec_is_one_line_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let out = buildspec(&["compile"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&out), @"error: no spec at buildspec.kdl: pass the path of a buildspec.kdl, or run in a directory that has one");
}

#[test]
fn help_and_version() {
    let dir = root();
    let out = buildspec(&["--version"], &dir);
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("buildspec "));
    let out = buildspec(&["compile", "--help"], &dir);
    assert!(out.status.success());
    assert!(stdout(&out).contains("--target <NAME>"));
}

/// Nesting that would exhaust any recursive parser's stack is one spanned
/// error and exit 1, never an abort, however deep it goes.
#[test]
fn a_spec_nested_100000_deep_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("buildspec 1\nruntime \"app\" from=\"scratch\" {{\n{}{}}}\n", "a {\n".repeat(100_000), "}\n".repeat(100_000));
    std::fs::write(dir.path().join("buildspec.kdl"), deep).unwrap();
    for args in [&["compile"][..], &["graph"], &["plan", "--changed", "x"], &["lint"]] {
        let out = buildspec(args, dir.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("buildspec::syntax::too_deep") && err.contains("buildspec.kdl:66"), "{args:?}: {err}");
    }
}

/// Found by fuzzing (fuzz/, spec_to_dockerfile): 1.2 KB of unclosed quotes,
/// braces and `/-` on which the kdl crate's parser backtracks for minutes.
/// The parse gives up at its deadline: one KDL error, exit 1.
#[test]
fn a_file_the_kdl_parser_cannot_finish_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("tests/fixtures/fuzz/kdl_parser_backtracks.kdl"), dir.path().join("buildspec.kdl")).unwrap();
    let out = buildspec(&["compile"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("buildspec::syntax::kdl") && err.contains("gave up"), "{err}");
}

/// Text the kdl crate recurses on once per byte or few (found by fuzzing:
/// the crate's parser overflowed its thread's stack on 1.4 KB). Each kind,
/// at the largest size the crate is given in a debug build (21 KiB) and at
/// 100 KiB (past it in either build), is an error and exit code 1, never a
/// crash.
#[test]
fn text_the_kdl_parser_recurses_on_is_an_error_not_a_crash() {
    // Each at least 120 KB, cut to the sizes below.
    let kinds: [(&str, String); 8] = [
        ("nested block comments", "/*".repeat(60_000)),
        ("slashdash runs", format!("{}a\n\"", "/- ".repeat(40_000))),
        ("blocks hidden from the depth scan", format!("a#\"{}", "{".repeat(120_000))),
        ("nodes hidden from the depth scan", format!("a#\"{}", "x {".repeat(40_000))),
        ("type annotations", format!("a {}1\n\"", "(t)".repeat(40_000))),
        ("stars in a comment", format!("/*{}", "*".repeat(120_000))),
        ("open parentheses", "(".repeat(120_000)),
        ("blocks and slashdashes", format!("a#\"{}", "{/-".repeat(40_000))),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, body) in kinds {
        for size in [21 << 10, 100 << 10] {
            let mut text = format!("buildspec 1\n{body}");
            text.truncate(size.min(text.len()));
            std::fs::write(dir.path().join("buildspec.kdl"), &text).unwrap();
            let out = buildspec(&["compile"], dir.path());
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{what} ({} bytes): {}", text.len(), &err[err.len().saturating_sub(600)..]);
            assert!(err.contains("buildspec::syntax::kdl"), "{what}: {}", &err[..err.len().min(600)]);
            // Past the most the kdl crate is given (21 KiB debug, 64 KiB release).
            assert_eq!(text.len() > 64 << 10, err.contains("must be in the KDL subset"), "{what} ({} bytes): {}", text.len(), &err[..err.len().min(600)]);
        }
    }
}
