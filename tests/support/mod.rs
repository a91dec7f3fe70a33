//! Helpers shared by the integration tests: running the real `buildspec`
//! binary, and an instruction splitter for Dockerfiles written
//! independently of the emitter, following BuildKit's parser rules.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[allow(dead_code)]
pub mod engine;
#[allow(dead_code)]
pub mod fault_proxy;
#[allow(dead_code)]
pub mod registry;
mod split;
#[allow(unused_imports)]
pub use split::{split_dockerfile, SplitInstruction};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example specs' directories (`specs/*/` holding a buildspec.kdl), sorted.
pub fn example_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(root().join("specs")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("buildspec.kdl").is_file()).collect();
    dirs.sort();
    dirs
}

/// The JSON Schema docs/schemas/NAME.schema.json, compiled.
pub fn schema(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("docs/schemas").join(format!("{name}.schema.json"))).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).expect("the schema compiles")
}

/// Each way `doc` breaks `schema`, with where.
pub fn schema_errors(schema: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    schema.iter_errors(doc).map(|e| format!("{e} at {}", e.instance_path)).collect()
}

/// Runs `buildspec ARGS…` in `cwd` with no stdin and colors off.
pub fn buildspec(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_buildspec"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run buildspec")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8 stderr")
}

/// `s` as a KDL v2 quoted string.
pub fn kdl_string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || ('\u{200E}'..='\u{200F}').contains(&c)
                || ('\u{202A}'..='\u{202E}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
                || c == '\u{FEFF}'
                || c == '\u{2028}'
                || c == '\u{2029}'
                || c == '\u{85}' =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
