//! `buildspec lint`: the lint rules over a spec, as text (rendered like
//! compile errors), JSON or SARIF 2.1.0. Exit 0 when no finding is a
//! warning (advice never fails), 1 when one is or the spec has errors.

use std::path::PathBuf;

use crate::cli::{read_spec, spec_path, Failed, Ui};
use crate::diag::{Diagnostic, Severity};
use crate::lint::Rule;
use crate::source::Sources;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// The spec file [default: ./buildspec.kdl]
    pub spec: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    pub format: LintFormat,
}

/// The version of the `--format json` document (docs/schemas/lint.schema.json).
const JSON_VERSION: u32 = 1;

pub fn run(args: &LintArgs, ui: &Ui) -> Result<(), Failed> {
    let path = spec_path(args.spec.as_deref());
    let parsed = read_spec(&path, ui)?;
    let compiled = as_written(&parsed).map_err(|f| ui.failure(&f))?;
    let findings = crate::lint::lint(&compiled.graph, &parsed.spec.lint_allow);
    let failing = findings.iter().filter(|d| d.severity != Severity::Advice).count();
    match args.format {
        LintFormat::Text => {
            ui.diagnostics(&compiled.sources, &findings);
            let notes = findings.len() - failing;
            let name = &compiled.sources.root().name;
            if findings.is_empty() {
                eprintln!("lint: {name}: no findings");
            } else {
                eprintln!("lint: {name}: {failing} warning{}, {notes} note{}", plural(failing), plural(notes));
            }
        }
        LintFormat::Json => println!("{}", serde_json::to_string_pretty(&json(&compiled.sources, &findings)).expect("JSON")),
        LintFormat::Sarif => println!("{}", serde_json::to_string_pretty(&sarif(&compiled.sources, &findings)).expect("JSON")),
    }
    if failing > 0 { Err(Failed) } else { Ok(()) }
}

/// The spec compiled as written: the rules judge what the user wrote,
/// not the optimizer's rewrites (test gating stays: it says what a test
/// gates), for any frontend.
fn as_written(parsed: &crate::syntax::ParsedSpec) -> Result<crate::Compiled, crate::diag::Failure> {
    let opts = crate::CompileOpts { optimize: false, frontend: crate::Frontend::Direct, ..crate::CompileOpts::new() };
    crate::compile_parsed(parsed, &opts)
}

/// The lint findings of a spec that compiles (for `compile --lint`).
pub(crate) fn findings(parsed: &crate::syntax::ParsedSpec) -> Option<Vec<Diagnostic>> {
    as_written(parsed).ok().map(|compiled| crate::lint::lint(&compiled.graph, &parsed.spec.lint_allow))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Where a span starts and ends: the file as the CLI named it, 1-based
/// lines and columns (columns in characters).
struct Region {
    file: String,
    start: (usize, usize),
    end: (usize, usize),
}

fn region(sources: &Sources, d: &Diagnostic) -> Option<Region> {
    let span = d.span?;
    let file = sources.file_of(span.offset);
    let at = |offset: usize| {
        let local = offset.saturating_sub(file.base).min(file.text.len());
        let before = &file.text[..floor_char_boundary(&file.text, local)];
        let line = file.line_of(before.len());
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        (line, column)
    };
    Some(Region { file: file.name.clone(), start: at(span.offset), end: at(span.offset + span.len) })
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Advice => "note",
    }
}

fn json(sources: &Sources, findings: &[Diagnostic]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = findings
        .iter()
        .map(|d| {
            let r = region(sources, d);
            serde_json::json!({
                "code": d.code.as_str(),
                "severity": severity_name(d.severity),
                "message": d.message,
                "help": d.help,
                "file": r.as_ref().map(|r| r.file.clone()),
                "line": r.as_ref().map(|r| r.start.0),
                "column": r.as_ref().map(|r| r.start.1),
                "end_line": r.as_ref().map(|r| r.end.0),
                "end_column": r.as_ref().map(|r| r.end.1),
            })
        })
        .collect();
    serde_json::json!({ "schema_version": JSON_VERSION, "spec": sources.root().name, "findings": items })
}

fn sarif(sources: &Sources, findings: &[Diagnostic]) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = Rule::ALL
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.as_str(),
                "name": r.name(),
                "shortDescription": { "text": r.summary() },
                "defaultConfiguration": { "level": severity_name(r.severity()) },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|d| {
            let mut result = serde_json::json!({
                "ruleId": d.code.as_str(),
                "level": severity_name(d.severity),
                "message": { "text": match &d.help { Some(help) => format!("{} (fix: {help})", d.message), None => d.message.clone() } },
            });
            if let Some(index) = Rule::ALL.iter().position(|r| r.as_str() == d.code.as_str()) {
                result["ruleIndex"] = index.into();
            }
            if let Some(r) = region(sources, d) {
                result["locations"] = serde_json::json!([{
                    "physicalLocation": {
                        "artifactLocation": { "uri": r.file },
                        "region": { "startLine": r.start.0, "startColumn": r.start.1, "endLine": r.end.0, "endColumn": r.end.1 },
                    }
                }]);
            }
            result
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": { "name": "buildspec", "version": env!("CARGO_PKG_VERSION"), "rules": rules } },
            "results": results,
        }],
    })
}
