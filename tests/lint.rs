//! `buildspec lint` through the CLI: one fixture per rule that fires it
//! and one that does not (tests/cli/lint/), each rendered finding
//! snapshot-tested, `lint { allow }`, exit codes, and the JSON and SARIF
//! outputs (SARIF checked against the 2.1.0 schema).

mod support;

use buildspec::lint::Rule;
use support::{buildspec, root, stderr, stdout};

fn lint_json(path: &std::path::Path) -> (i32, serde_json::Value) {
    let out = buildspec(&["lint", "--format", "json", path.to_str().unwrap()], &root());
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), doc)
}

fn codes(doc: &serde_json::Value) -> Vec<String> {
    doc["findings"].as_array().map(|a| a.iter().map(|f| f["code"].as_str().unwrap().to_owned()).collect()).unwrap_or_default()
}

#[test]
fn every_rule_fires_on_its_fixture_and_not_on_its_counterpart() {
    let dir = root().join("tests/cli/lint");
    for rule in Rule::ALL {
        let (_, fires) = lint_json(&dir.join(format!("{}.kdl", rule.name())));
        assert!(codes(&fires).iter().any(|c| c == rule.as_str()), "{}.kdl does not fire {}: {fires}", rule.name(), rule.as_str());
        let (_, quiet) = lint_json(&dir.join(format!("{}_ok.kdl", rule.name())));
        assert!(!codes(&quiet).iter().any(|c| c == rule.as_str()), "{}_ok.kdl fires {}: {quiet}", rule.name(), rule.as_str());
    }
}

#[test]
fn findings_render_with_span_and_fix() {
    insta::glob!("cli/lint", "*.kdl", |path| {
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.ends_with("_ok.kdl") {
            return;
        }
        let out = buildspec(&["lint", name], path.parent().unwrap());
        insta::assert_snapshot!(format!("exit: {}\n{}", out.status.code().unwrap_or(-1), stderr(&out)));
    });
}

#[test]
fn warnings_fail_advice_does_not_and_allow_silences() {
    let dir = root().join("tests/cli/lint");
    // Only advice (a tag without a digest): exit 0.
    assert_eq!(lint_json(&dir.join("not_pinned_by_digest.kdl")).0, 0);
    assert_eq!(lint_json(&dir.join("root_user.kdl")).0, 1);
    // `allow` silences root_user and the digest note, by short or full name.
    let (code, doc) = lint_json(&dir.join("allow.kdl"));
    assert_eq!((code, codes(&doc)), (0, Vec::<String>::new()));
    // An allow that names no rule is an error with a suggestion.
    let out = buildspec(&["lint", "allow_unknown.kdl"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("did you mean `root_user`?"), "{}", stderr(&out));
}

#[test]
fn sarif_output_follows_the_2_1_0_schema() {
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root().join("tests/fixtures/sarif-schema-2.1.0.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let dir = root().join("tests/cli/lint");
    for name in ["secret_in_value.kdl", "exec_form_with_spaces.kdl", "root_user_ok.kdl"] {
        let out = buildspec(&["lint", "--format", "sarif", name], &dir);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: {e}: {}", stdout(&out)));
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path)).collect();
        assert!(errors.is_empty(), "{name}: SARIF does not validate:\n{}", errors.join("\n"));
        let results = doc["runs"][0]["results"].as_array().unwrap();
        assert!(!results.is_empty());
        assert!(results.iter().all(|r| r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64().is_some()));
    }
    // A document that breaks the schema is caught: the check can fail.
    assert!(!validator.is_valid(&serde_json::json!({"version": "2.0.0", "runs": []})));
}

#[test]
fn docs_list_every_rule() {
    let doc = std::fs::read_to_string(root().join("docs/lint.md")).unwrap();
    for rule in Rule::ALL {
        assert!(doc.contains(rule.as_str()), "docs/lint.md does not list {}", rule.as_str());
    }
}

#[test]
fn the_example_specs_lint_without_error() {
    for entry in std::fs::read_dir(root().join("specs")).unwrap() {
        let dir = entry.unwrap().path();
        let (code, doc) = lint_json(&dir.join("buildspec.kdl"));
        assert!(code == 0 || code == 1, "{}: exit {code}", dir.display());
        assert!(!codes(&doc).iter().any(|c| !c.starts_with("buildspec::lint::")), "{}: {doc}", dir.display());
    }
}

#[test]
fn compile_shows_findings_with_lint_and_still_succeeds() {
    let dir = root().join("tests/cli/lint");
    let with = buildspec(&["compile", "--lint", "root_user.kdl"], &dir);
    assert!(with.status.success(), "{}", stderr(&with));
    assert!(stderr(&with).contains("buildspec::lint::root_user"), "{}", stderr(&with));
    assert!(stdout(&with).contains("FROM debian:bookworm-slim"));
    let without = buildspec(&["compile", "root_user.kdl"], &dir);
    assert!(!stderr(&without).contains("buildspec::lint"), "{}", stderr(&without));
}
