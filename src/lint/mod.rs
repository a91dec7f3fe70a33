//! `buildspec lint`: the mistakes that make an image unsafe or wasteful,
//! found in the spec before any build, each with a stable code, the spec
//! span and a one-line fix. Pure: a spec's graph in, diagnostics out.
//!
//! Findings are warnings (lint fails on them) or advice (shown, never
//! failing). `lint { allow "CODE" … }` in the spec silences a rule for
//! the whole spec. The rules themselves are in [`rules`].

mod rules;

use crate::diag::{Code, Diagnostic, Severity};
use crate::graph::Graph;
use crate::source::Spanned;

/// Every lint rule. The string form (`buildspec::lint::root_user`) is a
/// public interface, listed in docs/lint.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A runtime image runs as root: no `user`, or uid 0.
    RootUser,
    /// A base image without a tag, or tagged `latest`.
    UnpinnedBase,
    /// A base image pinned by tag but not by digest (advice).
    NotPinnedByDigest,
    /// `add` of a URL without `checksum=`.
    AddWithoutChecksum,
    /// A download piped into a shell (`curl … | sh`).
    PipeToShell,
    /// A value that looks like a secret in `env`, `arg` or `label`.
    SecretInValue,
    /// A package install in a runtime that leaves recommended packages
    /// or the package lists in the image.
    PackageCachesInRuntime,
    /// A runtime based on a toolchain image (golang, rust, gcc, an SDK).
    RuntimeOnToolchain,
    /// A test stage that gates no image.
    TestGatesNothing,
    /// A runtime that exposes a port and has no healthcheck (advice).
    ServiceWithoutHealthcheck,
    /// An exec-form `cmd`, `entrypoint` or `healthcheck` whose one argument
    /// holds spaces: it names a program that does not exist.
    ExecFormWithSpaces,
    /// A second `cmd`, `entrypoint` or `healthcheck` in one stage: only the
    /// last takes effect.
    OverriddenInstruction,
    /// A RUN whose pipeline can fail unseen: `a | b` succeeds when `a`
    /// fails, unless the script sets `pipefail`.
    PipeWithoutPipefail,
}

impl Rule {
    pub const ALL: &'static [Rule] = &[
        Rule::RootUser,
        Rule::UnpinnedBase,
        Rule::NotPinnedByDigest,
        Rule::AddWithoutChecksum,
        Rule::PipeToShell,
        Rule::SecretInValue,
        Rule::PackageCachesInRuntime,
        Rule::RuntimeOnToolchain,
        Rule::TestGatesNothing,
        Rule::ServiceWithoutHealthcheck,
        Rule::ExecFormWithSpaces,
        Rule::OverriddenInstruction,
        Rule::PipeWithoutPipefail,
    ];

    /// The short name, as `lint { allow }` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::RootUser => "root_user",
            Rule::UnpinnedBase => "unpinned_base",
            Rule::NotPinnedByDigest => "not_pinned_by_digest",
            Rule::AddWithoutChecksum => "add_without_checksum",
            Rule::PipeToShell => "pipe_to_shell",
            Rule::SecretInValue => "secret_in_value",
            Rule::PackageCachesInRuntime => "package_caches_in_runtime",
            Rule::RuntimeOnToolchain => "runtime_on_toolchain",
            Rule::TestGatesNothing => "test_gates_nothing",
            Rule::ServiceWithoutHealthcheck => "service_without_healthcheck",
            Rule::ExecFormWithSpaces => "exec_form_with_spaces",
            Rule::OverriddenInstruction => "overridden_instruction",
            Rule::PipeWithoutPipefail => "pipe_without_pipefail",
        }
    }

    /// The stable code string, `buildspec::lint::<name>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::RootUser => "buildspec::lint::root_user",
            Rule::UnpinnedBase => "buildspec::lint::unpinned_base",
            Rule::NotPinnedByDigest => "buildspec::lint::not_pinned_by_digest",
            Rule::AddWithoutChecksum => "buildspec::lint::add_without_checksum",
            Rule::PipeToShell => "buildspec::lint::pipe_to_shell",
            Rule::SecretInValue => "buildspec::lint::secret_in_value",
            Rule::PackageCachesInRuntime => "buildspec::lint::package_caches_in_runtime",
            Rule::RuntimeOnToolchain => "buildspec::lint::runtime_on_toolchain",
            Rule::TestGatesNothing => "buildspec::lint::test_gates_nothing",
            Rule::ServiceWithoutHealthcheck => "buildspec::lint::service_without_healthcheck",
            Rule::ExecFormWithSpaces => "buildspec::lint::exec_form_with_spaces",
            Rule::OverriddenInstruction => "buildspec::lint::overridden_instruction",
            Rule::PipeWithoutPipefail => "buildspec::lint::pipe_without_pipefail",
        }
    }

    /// Advice is shown and never fails `lint`; warnings fail it.
    pub fn severity(self) -> Severity {
        match self {
            Rule::NotPinnedByDigest | Rule::ServiceWithoutHealthcheck => Severity::Advice,
            _ => Severity::Warning,
        }
    }

    /// One line on what the rule catches, for SARIF and the docs.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::RootUser => "the runtime image runs as root",
            Rule::UnpinnedBase => "the base image has no tag, or the tag `latest`",
            Rule::NotPinnedByDigest => "the base image is pinned by tag, not by digest",
            Rule::AddWithoutChecksum => "`add` of a URL without `checksum=`",
            Rule::PipeToShell => "a download piped into a shell",
            Rule::SecretInValue => "a value that looks like a secret in `env`, `arg` or `label`",
            Rule::PackageCachesInRuntime => "a package install that leaves recommended packages or package lists in a runtime",
            Rule::RuntimeOnToolchain => "a runtime based on a toolchain image",
            Rule::TestGatesNothing => "a test stage that gates no image",
            Rule::ServiceWithoutHealthcheck => "a runtime that exposes a port without a healthcheck",
            Rule::ExecFormWithSpaces => "an exec-form command whose one argument holds spaces",
            Rule::OverriddenInstruction => "a second `cmd`, `entrypoint` or `healthcheck` in one stage",
            Rule::PipeWithoutPipefail => "a RUN pipeline whose failure goes unseen without `pipefail`",
        }
    }

    fn by_name(name: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.name() == name || r.as_str() == name)
    }
}

/// The findings of every rule the spec does not allow, sorted by place,
/// and an error for each `allow` that names no rule.
pub fn lint(graph: &Graph, allow: &[Spanned<String>]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut allowed = Vec::new();
    for name in allow {
        match Rule::by_name(name) {
            Some(rule) => allowed.push(rule),
            None => {
                let names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
                let help = match crate::syntax::names::suggest(name, names.iter().copied()) {
                    Some(it) => format!("did you mean `{it}`?"),
                    None => format!("the rules are: {}", names.join(", ")),
                };
                out.push(Diagnostic::error(Code::InvalidValue, name.span, format!("`allow` names no lint rule `{}`", name.value)).label("unknown rule").help(help));
            }
        }
    }
    for finding in rules::all(graph) {
        let Code::Lint(rule) = finding.code else { continue };
        if !allowed.contains(&rule) {
            out.push(finding);
        }
    }
    out.sort_by_key(|d| (d.span.map(|s| s.offset), d.code));
    out
}

/// A finding of `rule` at `span`.
fn finding(rule: Rule, span: crate::source::Span, message: impl Into<String>, label: &str, help: impl Into<String>) -> Diagnostic {
    Diagnostic { severity: rule.severity(), ..Diagnostic::error(Code::Lint(rule), span, message) }.label(label).help(help)
}
