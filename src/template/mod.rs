//! Specs from templates: the built-in minijinja templates (`templates/` at
//! the top of the repository, embedded in the binary), overridden by name
//! by a workspace's `.buildspec/templates/NAME.kdl.j2`, rendered with the
//! variables detection found. Every value a template prints is escaped for
//! a KDL string, so no package name or path can add a node.
//!
//! [`plan`] renders and checks every spec (pure: a plan of files to write);
//! [`write`] is the one place that writes them.

pub mod plan;
pub mod write;

use std::collections::BTreeMap;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment};

pub use plan::{plan, Action, Plan, PlanError, PlanOpts, PlannedFile};

/// The built-in templates: name → text.
pub const BUILTINS: &[(&str, &str)] = &[
    ("rust.kdl.j2", include_str!("../../templates/rust.kdl.j2")),
    ("go.kdl.j2", include_str!("../../templates/go.kdl.j2")),
    ("node-service.kdl.j2", include_str!("../../templates/node-service.kdl.j2")),
    ("node-static.kdl.j2", include_str!("../../templates/node-static.kdl.j2")),
    ("node-commands.j2", include_str!("../../templates/node-commands.j2")),
    ("python.kdl.j2", include_str!("../../templates/python.kdl.j2")),
    ("static-site.kdl.j2", include_str!("../../templates/static-site.kdl.j2")),
    ("versions.kdl.j2", include_str!("../../templates/versions.kdl.j2")),
];

/// Where a workspace's own templates live, relative to its root.
pub const USER_DIR: &str = ".buildspec/templates";

/// The toolchain each language's images start from, by default.
pub const VERSIONS: &[(&str, &str, &str, &str)] = &[
    // language key, language name, arg, default
    ("rust", "Rust", "RUST_VERSION", "1.82"),
    ("go", "Go", "GO_VERSION", "1.22"),
    ("node", "Node", "NODE_VERSION", "20"),
    ("python", "Python", "PYTHON_VERSION", "3.12"),
];

/// Where a template came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    /// A user template, by its path relative to the workspace root.
    User(String),
}

impl Origin {
    pub fn describe(&self, name: &str) -> String {
        match self {
            Origin::BuiltIn => format!("built-in template {name}"),
            Origin::User(path) => path.clone(),
        }
    }
}

/// The templates of one workspace, built-ins overridden by its own.
pub struct Templates<'a> {
    env: Environment<'a>,
    origins: BTreeMap<String, Origin>,
}

impl<'a> Templates<'a> {
    /// Built-ins, then `user` (name → (path, text)) over them. A user
    /// template that does not parse is an error here, naming its file.
    pub fn new(user: &'a BTreeMap<String, (String, String)>) -> Result<Templates<'a>, TemplateError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Custom("kdl"));
        env.set_formatter(|out, _state, value| {
            if value.is_safe() || value.is_undefined() || value.is_none() {
                if !value.is_undefined() && !value.is_none() {
                    write!(out, "{value}")?;
                }
            } else {
                out.write_str(&kdl_escape(&value.to_string()))?;
            }
            Ok(())
        });
        env.add_filter("sh", |s: String| shell_quote(&s));
        env.add_filter("dirname", |s: String| s.rsplit_once('/').map_or(".".to_owned(), |(d, _)| d.to_owned()));
        env.add_filter("basename", |s: String| s.rsplit('/').next().unwrap_or("").to_owned());
        env.add_filter("join_path", |base: String, rel: String| join_path(&base, &rel));
        env.add_global("versions", Value::from_iter(VERSIONS.iter().map(|(k, _, _, v)| (*k, *v))));
        let mut origins = BTreeMap::new();
        for (name, text) in BUILTINS {
            if !user.contains_key(*name) {
                env.add_template(name, text).map_err(|e| TemplateError::from_minijinja(&e, &Origin::BuiltIn, name))?;
                origins.insert((*name).to_owned(), Origin::BuiltIn);
            }
        }
        for (name, (path, text)) in user {
            let origin = Origin::User(path.clone());
            env.add_template(name, text).map_err(|e| TemplateError::from_minijinja(&e, &origin, name))?;
            origins.insert(name.clone(), origin);
        }
        Ok(Templates { env, origins })
    }

    pub fn origin(&self, name: &str) -> Origin {
        self.origins.get(name).cloned().unwrap_or(Origin::BuiltIn)
    }

    /// Renders `name` with `vars`.
    pub fn render(&self, name: &str, vars: &BTreeMap<String, serde_json::Value>) -> Result<String, TemplateError> {
        let origin = self.origin(name);
        let template = self.env.get_template(name).map_err(|e| TemplateError::from_minijinja(&e, &origin, name))?;
        let mut text = template.render(Value::from_serialize(vars)).map_err(|e| TemplateError::from_minijinja(&e, &origin, name))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(text)
    }
}

/// A template that does not parse or render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The template's file: a user template's path, or the built-in's name.
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl TemplateError {
    fn from_minijinja(err: &minijinja::Error, origin: &Origin, name: &str) -> TemplateError {
        // The error may be in another template (an import).
        let file = match err.name() {
            Some(other) if other != name => other.to_owned(),
            _ => origin.describe(name),
        };
        let mut message = err.kind().to_string();
        if let Some(detail) = err.detail() {
            message = format!("{message}: {detail}");
        }
        TemplateError { file, line: err.line(), message }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Text made safe inside a KDL string: quotes, backslashes, control
/// characters and the code points KDL v2 refuses in a document (bidi
/// controls, BOM, line and paragraph separators) escaped.
pub fn kdl_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(c, '\u{200e}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// `s` as a quoted KDL string.
pub fn kdl_string(s: &str) -> String {
    format!("\"{}\"", kdl_escape(s))
}

/// A word for a POSIX shell: as it is when it has only safe characters,
/// else in single quotes.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `base/rel` with a `.` rel meaning base itself.
fn join_path(base: &str, rel: &str) -> String {
    let rel = rel.trim_start_matches("./").trim_end_matches('/');
    if rel.is_empty() || rel == "." { base.to_owned() } else { format!("{}/{rel}", base.trim_end_matches('/')) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_break_out_of_kdl_strings_or_shell_words() {
        assert_eq!(kdl_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        // Bidi controls would make the rendered spec no KDL at all.
        let bidi = "api\u{202e}\u{2066}x";
        assert_eq!(kdl_escape(bidi), "api\\u{202e}\\u{2066}x");
        let doc = format!("label \"{}\"", kdl_escape(bidi));
        assert!(kdl::KdlDocument::parse(&doc).is_ok(), "{doc}");
        assert_eq!(shell_quote("crates/api"), "crates/api");
        assert_eq!(shell_quote("it's $x"), "'it'\\''s $x'");
        assert_eq!(join_path("/app", "."), "/app");
        assert_eq!(join_path("/app", "svc/api"), "/app/svc/api");
    }
}
