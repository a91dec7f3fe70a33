//! `buildspec graph` through the CLI: a snapshot per example spec and
//! format; the JSON follows docs/schemas/graph.schema.json; mermaid's own
//! parser reads the Mermaid (scripts/mermaid-check).

mod support;

use std::process::Command;

use support::{buildspec, example_dirs, root, schema, schema_errors, stderr, stdout};

fn graph(dir: &std::path::Path, format: &str) -> String {
    let out = buildspec(&["graph", "--format", format], dir);
    assert!(out.status.success(), "{}: {}", dir.display(), stderr(&out));
    stdout(&out)
}

#[test]
fn every_example_graph_matches_its_snapshots() {
    for dir in example_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        for format in ["mermaid", "dot", "json"] {
            insta::assert_snapshot!(format!("{name}.{format}"), graph(&dir, format));
        }
    }
}

#[test]
fn json_follows_its_schema() {
    let validator = schema("graph");
    for dir in example_dirs() {
        let doc: serde_json::Value = serde_json::from_str(&graph(&dir, "json")).unwrap();
        let errors = schema_errors(&validator, &doc);
        assert!(errors.is_empty(), "{}: {errors:?}", dir.display());
        // Every edge joins things the document names, and waves hold each stage once.
        let stages: Vec<&str> = doc["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        let images: Vec<&str> = doc["images"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        for e in doc["edges"].as_array().unwrap() {
            let from = e["from"].as_str().unwrap();
            assert!(if e["image"].as_bool().unwrap() { images.contains(&from) } else { stages.contains(&from) }, "{}: edge from {from}", dir.display());
            assert!(stages.contains(&e["to"].as_str().unwrap()));
        }
        let mut in_waves: Vec<&str> = doc["waves"].as_array().unwrap().iter().flat_map(|w| w.as_array().unwrap().iter().map(|s| s.as_str().unwrap())).collect();
        in_waves.sort();
        let mut sorted = stages.clone();
        sorted.sort();
        assert_eq!(in_waves, sorted, "{}", dir.display());
    }
    // The check can fail: a document with a wrong role is caught.
    let bad = serde_json::json!({"schema_version": 1, "target": "a", "stages": [{"name": "a", "role": "shipper", "from": "x", "steps": 0, "wave": 0}], "images": [], "edges": [], "waves": [["a"]]});
    assert!(!validator.is_valid(&bad));
}

#[test]
fn waves_are_stages_that_may_run_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("buildspec.kdl"),
        r#"buildspec 1
builder "web" from="node:20-bookworm-slim" {
    run "echo web > /web"
}
builder "api" from="golang:1.22-bookworm" {
    run "echo api > /api"
}
test "unit" from="api" {
    run "true"
}
runtime "app" from="debian:bookworm-slim" {
    copy "/web" from="web" to="/srv/web"
    copy "/api" from="api" to="/usr/local/bin/api"
}
"#,
    )
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&graph(tmp.path(), "json")).unwrap();
    assert_eq!(doc["waves"], serde_json::json!([["web", "api"], ["unit"], ["app"]]));
    assert_eq!(doc["stages"][2]["gates"], true);
    let gate = doc["edges"].as_array().unwrap().iter().find(|e| e["kind"] == "gate").expect("a gate edge");
    assert_eq!((gate["from"].as_str(), gate["to"].as_str()), (Some("unit"), Some("app")));
    let dot = graph(tmp.path(), "dot");
    assert!(dot.contains("{ rank=same; \"web\"; \"api\"; } // wave 0: may run at once"), "{dot}");
}

#[test]
fn mermaid_parses_with_mermaids_own_parser() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for dir in example_dirs() {
        let file = tmp.path().join(format!("{}.mmd", dir.file_name().unwrap().to_string_lossy()));
        std::fs::write(&file, graph(&dir, "mermaid")).unwrap();
        files.push(file);
    }
    // And a broken one, so the check is seen to fail.
    let broken = tmp.path().join("broken.mmd");
    std::fs::write(&broken, "flowchart LR\n  s0[\"a\n  s0 -->|x s1\n").unwrap();
    let check = root().join("scripts/mermaid-check/check.sh");
    let out = Command::new("bash").arg(&check).args(&files).output().unwrap();
    assert!(out.status.success(), "mermaid rejects the output:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let out = Command::new("bash").arg(&check).arg(&broken).output().unwrap();
    assert!(!out.status.success(), "the check passes anything: {}", String::from_utf8_lossy(&out.stdout));
}
