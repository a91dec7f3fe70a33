//! Detection's packages → the files `generate` (or `init`) would write, and
//! what it would do with each (create, update, leave as it is, keep a hand
//! edit). Pure: the workspace's current files come in with the [`Tree`].
//!
//! Every written file carries a header with the checksum of its body: a
//! file whose body still matches was written by buildspec and may be
//! replaced; one that does not (or has no header) is the user's and is
//! kept unless forced.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::Digest as _;

use super::{Templates, TemplateError, USER_DIR, VERSIONS};
use crate::detect::{Detection, Package, Skipped, Tree};
use crate::diag::Diagnostic;
use crate::source::{SourceFile, Sources};

/// The header line that holds the body's checksum.
const CHECKSUM_PREFIX: &str = "// buildspec-generated sha256=";

/// How to plan.
#[derive(Debug, Clone)]
pub struct PlanOpts {
    /// Replace files edited by hand too.
    pub force: bool,
    /// Put each language's toolchain version into a shared fragment
    /// (`.buildspec/LANG.kdl`, included by every spec of that language);
    /// `init` writes one self-contained spec instead.
    pub shared_fragments: bool,
}

/// What happens to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// It does not exist yet.
    Create,
    /// buildspec wrote it, nobody edited it, and it changes.
    Update,
    /// It already says what it would say.
    UpToDate,
    /// Edited by hand, or not written by buildspec: left alone.
    Kept,
    /// Edited by hand and replaced, as `--force` asked.
    Overwrite,
}

impl Action {
    pub fn writes(self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Overwrite)
    }
}

/// One file of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    /// Relative to the workspace root.
    pub path: String,
    pub action: Action,
    /// The package it is for (its directory), or none for a shared fragment.
    pub package: Option<String>,
    pub template: String,
    /// Why a file is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip)]
    pub text: String,
}

/// A package whose spec could not be made.
#[derive(Debug, Clone)]
pub enum PlanError {
    /// The template failed to parse or render.
    Render { package: String, error: TemplateError },
    /// It rendered a spec that does not compile: the spec's text and its
    /// diagnostics, to show.
    Compile { package: String, template: String, sources: Sources, diagnostics: Vec<Diagnostic> },
}

/// Everything `generate` would do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub packages: Vec<Package>,
    pub skipped: Vec<Skipped>,
    pub files: Vec<PlannedFile>,
    pub errors: Vec<PlanError>,
}

/// Renders a spec for every package detection found (and the shared
/// fragments they include), checks that each compiles, and decides per
/// file what writing would do.
pub fn plan(detection: &Detection, tree: &Tree, opts: &PlanOpts) -> Plan {
    let user = user_templates(tree);
    let mut res = Plan { packages: detection.packages.clone(), skipped: detection.skipped.clone(), ..Plan::default() };
    let templates = match Templates::new(&user) {
        Ok(t) => t,
        Err(error) => {
            res.errors.push(PlanError::Render { package: String::new(), error });
            return res;
        }
    };
    // Shared fragments first: the specs' compile check reads them.
    let mut fragments: BTreeMap<String, String> = BTreeMap::new();
    if opts.shared_fragments {
        for (key, language, arg, default) in VERSIONS {
            if !detection.packages.iter().any(|p| language_of(p.template) == Some(*key)) {
                continue;
            }
            let vars = BTreeMap::from([
                ("language".to_owned(), serde_json::Value::from(*language)),
                ("arg".to_owned(), (*arg).into()),
                ("default".to_owned(), (*default).into()),
            ]);
            match templates.render("versions.kdl.j2", &vars) {
                Ok(body) => {
                    let path = format!(".buildspec/{key}.kdl");
                    let file = decide(&path, None, "versions.kdl.j2", with_header(&body, "versions.kdl.j2", &format!("the {language} version")), tree, opts);
                    // The check compiles against what will be there.
                    let effective = if file.action == Action::Kept { tree.text(&path).unwrap_or_default().to_owned() } else { file.text.clone() };
                    fragments.insert(path, effective);
                    res.files.push(file);
                }
                Err(error) => res.errors.push(PlanError::Render { package: String::new(), error }),
            }
        }
    }
    let read = |included: &str| -> Result<String, String> {
        fragments.get(included).cloned().or_else(|| tree.text(included).map(str::to_owned)).ok_or_else(|| "no such file in the workspace".to_owned())
    };
    let one = |package: &Package| -> Result<PlannedFile, PlanError> {
        let name = format!("{}.kdl.j2", package.template);
        let mut vars = package.vars.clone();
        vars.insert("kind".into(), package.kind.clone().into());
        if !opts.shared_fragments {
            vars.insert("fragments".into(), serde_json::Value::Null);
        }
        let body = templates.render(&name, &vars).map_err(|error| PlanError::Render { package: package.dir.clone(), error })?;
        let path = crate::detect::join(&package.dir, "buildspec.kdl");
        let text = with_header(&body, &name, &package.kind);
        // A spec already on disk as it would be written is not checked
        // again: nothing is written for it.
        if tree.text(&path) != Some(text.as_str()) {
            let source = SourceFile::new(path.clone(), text.clone());
            let parsed = crate::syntax::parse_with_includes(&source, &read);
            if let Err(failure) = crate::compile_parsed(&parsed, &crate::CompileOpts::new()) {
                return Err(PlanError::Compile {
                    package: package.dir.clone(),
                    template: templates.origin(&name).describe(&name),
                    sources: failure.sources,
                    diagnostics: failure.diagnostics,
                });
            }
        }
        Ok(decide(&path, Some(package.dir.clone()), &name, text, tree, opts))
    };
    for res_one in crate::parallel::map(&detection.packages, one) {
        match res_one {
            Ok(file) => res.files.push(file),
            Err(err) => res.errors.push(err),
        }
    }
    res.files.sort_by(|a, b| a.path.cmp(&b.path));
    res
}

/// The language whose toolchain fragment a template includes.
fn language_of(template: &str) -> Option<&'static str> {
    match template {
        "rust" => Some("rust"),
        "go" => Some("go"),
        "node-service" | "node-static" => Some("node"),
        "python" => Some("python"),
        _ => None,
    }
}

/// A workspace's own templates: `.buildspec/templates/NAME` → (path, text).
fn user_templates(tree: &Tree) -> BTreeMap<String, (String, String)> {
    tree.texts
        .iter()
        .filter_map(|(path, text)| {
            let name = path.strip_prefix(&format!("{USER_DIR}/"))?;
            (!name.contains('/') && name.ends_with(".j2")).then(|| (name.to_owned(), (path.clone(), text.clone())))
        })
        .collect()
}

/// The header and the body.
fn with_header(body: &str, template: &str, what: &str) -> String {
    let what = super::kdl_escape(what).replace('\n', " ");
    format!(
        "// Generated by buildspec from template {template} ({what}).\n\
         // Edit it freely: once its text no longer matches this checksum, generate keeps it.\n\
         {CHECKSUM_PREFIX}{}\n{body}",
        hex(&sha2::Sha256::digest(body.as_bytes()))
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a file's text is as buildspec wrote it: a checksum line in its
/// header that matches the body after it.
pub fn is_pristine(text: &str) -> bool {
    let mut offset = 0;
    for line in text.split_inclusive('\n').take(6) {
        offset += line.len();
        if let Some(sum) = line.trim_end().strip_prefix(CHECKSUM_PREFIX) {
            return hex(&sha2::Sha256::digest(&text.as_bytes()[offset..])) == sum;
        }
    }
    false
}

fn decide(path: &str, package: Option<String>, template: &str, text: String, tree: &Tree, opts: &PlanOpts) -> PlannedFile {
    let (action, reason) = match tree.text(path) {
        None if !tree.has(path) => (Action::Create, None),
        Some(old) if old == text => (Action::UpToDate, None),
        Some(old) if is_pristine(old) => (Action::Update, None),
        old => {
            let why = if old.is_some_and(|o| o.contains(CHECKSUM_PREFIX)) { "edited by hand" } else { "not written by buildspec generate" };
            if opts.force {
                (Action::Overwrite, Some(why.to_owned()))
            } else {
                (Action::Kept, Some(format!("{why}; --force replaces it")))
            }
        }
    };
    PlannedFile { path: path.to_owned(), action, package, template: template.to_owned(), reason, text }
}
