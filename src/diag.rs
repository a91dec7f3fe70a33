//! What users see when their spec is wrong: [`Diagnostic`]s with a stable
//! [`Code`], a primary span, secondary spans and a one-line help, and the
//! [`Failure`] that owns the source text and every diagnostic of one run.
//!
//! Problems in the user's input are diagnostics, not errors: front-end
//! functions collect them and the driver stops before emitting anything if
//! one of them is an error. They are rendered by miette.

use std::fmt;

use crate::source::{Sources, Span};

pub use miette::Severity;

/// Stable identifiers of every diagnostic buildspec can report. The string
/// form (`buildspec::spec::unknown_node`) is a public interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The file is not valid KDL.
    KdlSyntax,
    /// Children blocks nested deeper than the parsers take.
    TooDeep,
    /// `buildspec N` names a version this build does not understand.
    UnsupportedVersion,
    /// A node name that is not allowed where it stands.
    UnknownNode,
    /// A property name that the node does not take.
    UnknownProperty,
    /// The same property twice on one node.
    DuplicateProperty,
    /// Too many or too few positional arguments.
    WrongArgumentCount,
    /// A value of the wrong KDL type (string where a number is needed, …).
    WrongType,
    /// A value of the right type that is not valid for its position.
    InvalidValue,
    /// A required property is missing (`to=` on `add git=`, `target=` on `bind`).
    MissingProperty,
    /// A node that may appear once appears again.
    DuplicateNode,
    /// A stage without `from=`.
    MissingFrom,
    /// Two stages with one name.
    DuplicateStage,
    /// A stage name that cannot be a Dockerfile stage name.
    InvalidStageName,
    /// `from=` names neither a stage nor a valid image reference.
    InvalidImageRef,
    /// A stage reference that names no stage.
    UnknownStage,
    /// `${NAME}` in `from=` names no global `arg`.
    UnknownArg,
    /// Stages that depend on each other in a loop.
    DependencyCycle,
    /// A port that is not 1-65535 with an optional /tcp, /udp or /sctp.
    InvalidPort,
    /// A chmod value that is not 3 or 4 octal digits.
    InvalidChmod,
    /// A duration that is not like `30s`, `1m30s`, `500ms`.
    InvalidDuration,
    /// A platform that is not `os/arch[/variant]`.
    InvalidPlatform,
    /// A value that cannot be written into a Dockerfile safely (newline in an
    /// `env` value, control characters, …).
    UnsafeValue,
    /// A copy source that climbs out of the build context.
    PathEscapesContext,
    /// A feature the built-in Dockerfile frontend does not have; needs `--syntax`.
    NeedsSyntax,
    /// `packages` in a stage whose package manager cannot be told.
    UnknownPackageManager,
    /// `--target` names no stage.
    UnknownTarget,
    /// Nothing where something is needed: a spec without stages, an empty
    /// script, an `env` or `label` that sets nothing.
    Empty,
    /// A test stage that cannot gate a runtime because it derives from it.
    GateImpossible,
    /// An `include` whose file cannot be read (missing, not UTF-8, too large).
    IncludeMissing,
    /// Files that include each other in a loop.
    IncludeCycle,
    /// `--locked`, and an image the lock file does not name.
    NotLocked,
    /// A finding of `buildspec lint` (not in [`Code::ALL`]: the rules are
    /// [`crate::lint::Rule::ALL`]).
    Lint(crate::lint::Rule),
}

impl Code {
    pub const ALL: &'static [Code] = &[
        Code::KdlSyntax,
        Code::TooDeep,
        Code::UnsupportedVersion,
        Code::UnknownNode,
        Code::UnknownProperty,
        Code::DuplicateProperty,
        Code::WrongArgumentCount,
        Code::WrongType,
        Code::InvalidValue,
        Code::MissingProperty,
        Code::DuplicateNode,
        Code::MissingFrom,
        Code::DuplicateStage,
        Code::InvalidStageName,
        Code::InvalidImageRef,
        Code::UnknownStage,
        Code::UnknownArg,
        Code::DependencyCycle,
        Code::InvalidPort,
        Code::InvalidChmod,
        Code::InvalidDuration,
        Code::InvalidPlatform,
        Code::UnsafeValue,
        Code::PathEscapesContext,
        Code::NeedsSyntax,
        Code::UnknownPackageManager,
        Code::UnknownTarget,
        Code::Empty,
        Code::GateImpossible,
        Code::IncludeMissing,
        Code::IncludeCycle,
        Code::NotLocked,
    ];

    /// The stable code string, `buildspec::<area>::<name>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::KdlSyntax => "buildspec::syntax::kdl",
            Code::TooDeep => "buildspec::syntax::too_deep",
            Code::UnsupportedVersion => "buildspec::spec::unsupported_version",
            Code::UnknownNode => "buildspec::spec::unknown_node",
            Code::UnknownProperty => "buildspec::spec::unknown_property",
            Code::DuplicateProperty => "buildspec::spec::duplicate_property",
            Code::WrongArgumentCount => "buildspec::spec::wrong_argument_count",
            Code::WrongType => "buildspec::spec::wrong_type",
            Code::InvalidValue => "buildspec::spec::invalid_value",
            Code::MissingProperty => "buildspec::spec::missing_property",
            Code::DuplicateNode => "buildspec::spec::duplicate_node",
            Code::MissingFrom => "buildspec::spec::missing_from",
            Code::DuplicateStage => "buildspec::graph::duplicate_stage",
            Code::InvalidStageName => "buildspec::spec::invalid_stage_name",
            Code::InvalidImageRef => "buildspec::spec::invalid_image_ref",
            Code::UnknownStage => "buildspec::graph::unknown_stage",
            Code::UnknownArg => "buildspec::graph::unknown_arg",
            Code::DependencyCycle => "buildspec::graph::cycle",
            Code::InvalidPort => "buildspec::spec::invalid_port",
            Code::InvalidChmod => "buildspec::spec::invalid_chmod",
            Code::InvalidDuration => "buildspec::spec::invalid_duration",
            Code::InvalidPlatform => "buildspec::spec::invalid_platform",
            Code::UnsafeValue => "buildspec::spec::unsafe_value",
            Code::PathEscapesContext => "buildspec::spec::path_escapes_context",
            Code::NeedsSyntax => "buildspec::emit::needs_syntax",
            Code::UnknownPackageManager => "buildspec::spec::unknown_package_manager",
            Code::UnknownTarget => "buildspec::graph::unknown_target",
            Code::Empty => "buildspec::spec::empty",
            Code::GateImpossible => "buildspec::graph::gate_impossible",
            Code::IncludeMissing => "buildspec::spec::include_missing",
            Code::IncludeCycle => "buildspec::spec::include_cycle",
            Code::NotLocked => "buildspec::lock::not_locked",
            Code::Lint(rule) => rule.as_str(),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Where the problem is; `None` only for problems with no place in the
    /// file (e.g. a `--target` given on the command line).
    pub span: Option<Span>,
    pub label: String,
    pub help: Option<String>,
    /// Other places that explain the problem (the other end of a cycle, the
    /// first definition of a duplicate).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span: Some(span),
            label: "here".to_owned(),
            help: None,
            related: Vec::new(),
        }
    }

    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, span, message) }
    }

    /// A diagnostic about the invocation rather than a place in the file.
    pub fn unplaced(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic { span: None, ..Diagnostic::error(code, Span::default(), message) }
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.related.push((span, label.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A collector that front-end functions push diagnostics into.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diag: Diagnostic) {
        self.items.push(diag);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    /// All diagnostics, in the order of their place in the file (unplaced
    /// ones first), ties kept in the order they were found.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_key(|d| d.span.map(|s| s.offset + 1).unwrap_or(0));
        self.items.dedup();
        self.items
    }
}

/// The outcome of a front-end step: a value (possibly partial) and every
/// diagnostic found on the way.
#[derive(Debug)]
pub struct Parsed<T> {
    pub value: T,
    pub diagnostics: Vec<Diagnostic>,
}

/// A failed compile: the source and all of its diagnostics, errors and
/// warnings. Renders them the way the CLI prints them.
#[derive(Debug)]
pub struct Failure {
    /// The spec file and the files it includes.
    pub sources: Sources,
    pub diagnostics: Vec<Diagnostic>,
}

impl Failure {
    pub fn n_errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

/// How to render diagnostics.
#[derive(Debug, Clone, Copy)]
pub struct RenderOpts {
    pub color: bool,
    pub width: usize,
}

/// Renders diagnostics with miette, one after the other, each with the
/// name, line and column of the file it is in (the spec or a file it
/// includes) and the offending text underlined.
pub fn render(sources: &Sources, diagnostics: &[Diagnostic], opts: RenderOpts) -> String {
    let theme = if opts.color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(opts.width)
        .with_links(false);
    let named: Vec<miette::NamedSource<String>> =
        sources.files().iter().map(|f| miette::NamedSource::new(f.name.clone(), f.text.to_string())).collect();
    let mut out = String::new();
    for diag in diagnostics {
        let file_idx = diag.span.map_or(0, |span| file_index(sources, span.offset));
        let file = &sources.files()[file_idx];
        // Spans into this file, made local to its text; related places in
        // another file are named in the help instead.
        let local = |span: Span| Span::new(span.offset - file.base, span.len);
        let mut view = diag.clone();
        view.span = diag.span.map(local);
        view.related.clear();
        let mut elsewhere = Vec::new();
        for (span, label) in &diag.related {
            if file_index(sources, span.offset) == file_idx {
                view.related.push((local(*span), label.clone()));
            } else {
                elsewhere.push(format!("{label}: {}", sources.locate(span.offset)));
            }
        }
        if !elsewhere.is_empty() {
            let extra = elsewhere.join("; ");
            view.help = Some(match view.help {
                Some(help) => format!("{help} ({extra})"),
                None => extra,
            });
        }
        let report = MietteView { diag: &view, source: &named[file_idx] };
        // Writing into a String cannot fail.
        let _ = handler.render_report(&mut out, &report);
    }
    out
}

fn file_index(sources: &Sources, offset: usize) -> usize {
    sources.files().iter().rposition(|f| f.base <= offset).unwrap_or(0)
}

/// Adapts a [`Diagnostic`] to miette, borrowing the source.
struct MietteView<'a> {
    diag: &'a Diagnostic,
    source: &'a miette::NamedSource<String>,
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code.as_str()))
    }

    fn severity(&self) -> Option<Severity> {
        Some(self.diag.severity)
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.diag.span.map(|_| self.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = self.diag.span?;
        let primary =
            miette::LabeledSpan::new_primary_with_span(Some(self.diag.label.clone()), span);
        let related = self
            .diag
            .related
            .iter()
            .map(|(span, label)| miette::LabeledSpan::new_with_span(Some(label.clone()), *span));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}
