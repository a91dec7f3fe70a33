//! A checked view of one KDL node: positional arguments, properties and
//! children, with every misuse (unknown or duplicate property, wrong type,
//! wrong count) reported as a diagnostic at the offending token.

use indexmap::IndexMap;
use kdl::{KdlEntry, KdlNode, KdlValue};

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{Span, Spanned};
use crate::syntax::names;

/// One node being lowered. Properties are looked up by name; asking for a
/// property marks it used, and [`NodeView::finish`] reports the others.
pub struct NodeView<'a> {
    pub node: &'a KdlNode,
    pub name: &'a str,
    pub name_span: Span,
    pub args: Vec<&'a KdlEntry>,
    props: IndexMap<&'a str, &'a KdlEntry>,
    allowed: &'static [&'static str],
}

impl<'a> NodeView<'a> {
    /// Opens `node`, which may take the properties in `allowed`.
    pub fn open(
        node: &'a KdlNode,
        allowed: &'static [&'static str],
        diags: &mut Diagnostics,
    ) -> NodeView<'a> {
        let mut args = Vec::new();
        let mut props: IndexMap<&str, &KdlEntry> = IndexMap::new();
        for entry in node.entries() {
            match entry.name() {
                None => args.push(entry),
                Some(key) => {
                    if let Some(first) = props.get(key.value()) {
                        diags.push(
                            Diagnostic::error(
                                Code::DuplicateProperty,
                                entry.span().into(),
                                format!("property `{}` is given twice", key.value()),
                            )
                            .label("given again here")
                            .related(first.span().into(), "first given here")
                            .help("remove one of them"),
                        );
                    }
                    props.insert(key.value(), entry);
                }
            }
        }
        let name = node.name().value();
        NodeView { node, name, name_span: node.name().span().into(), args, props, allowed }
    }

    /// Reports properties not in the allowed list, with a suggestion.
    pub fn finish(self, diags: &mut Diagnostics) {
        for (key, entry) in &self.props {
            if !self.allowed.contains(key) {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownProperty,
                        entry.span().into(),
                        format!("`{}` has no property `{key}`", self.name),
                    )
                    .label("unknown property")
                    .help(names::help_for(key, self.allowed)),
                );
            }
        }
    }

    /// All properties, for nodes like `env` and `label` whose property names
    /// are the user's keys.
    pub fn all_props(&self) -> impl Iterator<Item = (&'a str, &'a KdlEntry)> + '_ {
        self.props.iter().map(|(k, v)| (*k, *v))
    }

    pub fn prop(&self, key: &str) -> Option<&'a KdlEntry> {
        self.props.get(key).copied()
    }

    pub fn prop_str(&self, key: &str, diags: &mut Diagnostics) -> Option<Spanned<String>> {
        self.prop(key).and_then(|e| entry_str(e, diags))
    }

    pub fn prop_bool(&self, key: &str, diags: &mut Diagnostics) -> Option<bool> {
        let entry = self.prop(key)?;
        match entry.value() {
            KdlValue::Bool(b) => Some(*b),
            other => {
                diags.push(wrong_type(entry, "a boolean (#true or #false)", other));
                None
            }
        }
    }

    /// Checks that there are between `min` and `max` positional arguments.
    pub fn arg_count(&self, min: usize, max: usize, what: &str, diags: &mut Diagnostics) -> bool {
        let n = self.args.len();
        if n >= min && n <= max {
            return true;
        }
        let noun = |n: usize| if n == 1 { what.trim_end_matches('s').replace("s (", " (") } else { what.to_owned() };
        let expected = match (min, max) {
            (a, b) if a == b => format!("exactly {a} {}", noun(a)),
            (a, usize::MAX) => format!("at least {a} {}", noun(a)),
            (a, b) => format!("{a} to {b} {}", noun(b)),
        };
        let span = if n > max { self.args[max].span().into() } else { self.name_span };
        let label = if n > max { "unexpected argument" } else { "missing argument" };
        diags.push(
            Diagnostic::error(
                Code::WrongArgumentCount,
                span,
                format!("`{}` takes {expected}, found {n}", self.name),
            )
            .label(label),
        );
        false
    }

    /// Positional arguments that must all be strings.
    pub fn args_str(&self, diags: &mut Diagnostics) -> Vec<Spanned<String>> {
        self.args.iter().filter_map(|e| entry_str(e, diags)).collect()
    }

    /// Reports children when the node takes none.
    pub fn no_children(&self, diags: &mut Diagnostics) {
        if let Some(children) = self.node.children() {
            diags.push(
                Diagnostic::error(
                    Code::UnknownNode,
                    children.span().into(),
                    format!("`{}` takes no children", self.name),
                )
                .label("unexpected block")
                .help("remove the `{ … }` block"),
            );
        }
    }

    /// The child nodes, reporting any whose name is not in `allowed`.
    pub fn children(&self, allowed: &[&str], diags: &mut Diagnostics) -> Vec<&'a KdlNode> {
        let Some(doc) = self.node.children() else { return Vec::new() };
        let mut res = Vec::new();
        for child in doc.nodes() {
            if allowed.contains(&child.name().value()) {
                res.push(child);
            } else {
                diags.push(unknown_node(child, allowed, &format!("inside `{}`", self.name)));
            }
        }
        res
    }
}

pub fn unknown_node(node: &KdlNode, allowed: &[&str], place: &str) -> Diagnostic {
    let name = node.name().value();
    Diagnostic::error(
        Code::UnknownNode,
        node.name().span().into(),
        format!("unknown node `{name}` {place}"),
    )
    .label("unknown node")
    .help(names::help_for(name, allowed))
}

pub fn entry_str(entry: &KdlEntry, diags: &mut Diagnostics) -> Option<Spanned<String>> {
    match entry.value() {
        KdlValue::String(s) => Some(Spanned::new(s.clone(), entry.span().into())),
        other => {
            diags.push(wrong_type(entry, "a string", other));
            None
        }
    }
}

/// A string, or an integer written as its decimal digits (`user 65532`,
/// `expose 8080`, `size=65536`).
pub fn entry_str_or_int(entry: &KdlEntry, diags: &mut Diagnostics) -> Option<Spanned<String>> {
    match entry.value() {
        KdlValue::String(s) => Some(Spanned::new(s.clone(), entry.span().into())),
        KdlValue::Integer(i) => Some(Spanned::new(i.to_string(), entry.span().into())),
        other => {
            diags.push(wrong_type(entry, "a string or an integer", other));
            None
        }
    }
}

pub fn wrong_type(entry: &KdlEntry, expected: &str, found: &KdlValue) -> Diagnostic {
    let found = match found {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a number with a fraction",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    };
    Diagnostic::error(Code::WrongType, entry.span().into(), format!("expected {expected}, found {found}"))
        .label(found.to_string())
        .help(format!("write {expected} here"))
}

impl NodeView<'_> {
    /// Closes a node whose property names are free-form keys.
    pub fn finish_all_props(self) {}
}
