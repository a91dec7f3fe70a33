//! KDL nodes → spec types, one function per node kind. Spans are copied
//! into the model at once; the KDL tree is never edited.

use kdl::{KdlDocument, KdlNode, KdlValue};

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{SourceFile, Sources, Span, Spanned};
use crate::spec::{
    Add, AddSource, ArgDecl, Bind, Cache, Context, Copy, Healthcheck, PackageManager, Packages,
    Role, Run, Secret, Sharing, Spec, Ssh, Stage, Step, StepKind, Tmpfs, User,
};
use crate::syntax::names;
use crate::syntax::node::{entry_str, entry_str_or_int, unknown_node, wrong_type, NodeView};
use crate::syntax::validate;

/// Reads an included file by its path (the spec file's directory joined
/// with the `include` argument, as the CLI names files): its text, or why
/// it cannot be read. Supplied by the caller, so lowering does no IO.
pub type ReadInclude<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Limits on includes, so that a hostile spec cannot make the front end
/// read without end.
const MAX_INCLUDE_DEPTH: usize = 16;
const MAX_INCLUDED_FILES: usize = 256;
const MAX_INCLUDED_BYTES: usize = 4 << 20;

/// The files of one spec being lowered: where included text comes from,
/// where it is placed, and the chain of includes being followed (for
/// cycles and for resolving relative paths).
pub struct Includes<'a> {
    read: ReadInclude<'a>,
    pub sources: Sources,
    /// The files being lowered, outermost first (the spec file at 0).
    stack: Vec<String>,
    bytes: usize,
}

impl<'a> Includes<'a> {
    pub fn new(root: &SourceFile, read: ReadInclude<'a>) -> Includes<'a> {
        Includes { read, sources: Sources::new(root.clone()), stack: vec![normalize_path(&root.name)], bytes: 0 }
    }

    /// Follows `include "PATH"`: reads the file, places it in the offset
    /// space and parses it. Every problem is a diagnostic at the node;
    /// `None` then. Call [`Includes::close`] when done with the document.
    fn open(&mut self, node: &KdlNode, diags: &mut Diagnostics) -> Option<KdlDocument> {
        let view = NodeView::open(node, &[], diags);
        view.no_children(diags);
        let arg = if view.arg_count(1, 1, "file path", diags) { entry_str(view.args[0], diags) } else { None };
        view.finish(diags);
        let arg = arg?;
        if !check(validate::single_line(&arg, "include path"), diags) || !check(validate::non_empty(&arg, "include path"), diags) {
            return None;
        }
        let current = self.stack.last().expect("the spec file is on the stack");
        let dir = std::path::Path::new(current).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let name = normalize_path(&if arg.starts_with('/') || dir.is_empty() { arg.value.clone() } else { format!("{dir}/{}", arg.value) });
        if let Some(pos) = self.stack.iter().position(|f| *f == name) {
            let chain: Vec<&str> = self.stack[pos..].iter().map(String::as_str).chain([name.as_str()]).collect();
            diags.push(
                Diagnostic::error(Code::IncludeCycle, arg.span, format!("`{}` includes itself: {}", arg.value, chain.join(" → ")))
                    .label("included again here")
                    .help("move what both files need into a third file that includes neither"),
            );
            return None;
        }
        if self.stack.len() > MAX_INCLUDE_DEPTH || self.sources.files().len() > MAX_INCLUDED_FILES {
            diags.push(
                Diagnostic::error(Code::IncludeMissing, arg.span, "too many nested or included files")
                    .label("one include too many")
                    .help(format!("a spec may include at most {MAX_INCLUDED_FILES} files, {MAX_INCLUDE_DEPTH} deep")),
            );
            return None;
        }
        let text = match (self.read)(&name) {
            Ok(text) => text,
            Err(why) => {
                diags.push(
                    Diagnostic::error(Code::IncludeMissing, arg.span, format!("cannot include `{}`: {why}", arg.value))
                        .label(format!("looked for {name}"))
                        .help("include paths are relative to the file that includes them"),
                );
                return None;
            }
        };
        self.bytes += text.len();
        if self.bytes > MAX_INCLUDED_BYTES {
            diags.push(
                Diagnostic::error(Code::IncludeMissing, arg.span, format!("`{}` makes the included files larger than 4 MiB", arg.value))
                    .label("too large")
                    .help("include only spec fragments"),
            );
            return None;
        }
        let base = self.sources.add(name.clone(), text.as_str());
        let doc = parse_kdl(&text, base, diags)?;
        self.stack.push(name);
        Some(doc)
    }

    fn close(&mut self) {
        self.stack.pop();
    }
}

/// A path with `.` components and `dir/..` pairs taken out, lexically.
fn normalize_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" if !parts.is_empty() => {}
            "." => {}
            ".." if parts.last().is_some_and(|p| *p != ".." && !p.is_empty()) => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() { ".".to_owned() } else { parts.join("/") }
}

/// Parses KDL text placed at `base` in the spec's offset space, turning
/// its errors into diagnostics: through the fast reader when the text is
/// in its subset, else through the kdl crate (spans moved by `base`).
fn parse_kdl(text: &str, base: usize, diags: &mut Diagnostics) -> Option<KdlDocument> {
    if let Some(at) = super::depth::too_deep(text) {
        diags.push(
            Diagnostic::error(Code::TooDeep, Span::new(base + at, 1), format!("blocks nested more than {} deep", super::depth::MAX_DEPTH))
                .label("this block is one too many")
                .help("a spec needs a few levels (stage, step, mount); flatten the generated text, or close the blocks it left open"),
        );
        return None;
    }
    if let Some(doc) = super::kdl_subset::parse(text, base) {
        return Some(doc);
    }
    if text.len() > CRATE_MAX_BYTES {
        let at = super::kdl_subset::stops_at(text);
        diags.push(
            Diagnostic::error(Code::KdlSyntax, Span::new(base + at, 0), format!("a file over {} KiB must be in the KDL subset buildspec reads directly, and this one leaves it here", CRATE_MAX_BYTES >> 10))
                .label("not in the subset from here")
                .help("the subset is plain KDL v2 without slashdash, type annotations, carriage returns or escapes in multi-line strings (docs/spec-reference.md); rewrite that, fix the syntax error there, or split the file with `include`"),
        );
        return None;
    }
    let parsed = match parse_with_deadline(text) {
        Ok(Some(parsed)) => parsed,
        Err(error) => {
            diags.push(
                Diagnostic::error(Code::KdlSyntax, Span::new(base, 0), format!("could not start the KDL parser's thread: {error}"))
                    .label("while reading this file")
                    .help(format!("its stack asks for {} MiB of address space for this file's {} bytes (ulimit -v, vm.overcommit_memory=2); a file in the fast reader's subset needs none", crate_stack(text.len()) >> 20, text.len())),
            );
            return None;
        }
        Ok(None) => {
            diags.push(
                Diagnostic::error(Code::KdlSyntax, Span::new(base, 0), "the file is not valid KDL, and the KDL parser gave up looking for where")
                    .label("somewhere in this file")
                    .help(format!(
                        "the parser searched for {} s; look for quotes or braces left open, and `/-` before a block",
                        CRATE_PARSE_DEADLINE.as_secs()
                    )),
            );
            return None;
        }
    };
    match parsed {
        Ok(mut doc) => {
            if base > 0 {
                shift_spans(&mut doc, base);
            }
            Some(doc)
        }
        Err(err) => {
            // The parser recovers and goes on: a file of unclosed blocks
            // gives thousands of errors, and the first few say it.
            let total = err.diagnostics.len();
            let mut last_end = base;
            for d in err.diagnostics.into_iter().take(MAX_SYNTAX_ERRORS) {
                let message = d.message.unwrap_or_else(|| "invalid KDL".to_owned());
                let span = Span::new(base + d.span.offset(), d.span.len());
                last_end = span.offset + span.len;
                let mut diag = Diagnostic::error(Code::KdlSyntax, span, message).label(d.label.unwrap_or_else(|| "here".to_owned()));
                diag.help = d.help.or_else(|| Some("see the KDL v2 syntax at https://kdl.dev".to_owned()));
                diags.push(diag);
            }
            if total > MAX_SYNTAX_ERRORS {
                diags.push(
                    Diagnostic::error(Code::KdlSyntax, Span::new(last_end, 0), format!("and {} more KDL syntax errors after these", total - MAX_SYNTAX_ERRORS))
                        .label("not shown")
                        .help("fix the first ones: the rest often follow from them"),
                );
            }
            None
        }
    }
}

/// The KDL syntax errors shown of one file.
const MAX_SYNTAX_ERRORS: usize = 20;

/// How long the kdl crate may search a file that the fast reader did not
/// take. Its error-recovering parser backtracks exponentially on some
/// invalid inputs (found by fuzzing: 1.2 KB of unclosed quotes, braces and
/// `/-` ran for minutes); valid specs parse in milliseconds.
const CRATE_PARSE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// The kdl crate's parser recurses once per `{`, `/-`, `/*`, type
/// annotation, and even per `*` or `/` inside a block comment: 300 bytes
/// of `/- ` overflow a thread's default 2 MiB. Each level eats at least
/// one byte, so a stack of this much per byte of text (plus
/// [`CRATE_STACK_BASE`]) cannot overflow, whatever the text. Measured
/// worst cases: a `{` the depth scan took for a string's costs ~19 KiB
/// in a debug build (up to ~31 KiB seen), ~7 KiB in a release build (tests/cli_errors.rs
/// drives each kind at the largest size the crate is given).
const CRATE_STACK_PER_BYTE: usize = if cfg!(debug_assertions) { 48 << 10 } else { 16 << 10 };
const CRATE_STACK_BASE: usize = 16 << 20;
/// The largest text the crate is given (a stack of 1 GiB; address space,
/// of which a valid file touches little and a hostile one at this size
/// up to ~450 MB in a release build): a larger file must be in the fast
/// reader's subset.
const CRATE_MAX_BYTES: usize = (1 << 30) / CRATE_STACK_PER_BYTE;

fn crate_stack(len: usize) -> usize {
    CRATE_STACK_BASE + len.min(CRATE_MAX_BYTES) * CRATE_STACK_PER_BYTE
}

/// The kdl crate's parse, on a thread of its own with a stack its text
/// cannot overflow, so that a parse past the deadline gives up (`Ok(None)`)
/// instead of hanging. A thread that gave up is left to finish on its own;
/// the CLI exits after reporting.
fn parse_with_deadline(text: &str) -> std::io::Result<Option<Result<KdlDocument, kdl::KdlError>>> {
    let (send, receive) = std::sync::mpsc::channel();
    let owned = text.to_owned();
    std::thread::Builder::new().name("kdl-parse".into()).stack_size(crate_stack(text.len())).spawn(move || {
        let _ = send.send(KdlDocument::parse(&owned));
    })?;
    Ok(receive.recv_timeout(CRATE_PARSE_DEADLINE).ok())
}

/// Moves every span of a document `by` bytes along.
fn shift_spans(doc: &mut KdlDocument, by: usize) {
    let moved = |span: miette::SourceSpan| (span.offset() + by, span.len());
    doc.set_span(moved(doc.span()));
    for node in doc.nodes_mut() {
        node.set_span(moved(node.span()));
        let name = node.name_mut();
        name.set_span(moved(name.span()));
        if let Some(ty) = node.ty_mut() {
            ty.set_span(moved(ty.span()));
        }
        for entry in node.entries_mut() {
            entry.set_span(moved(entry.span()));
            if let Some(name) = entry.name_mut() {
                name.set_span(moved(name.span()));
            }
            if let Some(ty) = entry.ty_mut() {
                ty.set_span(moved(ty.span()));
            }
        }
        if let Some(children) = node.children_mut() {
            shift_spans(children, by);
        }
    }
}

/// Parses KDL text and lowers it into a [`Spec`], following its includes
/// and collecting every problem.
pub fn lower_source(includes: &mut Includes<'_>, diags: &mut Diagnostics) -> Spec {
    let text = includes.sources.root().text.clone();
    match parse_kdl(&text, 0, diags) {
        Some(doc) => lower_document(&doc, includes, diags),
        None => Spec::default(),
    }
}

/// What the top level has seen so far, across included files.
#[derive(Default)]
struct TopLevel {
    version: Option<Span>,
    context: Option<Span>,
    any_stage: bool,
}

fn lower_document(doc: &KdlDocument, includes: &mut Includes<'_>, diags: &mut Diagnostics) -> Spec {
    let mut spec = Spec::default();
    let mut seen = TopLevel::default();
    lower_top_level(doc, &mut spec, &mut seen, includes, diags);
    if !seen.any_stage {
        diags.push(
            Diagnostic::error(Code::Empty, Span::new(0, 0), "the spec has no stages")
                .label("nothing to build")
                .help("add a stage, e.g. runtime \"app\" from=\"debian:bookworm-slim\" { … }"),
        );
    }
    spec
}

fn lower_top_level(doc: &KdlDocument, spec: &mut Spec, seen: &mut TopLevel, includes: &mut Includes<'_>, diags: &mut Diagnostics) {
    let in_fragment = includes.stack.len() > 1;
    for node in doc.nodes() {
        match node.name().value() {
            "buildspec" if in_fragment => {
                // A fragment may say which version it is written for.
                lower_version(node, diags);
            }
            "buildspec" => {
                if let Some(first) = seen.version {
                    diags.push(duplicate_node(node, first));
                }
                seen.version = Some(node.span().into());
                spec.version = lower_version(node, diags);
            }
            "context" if in_fragment => diags.push(
                Diagnostic::error(Code::UnknownNode, node.name().span().into(), "`context` belongs in the spec file, not in an included one")
                    .label("in an included file")
                    .help("move it into the buildspec.kdl that includes this file: a context is relative to that file"),
            ),
            "context" => {
                if let Some(first) = seen.context {
                    diags.push(duplicate_node(node, first));
                }
                seen.context = Some(node.span().into());
                spec.context = lower_context(node, diags);
            }
            "lint" => {
                // Allowed rules add up across the spec and its fragments;
                // their names are checked by the linter, which knows them.
                let view = NodeView::open(node, &[], diags);
                view.arg_count(0, 0, "", diags);
                for child in view.children(names::LINT, diags) {
                    let allow = NodeView::open(child, &[], diags);
                    allow.no_children(diags);
                    allow.arg_count(1, usize::MAX, "lint rule", diags);
                    spec.lint_allow.extend(allow.args_str(diags));
                    allow.finish(diags);
                }
                view.finish(diags);
            }
            "include" => {
                if let Some(included) = includes.open(node, diags) {
                    lower_top_level(&included, spec, seen, includes, diags);
                    includes.close();
                }
            }
            "arg" => {
                if let Some(arg) = lower_arg(node, diags) {
                    if let Some(first) = spec.args.iter().find(|a| a.name.value == arg.name.value) {
                        diags.push(
                            Diagnostic::error(Code::DuplicateNode, arg.name.span, format!("global arg `{}` is declared twice", arg.name.value))
                                .label("declared again")
                                .related(first.name.span, "first declared here")
                                .help("keep one declaration"),
                        );
                    } else {
                        spec.args.push(arg);
                    }
                }
            }
            "builder" | "test" | "runtime" => {
                seen.any_stage = true;
                let role = match node.name().value() {
                    "builder" => Role::Builder,
                    "test" => Role::Test,
                    _ => Role::Runtime,
                };
                spec.stages.extend(lower_stage(node, role, includes, diags));
            }
            _ => diags.push(unknown_node(node, names::TOP_LEVEL, "at the top level")),
        }
    }
}

fn duplicate_node(node: &KdlNode, first: Span) -> Diagnostic {
    Diagnostic::error(
        Code::DuplicateNode,
        node.name().span().into(),
        format!("`{}` may appear only once", node.name().value()),
    )
    .label("second one")
    .related(first, "first one here")
    .help("merge the two into one")
}

fn lower_version(node: &KdlNode, diags: &mut Diagnostics) -> Option<Spanned<u32>> {
    let view = NodeView::open(node, &[], diags);
    view.no_children(diags);
    let ok = view.arg_count(1, 1, "version number", diags);
    let res = if ok {
        let entry = view.args[0];
        match entry.value() {
            KdlValue::Integer(1) => Some(Spanned::new(1, entry.span().into())),
            KdlValue::Integer(n) => {
                diags.push(
                    Diagnostic::error(
                        Code::UnsupportedVersion,
                        entry.span().into(),
                        format!("buildspec version {n} is not supported"),
                    )
                    .label("unsupported version")
                    .help("this buildspec reads version 1: write `buildspec 1`"),
                );
                None
            }
            other => {
                diags.push(wrong_type(entry, "an integer", other));
                None
            }
        }
    } else {
        None
    };
    view.finish(diags);
    res
}

fn lower_context(node: &KdlNode, diags: &mut Diagnostics) -> Context {
    let view = NodeView::open(node, &[], diags);
    let mut context = Context::default();
    if view.arg_count(0, 1, "directory", diags)
        && let Some(dir) = view.args.first().and_then(|e| entry_str(e, diags))
            && check(validate::single_line(&dir, "context directory"), diags) {
                context.dir = dir;
            }
    for child in view.children(names::CONTEXT, diags) {
        let taking_back = child.name().value() == "include";
        let exclude = NodeView::open(child, &[], diags);
        exclude.no_children(diags);
        exclude.arg_count(1, usize::MAX, if taking_back { "path" } else { "glob" }, diags);
        for glob in exclude.args_str(diags) {
            if !check(validate::single_line(&glob, "exclude pattern"), diags) {
                continue;
            }
            if taking_back {
                let plain = glob.split('/').all(|part| part != "..")
                    && !glob.contains(['*', '?', '[', '!'])
                    && glob.split('/').any(|part| !part.is_empty() && part != ".");
                if !plain {
                    diags.push(
                        Diagnostic::error(Code::InvalidValue, glob.span, "`include` takes a path inside the context, without globs")
                            .label("not a plain context path")
                            .help("name the file or directory to take back, e.g. include \"node_modules\""),
                    );
                } else {
                    context.includes.push(glob);
                }
                continue;
            }
            if glob.starts_with('#') || glob.trim().is_empty() {
                diags.push(
                    Diagnostic::error(Code::InvalidValue, glob.span, "this pattern would be read as a comment or blank line")
                        .label("invalid pattern")
                        .help("write a path or glob such as \"target\" or \"**/*.log\""),
                );
                continue;
            }
            context.excludes.push(glob);
        }
        exclude.finish(diags);
    }
    view.finish(diags);
    context
}

fn lower_arg(node: &KdlNode, diags: &mut Diagnostics) -> Option<ArgDecl> {
    let view = NodeView::open(node, &["default"], diags);
    view.no_children(diags);
    let mut res = None;
    if view.arg_count(1, 1, "name", diags)
        && let Some(name) = entry_str(view.args[0], diags) {
            let default = view.prop("default").and_then(|e| entry_str_or_int(e, diags));
            let ok_name = check(validate::var_name(&name), diags);
            let ok_default =
                default.as_ref().is_none_or(|d| check(validate::single_line(d, "default"), diags));
            if ok_name && ok_default {
                res = Some(ArgDecl { name, default });
            }
        }
    view.finish(diags);
    res
}

fn lower_stage(node: &KdlNode, role: Role, includes: &mut Includes<'_>, diags: &mut Diagnostics) -> Option<Stage> {
    const PROPS: &[&str] = &["from", "platform"];
    const TEST_PROPS: &[&str] = &["from", "platform", "gate"];
    let view = NodeView::open(node, if role == Role::Test { TEST_PROPS } else { PROPS }, diags);
    let steps = lower_steps(&view, names::STAGE, includes, diags);
    if !view.arg_count(1, 1, "stage name", diags) {
        view.finish(diags);
        return None;
    }
    let name = entry_str(view.args[0], diags)?;
    check(validate::stage_name(&name), diags);
    let from = view.prop_str("from", diags);
    if view.prop("from").is_none() {
        diags.push(
            Diagnostic::error(
                Code::MissingFrom,
                name.span,
                format!("{} stage `{}` has no `from=`", role.as_str(), name.value),
            )
            .label("needs a base")
            .help(format!(
                "add from=\"IMAGE\" (e.g. from=\"debian:bookworm-slim\"), from=\"scratch\" or from=\"STAGE\": {} \"{}\" from=\"…\"",
                role.as_str(),
                name.value
            )),
        );
    }
    let from_ok = from.as_ref().is_some_and(|f| check(validate::single_line(f, "from"), diags));
    let platform = view.prop_str("platform", diags);
    let platform_ok = platform.as_ref().is_none_or(|p| check(validate::platform(p), diags));
    let gate = view.prop_bool("gate", diags).unwrap_or(true);
    view.finish(diags);
    // A stage with errors is still returned (its problems are reported
    // already), so references to it do not cascade into "unknown stage".
    let from = match from {
        Some(from) if from_ok => from,
        _ => Spanned::new("scratch".to_owned(), name.span),
    };
    Some(Stage {
        role,
        name,
        from,
        platform: platform.filter(|_| platform_ok),
        gate,
        steps,
        span: node.span().into(),
    })
}

fn lower_steps(view: &NodeView<'_>, allowed: &[&str], includes: &mut Includes<'_>, diags: &mut Diagnostics) -> Vec<Step> {
    let mut steps = Vec::new();
    for child in view.children(allowed, diags) {
        lower_step_or_include(child, allowed, &format!("inside `{}`", view.name), includes, diags, &mut steps);
    }
    steps
}

/// A step, or the steps of an included file (whose top-level nodes must be
/// steps allowed where the include stands).
fn lower_step_or_include(node: &KdlNode, allowed: &[&str], place: &str, includes: &mut Includes<'_>, diags: &mut Diagnostics, steps: &mut Vec<Step>) {
    if node.name().value() != "include" {
        steps.extend(lower_step(node, includes, diags));
        return;
    }
    let Some(included) = includes.open(node, diags) else { return };
    let place = format!("{place} (through an include)");
    for child in included.nodes() {
        if allowed.contains(&child.name().value()) {
            lower_step_or_include(child, allowed, &place, includes, diags, steps);
        } else {
            diags.push(unknown_node(child, allowed, &place));
        }
    }
    includes.close();
}

/// Runs a check, pushing its diagnostic; true when it passed.
fn check<T>(res: Result<T, Diagnostic>, diags: &mut Diagnostics) -> bool {
    match res {
        Ok(_) => true,
        Err(d) => {
            diags.push(d);
            false
        }
    }
}

fn lower_step(node: &KdlNode, includes: &mut Includes<'_>, diags: &mut Diagnostics) -> Option<Step> {
    let span: Span = node.span().into();
    let kind = match node.name().value() {
        "workdir" => lower_single(node, "path", diags, |v, d| {
            check(validate::single_line(&v, "workdir"), d).then_some(StepKind::Workdir(v))
        }),
        "user" => lower_user(node, diags),
        "env" => lower_pairs(node, true, diags).map(StepKind::Env),
        "label" => lower_pairs(node, false, diags).map(StepKind::Label),
        "arg" => lower_arg(node, diags).map(StepKind::Arg),
        "shell" => lower_list(node, 1, diags).map(StepKind::Shell),
        "entrypoint" => lower_list(node, 0, diags).map(StepKind::Entrypoint),
        "cmd" => lower_list(node, 0, diags).map(StepKind::Cmd),
        "volume" => lower_list(node, 1, diags).and_then(|paths| {
            let ok = paths.iter().all(|p| check(validate::single_line(p, "volume"), diags) && check(validate::non_empty(p, "volume path"), diags));
            ok.then_some(StepKind::Volume(paths))
        }),
        "expose" => lower_expose(node, diags),
        "stopsignal" => {
            let view = NodeView::open(node, &[], diags);
            view.no_children(diags);
            let mut res = None;
            if view.arg_count(1, 1, "signal", diags)
                && let Some(sig) = entry_str_or_int(view.args[0], diags)
                    && check(validate::signal(&sig), diags) {
                        res = Some(StepKind::StopSignal(sig));
                    }
            view.finish(diags);
            res
        }
        "healthcheck" => lower_healthcheck(node, diags),
        "copy" => lower_copy(node, diags),
        "add" => lower_add(node, diags),
        "run" => lower_run(node, diags),
        "packages" => lower_packages(node, diags),
        "deps" => {
            let view = NodeView::open(node, &[], diags);
            view.arg_count(0, 0, "arguments", diags);
            let steps = lower_steps(&view, names::DEPS, includes, diags);
            view.finish(diags);
            Some(StepKind::Deps(steps))
        }
        // The caller filtered names already.
        _ => None,
    }?;
    Some(Step { kind, span })
}

/// A node with exactly one string argument and nothing else.
fn lower_single(
    node: &KdlNode,
    what: &str,
    diags: &mut Diagnostics,
    f: impl FnOnce(Spanned<String>, &mut Diagnostics) -> Option<StepKind>,
) -> Option<StepKind> {
    let view = NodeView::open(node, &[], diags);
    view.no_children(diags);
    let mut res = None;
    if view.arg_count(1, 1, what, diags)
        && let Some(value) = entry_str(view.args[0], diags) {
            if value.is_empty() {
                diags.push(Diagnostic::error(Code::InvalidValue, value.span, format!("empty {what}")).label("empty"));
            } else {
                res = f(value, diags);
            }
        }
    view.finish(diags);
    res
}

fn lower_list(node: &KdlNode, min: usize, diags: &mut Diagnostics) -> Option<Vec<Spanned<String>>> {
    let view = NodeView::open(node, &[], diags);
    view.no_children(diags);
    let ok = view.arg_count(min, usize::MAX, "strings", diags);
    let n = view.args.len();
    let items = view.args_str(diags);
    view.finish(diags);
    (ok && items.len() == n).then_some(items)
}

fn lower_user(node: &KdlNode, diags: &mut Diagnostics) -> Option<StepKind> {
    let view = NodeView::open(node, &[], diags);
    view.no_children(diags);
    let mut res = None;
    if view.arg_count(1, 1, "user", diags) {
        let entry = view.args[0];
        let span: Span = entry.span().into();
        match entry.value() {
            KdlValue::Integer(n) => match u32::try_from(*n) {
                Ok(id) => res = Some(StepKind::User(Spanned::new(User::Id(id), span))),
                Err(_) => diags.push(
                    Diagnostic::error(Code::InvalidValue, span, format!("user id {n} is out of range"))
                        .label("invalid")
                        .help("a user id is a whole number from 0 to 4294967295"),
                ),
            },
            KdlValue::String(s) => {
                let value = Spanned::new(s.clone(), span);
                if check(validate::user(&value), diags) {
                    res = Some(StepKind::User(Spanned::new(User::Name(s.clone()), span)));
                }
            }
            other => diags.push(wrong_type(entry, "a user name or id", other)),
        }
    }
    view.finish(diags);
    res
}

/// `env KEY="V" …` and `label "KEY"="V" …`: properties are the user's keys.
fn lower_pairs(
    node: &KdlNode,
    keys_are_vars: bool,
    diags: &mut Diagnostics,
) -> Option<Vec<(Spanned<String>, Spanned<String>)>> {
    let view = NodeView::open(node, &[], diags);
    view.no_children(diags);
    let what = view.name;
    if !view.args.is_empty() {
        diags.push(
            Diagnostic::error(Code::WrongArgumentCount, view.args[0].span().into(), format!("`{what}` takes KEY=\"VALUE\" properties, not arguments"))
                .label("unexpected argument")
                .help(format!("write {what} KEY=\"VALUE\"")),
        );
    }
    let mut pairs = Vec::new();
    let mut ok = view.args.is_empty();
    for (key, entry) in view.all_props() {
        let span: Span = entry.span().into();
        let key = Spanned::new(key.to_owned(), span);
        let key_ok = if keys_are_vars {
            check(validate::var_name(&key), diags)
        } else {
            check(validate::single_line(&key, "label key"), diags) && check(validate::non_empty(&key, "label key"), diags)
        };
        let value = match entry.value() {
            KdlValue::String(s) => Some(Spanned::new(s.clone(), span)),
            KdlValue::Integer(_) | KdlValue::Float(_) | KdlValue::Bool(_) => {
                Some(Spanned::new(entry.value().to_string().trim_start_matches('#').to_owned(), span))
            }
            KdlValue::Null => {
                diags.push(wrong_type(entry, "a string", entry.value()));
                None
            }
        };
        let value_ok = value.as_ref().is_some_and(|v| check(validate::single_line(v, &format!("{what} value")), diags));
        ok &= key_ok && value_ok;
        if let Some(value) = value {
            pairs.push((key, value));
        }
    }
    if pairs.is_empty() && view.args.is_empty() {
        diags.push(
            Diagnostic::error(Code::Empty, view.name_span, format!("`{what}` sets nothing"))
                .label("empty")
                .help(format!("write {what} KEY=\"VALUE\"")),
        );
        ok = false;
    }
    view.finish_all_props();
    ok.then_some(pairs)
}

fn lower_expose(node: &KdlNode, diags: &mut Diagnostics) -> Option<StepKind> {
    let view = NodeView::open(node, &[], diags);
    view.no_children(diags);
    let mut ok = view.arg_count(1, usize::MAX, "ports", diags);
    let mut ports = Vec::new();
    for entry in &view.args {
        match entry_str_or_int(entry, diags) {
            Some(raw) => match validate::port(&raw) {
                Ok(port) => ports.push(Spanned::new(port, raw.span)),
                Err(d) => {
                    diags.push(d);
                    ok = false;
                }
            },
            None => ok = false,
        }
    }
    view.finish(diags);
    ok.then_some(StepKind::Expose(ports))
}

fn lower_healthcheck(node: &KdlNode, diags: &mut Diagnostics) -> Option<StepKind> {
    let view = NodeView::open(node, &["interval", "timeout", "start-period", "retries", "none"], diags);
    view.no_children(diags);
    let none = view.prop_bool("none", diags).unwrap_or(false);
    let mut hc = Healthcheck { none, ..Healthcheck::default() };
    let mut ok = true;
    if none {
        for key in ["interval", "timeout", "start-period", "retries"] {
            if let Some(extra) = view.prop(key) {
                diags.push(
                    Diagnostic::error(Code::InvalidValue, extra.span().into(), format!("`healthcheck none=#true` takes no `{key}=`"))
                        .label("unused")
                        .help("remove it, or remove none=#true"),
                );
                ok = false;
            }
        }
        if let Some(extra) = view.args.first() {
            diags.push(
                Diagnostic::error(Code::InvalidValue, extra.span().into(), "`healthcheck none=#true` takes no command")
                    .label("unexpected")
                    .help("remove the command, or remove none=#true"),
            );
            ok = false;
        }
    } else {
        ok &= view.arg_count(1, usize::MAX, "command strings", diags);
        hc.command = view.args_str(diags);
        ok &= hc.command.len() == view.args.len();
    }
    for (key, slot) in [("interval", &mut hc.interval), ("timeout", &mut hc.timeout), ("start-period", &mut hc.start_period)] {
        if let Some(v) = view.prop_str(key, diags) {
            ok &= check(validate::duration(&v), diags);
            *slot = Some(v);
        }
    }
    if let Some(entry) = view.prop("retries") {
        match entry.value() {
            KdlValue::Integer(n) if (0..=i128::from(u32::MAX)).contains(n) => {
                hc.retries = Some(Spanned::new(*n as u32, entry.span().into()));
            }
            KdlValue::Integer(n) => {
                diags.push(Diagnostic::error(Code::InvalidValue, entry.span().into(), format!("retries={n} is out of range")).label("invalid").help("write a whole number such as 3"));
                ok = false;
            }
            other => {
                diags.push(wrong_type(entry, "an integer", other));
                ok = false;
            }
        }
    }
    view.finish(diags);
    ok.then_some(StepKind::Healthcheck(hc))
}

/// A path read from the build context must stay inside it.
fn context_path(value: &Spanned<String>, diags: &mut Diagnostics) -> bool {
    if value.starts_with('/') {
        diags.push(
            Diagnostic::error(Code::PathEscapesContext, value.span, format!("`{}` is an absolute path, but it is read from the build context", value.value))
                .label("absolute path")
                .help("write the path relative to the context directory, or add from=\"STAGE\" to copy out of a stage"),
        );
        return false;
    }
    let mut depth: i32 = 0;
    for part in value.split('/') {
        match part {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            diags.push(
                Diagnostic::error(Code::PathEscapesContext, value.span, format!("`{}` climbs out of the build context", value.value))
                    .label("escapes the context")
                    .help("only files inside the context directory can be copied; widen `context` or move the file"),
            );
            return false;
        }
    }
    true
}

fn lower_copy(node: &KdlNode, diags: &mut Diagnostics) -> Option<StepKind> {
    let view = NodeView::open(node, &["to", "from", "chown", "chmod", "link", "exclude"], diags);
    view.no_children(diags);
    let mut ok = view.arg_count(1, usize::MAX, "source paths", diags);
    let sources = view.args_str(diags);
    ok &= sources.len() == view.args.len();
    let from = view.prop_str("from", diags);
    for src in &sources {
        ok &= check(validate::single_line(src, "source path"), diags);
        if src.is_empty() {
            diags.push(Diagnostic::error(Code::InvalidValue, src.span, "empty source path").label("empty").help("write \".\" for the whole context"));
            ok = false;
        } else if from.is_none() {
            ok &= context_path(src, diags);
        }
    }
    let copy = Copy {
        sources,
        to: opt_single_line(&view, "to", diags, &mut ok),
        from,
        chown: opt_user(&view, "chown", diags, &mut ok),
        chmod: opt_chmod(&view, diags, &mut ok),
        link: view.prop_bool("link", diags).unwrap_or(false),
        excludes: opt_single_line(&view, "exclude", diags, &mut ok)
            .filter(|glob| check(validate::single_word(glob, "exclude pattern"), diags) || { ok = false; false })
            .into_iter()
            .collect(),
    };
    if let Some(from) = &copy.from {
        ok &= check(validate::single_line(from, "from"), diags);
    }
    view.finish(diags);
    ok.then_some(StepKind::Copy(copy))
}

fn opt_single_line(view: &NodeView<'_>, key: &str, diags: &mut Diagnostics, ok: &mut bool) -> Option<Spanned<String>> {
    let value = view.prop_str(key, diags)?;
    *ok &= check(validate::single_line(&value, key), diags);
    if value.is_empty() {
        diags.push(Diagnostic::error(Code::InvalidValue, value.span, format!("empty {key}")).label("empty"));
        *ok = false;
    }
    Some(value)
}

fn opt_user(view: &NodeView<'_>, key: &str, diags: &mut Diagnostics, ok: &mut bool) -> Option<Spanned<String>> {
    let value = view.prop(key).and_then(|e| entry_str_or_int(e, diags))?;
    *ok &= check(validate::user(&value), diags);
    Some(value)
}

fn opt_chmod(view: &NodeView<'_>, diags: &mut Diagnostics, ok: &mut bool) -> Option<Spanned<String>> {
    let entry = view.prop("chmod")?;
    let value = match entry.value() {
        KdlValue::String(s) => Spanned::new(s.clone(), entry.span().into()),
        KdlValue::Integer(n) => Spanned::new(n.to_string(), entry.span().into()),
        other => {
            diags.push(wrong_type(entry, "a string of octal digits such as \"0755\"", other));
            *ok = false;
            return None;
        }
    };
    *ok &= check(validate::chmod(&value), diags);
    Some(value)
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn lower_add(node: &KdlNode, diags: &mut Diagnostics) -> Option<StepKind> {
    let view = NodeView::open(node, &["to", "checksum", "git", "ref", "chown", "chmod", "link"], diags);
    view.no_children(diags);
    let mut ok = true;
    let git = view.prop_str("git", diags);
    let source = match git {
        Some(repo) => {
            if let Some(extra) = view.args.first() {
                diags.push(
                    Diagnostic::error(Code::WrongArgumentCount, extra.span().into(), "`add git=` takes no source paths")
                        .label("unexpected argument")
                        .help("use one `add` per source"),
                );
                ok = false;
            }
            ok &= check(validate::single_line(&repo, "git"), diags);
            let reference = opt_single_line(&view, "ref", diags, &mut ok);
            if view.prop("to").is_none() {
                diags.push(
                    Diagnostic::error(Code::MissingProperty, view.name_span, "`add git=` needs `to=`")
                        .label("where should the checkout go?")
                        .help("add to=\"/src\" (or another directory)"),
                );
                ok = false;
            }
            AddSource::Git { repo, reference }
        }
        None => {
            ok &= view.arg_count(1, usize::MAX, "sources (URLs or paths), or git=", diags);
            let paths = view.args_str(diags);
            ok &= paths.len() == view.args.len();
            for p in &paths {
                ok &= check(validate::single_line(p, "source"), diags);
                if !is_url(p) {
                    ok &= context_path(p, diags);
                }
            }
            if let Some(r) = view.prop("ref") {
                diags.push(Diagnostic::error(Code::UnknownProperty, r.span().into(), "`ref=` goes with `git=`").label("unexpected").help("add git=\"REPO\" or remove ref="));
                ok = false;
            }
            AddSource::Paths(paths)
        }
    };
    let checksum = view.prop_str("checksum", diags);
    if let Some(sum) = &checksum {
        ok &= check(validate::checksum(sum), diags);
        let single_url = matches!(&source, AddSource::Paths(p) if p.len() == 1 && is_url(&p[0]));
        if !single_url {
            diags.push(
                Diagnostic::error(Code::InvalidValue, sum.span, "`checksum=` needs exactly one http(s) URL source")
                    .label("nothing to check")
                    .help("use checksum= with a single URL, or remove it"),
            );
            ok = false;
        }
    }
    let add = Add {
        source,
        to: opt_single_line(&view, "to", diags, &mut ok),
        checksum,
        chown: opt_user(&view, "chown", diags, &mut ok),
        chmod: opt_chmod(&view, diags, &mut ok),
        link: view.prop_bool("link", diags).unwrap_or(false),
    };
    view.finish(diags);
    ok.then_some(StepKind::Add(add))
}

fn one_of(value: &Spanned<String>, allowed: &[&str], diags: &mut Diagnostics) -> bool {
    if allowed.contains(&value.as_str()) {
        return true;
    }
    diags.push(
        Diagnostic::error(Code::InvalidValue, value.span, format!("`{}` is not allowed here", value.value))
            .label("invalid")
            .help(format!("expected one of: {}", allowed.join(", "))),
    );
    false
}

fn lower_run(node: &KdlNode, diags: &mut Diagnostics) -> Option<StepKind> {
    let view = NodeView::open(node, &["network", "security", "inputs", "outputs"], diags);
    let mut ok = view.arg_count(1, 1, "script", diags);
    let script = view.args.first().and_then(|e| entry_str(e, diags));
    ok &= script.as_ref().is_some_and(|s| check(validate::script(s), diags));
    let network = view.prop_str("network", diags);
    ok &= network.as_ref().is_none_or(|n| one_of(n, &["none", "host", "default"], diags));
    let security = view.prop_str("security", diags);
    ok &= security.as_ref().is_none_or(|s| one_of(s, &["insecure", "sandbox"], diags));
    let inputs = path_list(&view, "inputs", diags, &mut ok);
    let outputs = path_list(&view, "outputs", diags, &mut ok);
    let mut run = Run { network, security, inputs, outputs, ..Run::default() };
    for child in view.children(names::RUN, diags) {
        ok &= lower_mount(child, &mut run, diags);
    }
    view.finish(diags);
    run.script = script?;
    ok.then_some(StepKind::Run(run))
}

/// A property holding paths separated by spaces (`inputs=`, `outputs=`),
/// on one line; `ok` turns false when it is not. Unlike
/// [`opt_single_line`], an empty value is allowed: no paths.
fn path_list(view: &NodeView<'_>, key: &str, diags: &mut Diagnostics, ok: &mut bool) -> Option<Vec<String>> {
    let value = view.prop_str(key, diags)?;
    *ok &= check(validate::single_line(&value, key), diags);
    Some(value.split_whitespace().map(str::to_owned).collect())
}

/// One mount child of `run`; true when it was valid.
fn lower_mount(node: &KdlNode, run: &mut Run, diags: &mut Diagnostics) -> bool {
    let kind = node.name().value();
    let allowed: &'static [&'static str] = match kind {
        "cache" => &["id", "sharing"],
        "secret" => &["target", "env", "required"],
        "ssh" => &[],
        "bind" => &["target", "from", "rw"],
        _ => &["size"],
    };
    let view = NodeView::open(node, allowed, diags);
    view.no_children(diags);
    let (min, what) = match kind {
        "ssh" => (0, "id"),
        "secret" => (1, "id"),
        "bind" => (1, "source path"),
        _ => (1, "target path"),
    };
    let mut ok = view.arg_count(min, 1, what, diags);
    let first = view.args.first().and_then(|e| entry_str(e, diags));
    ok &= first.as_ref().is_none_or(|v| check(validate::mount_value(v, what), diags));
    let mut prop = |key: &str, ok: &mut bool| -> Option<Spanned<String>> {
        let v = view.prop_str(key, diags)?;
        *ok &= check(validate::mount_value(&v, key), diags);
        Some(v)
    };
    match kind {
        "cache" => {
            let id = prop("id", &mut ok);
            let sharing = view.prop_str("sharing", diags).and_then(|s| match s.as_str() {
                "shared" => Some(Sharing::Shared),
                "private" => Some(Sharing::Private),
                "locked" => Some(Sharing::Locked),
                _ => {
                    ok &= one_of(&s, &["shared", "private", "locked"], diags);
                    None
                }
            });
            if let (true, Some(target)) = (ok, first) {
                run.caches.push(Cache { target, id, sharing });
            }
        }
        "secret" => {
            let target = prop("target", &mut ok);
            let env = view.prop_str("env", diags);
            ok &= env.as_ref().is_none_or(|e| check(validate::var_name(e), diags));
            let required = view.prop_bool("required", diags).unwrap_or(false);
            if let (true, Some(id)) = (ok, first) {
                run.secrets.push(Secret { id, target, env, required });
            }
        }
        "ssh" => {
            if ok {
                run.ssh.push(Ssh { id: first });
            }
        }
        "bind" => {
            let target = prop("target", &mut ok);
            let from = prop("from", &mut ok);
            let rw = view.prop_bool("rw", diags).unwrap_or(false);
            if target.is_none() && view.prop("target").is_none() {
                diags.push(
                    Diagnostic::error(Code::MissingProperty, view.name_span, "`bind` needs `target=`")
                        .label("where should it be mounted?")
                        .help("add target=\"/src\" (or another path)"),
                );
                ok = false;
            }
            if let (Some(source), None) = (&first, &from)
                && source.as_str() != "." {
                    ok &= context_path(source, diags);
                }
            if let (true, Some(source), Some(target)) = (ok, first, target) {
                run.binds.push(Bind { source, target, from, rw });
            }
        }
        _ => {
            let size = view.prop("size").and_then(|e| entry_str_or_int(e, diags));
            ok &= size.as_ref().is_none_or(|s| check(validate::size(s), diags));
            if let (true, Some(target)) = (ok, first) {
                run.tmpfs.push(Tmpfs { target, size });
            }
        }
    }
    view.finish(diags);
    ok
}

fn lower_packages(node: &KdlNode, diags: &mut Diagnostics) -> Option<StepKind> {
    let view = NodeView::open(node, &["manager"], diags);
    view.no_children(diags);
    let mut ok = view.arg_count(1, usize::MAX, "package names", diags);
    let names = view.args_str(diags);
    ok &= names.len() == view.args.len();
    for name in &names {
        ok &= check(validate::package_name(name), diags);
    }
    let manager = view.prop_str("manager", diags).and_then(|m| match m.as_str() {
        "apt" => Some(Spanned::new(PackageManager::Apt, m.span)),
        "apk" => Some(Spanned::new(PackageManager::Apk, m.span)),
        _ => {
            ok &= one_of(&m, &["apt", "apk"], diags);
            None
        }
    });
    view.finish(diags);
    ok.then_some(StepKind::Packages(Packages { names, manager, cached: false }))
}
