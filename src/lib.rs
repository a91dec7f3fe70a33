//! buildspec turns a declarative build spec (KDL) into container images.
//!
//! The pipeline, one module a step:
//!
//! ```text
//! KDL text ──syntax──▶ spec::Spec ──graph::build──▶ graph::Graph
//!          ──passes──▶ optimized Graph ──emit──▶ Dockerfile + .dockerignore
//! ```
//!
//! Everything here is pure: no file, environment or clock is read. The CLI
//! (`cli`) does the IO.

// Front-end checks return a `Diagnostic` as their error: large, but built
// only on the error path, and boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod build;
pub mod cli;
pub mod detect;
pub mod diag;
pub mod diagram;
pub mod emit;
pub mod graph;
pub mod import;
pub mod lint;
pub mod lock;
pub mod parallel;
pub mod passes;
pub mod oci;
pub mod plan;
pub mod source;
pub mod spec;
pub mod syntax;
pub mod template;
pub mod workspace;

use diag::{Code, Diagnostic, Diagnostics, Failure};
use source::SourceFile;

/// Who reads a compiled build, and so which features it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frontend {
    /// The engine's built-in Dockerfile frontend.
    BuiltIn,
    /// A `# syntax=REF` frontend image, which the engine fetches; it
    /// unlocks features the built-in one lacks.
    Syntax(String),
    /// No Dockerfile: a backend executing the stage graph itself
    /// (`--backend oci`), which has every feature.
    Direct,
}

impl Frontend {
    /// The `# syntax=` image, if any.
    pub fn syntax(&self) -> Option<&str> {
        match self {
            Frontend::Syntax(s) => Some(s),
            _ => None,
        }
    }
}

/// What to compile a spec into.
#[derive(Debug, Clone)]
pub struct CompileOpts {
    /// Emit only what this stage needs, as the default target.
    pub target: Option<String>,
    /// Who reads the result: which Dockerfile features are there.
    pub frontend: Frontend,
    /// Whether runtime stages wait for the test stages (`--no-tests` turns
    /// it off).
    pub gate_tests: bool,
    /// Run the cache-efficiency passes (`--no-optimize` turns them off).
    pub optimize: bool,
    /// Files of the build context, relative to it (read by the CLI).
    /// Shared: the specs of a monorepo often have one context.
    pub context_files: Option<std::sync::Arc<std::collections::BTreeSet<String>>>,
    /// The text of the context's files the presets read (`Cargo.toml`
    /// files, `.cargo/config.toml`), by context path (read by the CLI).
    pub manifests: std::sync::Arc<std::collections::BTreeMap<String, String>>,
    /// Commits that touched each context path (from `git log`, by the CLI).
    pub changes: Option<std::sync::Arc<passes::ChangeCounts>>,
    /// Context paths of the spec file, the files it includes and
    /// buildspec's own outputs: left out of a context copied whole (read
    /// by the CLI).
    pub own_files: Vec<String>,
    /// Context paths git ignores (untracked; a directory as one path),
    /// left out of a context copied whole (read by the CLI).
    pub git_ignored: Option<std::sync::Arc<std::collections::BTreeSet<String>>>,
    /// Pin every image to its digest in this lock (`--locked`, read by the
    /// CLI); an image it lacks is a `not_locked` error.
    pub lock: Option<std::sync::Arc<lock::Lock>>,
}

impl CompileOpts {
    /// Everything on, no target, the built-in frontend, nothing known
    /// about the context.
    #[allow(clippy::new_without_default)]
    pub fn new() -> CompileOpts {
        CompileOpts { target: None, frontend: Frontend::BuiltIn, gate_tests: true, optimize: true, context_files: None, manifests: Default::default(), changes: None, own_files: Vec::new(), git_ignored: None, lock: None }
    }
}

/// A compiled spec.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub dockerfile: String,
    pub dockerignore: String,
    pub instructions: Vec<emit::Instruction>,
    pub graph: graph::Graph,
    /// Warnings (never errors).
    pub warnings: Vec<Diagnostic>,
    /// The spec file and the files it includes, for turning spans into
    /// `file:line`.
    pub sources: source::Sources,
}

/// Compiles a spec's text to a Dockerfile and .dockerignore. On failure,
/// every diagnostic found is returned together.
pub fn compile(source: &SourceFile, opts: &CompileOpts) -> Result<Compiled, Failure> {
    compile_parsed(&syntax::parse(source), opts)
}

/// Compiles a parsed spec (see [`syntax::parse_with_includes`]), so that a
/// caller that read the spec for its context parses it only once.
pub fn compile_parsed(parsed: &syntax::ParsedSpec, opts: &CompileOpts) -> Result<Compiled, Failure> {
    let sources = &parsed.sources;
    let fail = |diagnostics: Vec<Diagnostic>| Failure { sources: sources.clone(), diagnostics };
    let mut diags = Diagnostics::default();
    // A file that is not KDL has no spec to check further.
    if parsed.diagnostics.iter().any(|d| d.code == Code::KdlSyntax) {
        diags.extend(parsed.diagnostics.iter().cloned());
        return Err(fail(diags.into_sorted()));
    }
    diags.extend(parsed.diagnostics.iter().cloned());
    let built = graph::build(&parsed.spec);
    diags.extend(built.diagnostics);
    let graph = match built.value {
        Some(graph) if !diags.has_errors() => graph,
        _ => return Err(fail(diags.into_sorted())),
    };
    let target = match &opts.target {
        None => None,
        Some(name) => match graph.find(name) {
            Some(id) => Some(id),
            None => {
                let names: Vec<&str> = graph.stages.iter().map(|s| s.name.as_str()).collect();
                let help = match syntax::names::suggest(name, names.iter().copied()) {
                    Some(it) => format!("did you mean `{it}`?"),
                    None => format!("the stages are: {}", names.join(", ")),
                };
                diags.push(
                    Diagnostic::unplaced(Code::UnknownTarget, format!("--target `{name}` names no stage of this spec"))
                        .help(help),
                );
                return Err(fail(diags.into_sorted()));
            }
        },
    };
    let graph = passes::run_all(
        graph,
        &passes::PassOpts {
            target,
            gate_tests: opts.gate_tests,
            optimize: opts.optimize,
            context_files: opts.context_files.as_deref(),
            manifests: &opts.manifests,
            changes: opts.changes.as_deref(),
            own_files: &opts.own_files,
            git_ignored: opts.git_ignored.as_deref(),
        },
    );
    graph.validate();
    let graph = match &opts.lock {
        None => graph,
        Some(lock) => match lock::pin(graph, lock) {
            Ok(graph) => graph,
            Err(missing) => {
                diags.extend(missing);
                return Err(fail(diags.into_sorted()));
            }
        },
    };
    if opts.gate_tests {
        diags.extend(passes::ungateable_tests(&graph));
    }
    diags.extend(emit::check(&graph, &opts.frontend));
    let diagnostics = diags.into_sorted();
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(fail(diagnostics));
    }
    let locate = |offset: usize| sources.locate(offset);
    let spec_name = sources.locate(0).name;
    let emit_opts = emit::EmitOpts { spec_name: &spec_name, locate: &locate, syntax: opts.frontend.syntax() };
    let (dockerfile, instructions) = emit::emit_dockerfile(&graph, &emit_opts);
    let dockerignore = emit::emit_dockerignore(&graph, &spec_name);
    Ok(Compiled { dockerfile, dockerignore, instructions, graph, warnings: diagnostics, sources: sources.clone() })
}
