//! Every `--format json` document follows its schema in docs/schemas:
//! explain, plan and lint for every example spec through the CLI (graph's
//! and build's are checked in tests/graph.rs and tests/oci_backend.rs).

mod support;

use support::{buildspec, example_dirs, schema, schema_errors, stderr, stdout};

fn check(validator: &jsonschema::Validator, doc: &serde_json::Value, what: &str) {
    let errors = schema_errors(validator, doc);
    assert!(errors.is_empty(), "{what}: {errors:?}\n{doc:#}");
}

#[test]
fn explain_plan_and_lint_follow_their_schemas() {
    let (explain, plan, lint) = (schema("explain"), schema("plan"), schema("lint"));
    let mut findings = 0;
    for dir in &example_dirs() {
        let json = |args: &[&str]| -> serde_json::Value {
            let out = buildspec(args, dir);
            // lint exits 1 when it finds errors; its document is still whole.
            assert!(out.status.code().is_some_and(|c| c <= 1), "{args:?} in {}: {}", dir.display(), stderr(&out));
            serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{args:?} in {}: {e}", dir.display()))
        };
        check(&explain, &json(&["explain", "--format", "json"]), &format!("explain {}", dir.display()));
        check(&plan, &json(&["plan", "--format", "json", "--changed", "src/main.rs", "README.md"]), &format!("plan {}", dir.display()));
        let doc = json(&["lint", "--format", "json"]);
        findings += doc["findings"].as_array().map_or(0, Vec::len);
        check(&lint, &doc, &format!("lint {}", dir.display()));
    }
    assert!(findings > 0, "no example has a lint finding: the lint schema's findings went unchecked");
    // The checks can fail.
    assert!(!plan.is_valid(&serde_json::json!({"schema_version": 1, "target": "a", "changed": [], "steps": [{"stage": "a"}]})));
    assert!(!explain.is_valid(&serde_json::json!({"schema_version": 2, "target": "a", "stages": [], "rewrites": []})));
}
