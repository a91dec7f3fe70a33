//! The command line: argument parsing, reading spec files, writing output,
//! rendering diagnostics. One file per subcommand. This and the build
//! backends are the only places that do IO.

mod all;
mod build;
mod cache;
mod compile;
mod completions;
mod explain;
mod generate;
mod graph;
mod import;
mod init;
mod lint;
mod lock;
mod plan;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diag::{self, Diagnostic, RenderOpts};
use crate::source::Sources;

/// Turns a declarative build spec (buildspec.kdl) into container images.
#[derive(Debug, Parser)]
#[command(name = "buildspec", version, about, propagate_version = true)]
pub struct Cli {
    /// When to color diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,
    #[command(subcommand)]
    pub command: Command,
}

/// Output format of the reporting commands.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile a spec to a multi-stage Dockerfile and .dockerignore.
    Compile(compile::CompileArgs),
    /// Build a spec's image with BuildKit through the docker engine.
    Build(Box<build::BuildArgs>),
    /// Show the stage graph and every rewrite the optimizer made, and why.
    Explain(explain::ExplainArgs),
    /// Show which steps a change of context paths would re-execute.
    Plan(plan::PlanArgs),
    /// Draw the optimized stage graph: Mermaid, Graphviz DOT or JSON.
    Graph(graph::GraphArgs),
    /// Detect the kind of project in DIR and write DIR/buildspec.kdl for it.
    Init(init::InitArgs),
    /// Write a spec for every deployable package of a workspace, from templates.
    Generate(generate::GenerateArgs),
    /// Check a spec for unsafe or wasteful choices, each with its fix.
    Lint(lint::LintArgs),
    /// Turn a Dockerfile into a spec.
    Import(import::ImportArgs),
    /// Resolve every image the spec names to a digest, into buildspec.lock.
    Lock(lock::LockArgs),
    /// Check the `--backend oci` cache: every blob, every step entry.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    Completions(completions::CompletionsArgs),
    /// Print the man page, or write every page into DIR.
    Man(completions::ManArgs),
}

/// Exit codes: 0 success, 1 a problem with the spec or its files, 2 a
/// usage error (clap exits with 2 by itself).
pub const EXIT_SPEC_ERROR: u8 = 1;

/// Runs the CLI on the process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = Ui::new(cli.color);
    let res = match cli.command {
        Command::Compile(args) => compile::run(&args, &ui),
        Command::Build(args) => build::run(&args, &ui),
        Command::Explain(args) => explain::run(&args, &ui),
        Command::Plan(args) => plan::run(&args, &ui),
        Command::Graph(args) => graph::run(&args, &ui),
        Command::Init(args) => init::run(&args, &ui),
        Command::Generate(args) => generate::run(&args, &ui),
        Command::Lint(args) => lint::run(&args, &ui),
        Command::Import(args) => import::run(&args, &ui),
        Command::Lock(args) => lock::run(&args, &ui),
        Command::Cache(command) => cache::run(&command, &ui),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args, &ui),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed) => ExitCode::from(EXIT_SPEC_ERROR),
    }
}

/// The command failed and has said why on stderr.
#[derive(Debug)]
pub struct Failed;

/// How to talk to the user on stderr.
pub struct Ui {
    color: bool,
}

impl Ui {
    fn new(color: Color) -> Ui {
        let color = match color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal(),
        };
        Ui { color }
    }

    /// A one-line error with no place in a spec.
    pub fn error(&self, message: impl std::fmt::Display) -> Failed {
        eprintln!("error: {message}");
        Failed
    }

    pub fn diagnostics(&self, sources: &Sources, diagnostics: &[Diagnostic]) {
        if diagnostics.is_empty() {
            return;
        }
        let opts = RenderOpts { color: self.color, width: 100 };
        eprint!("{}", diag::render(sources, diagnostics, opts));
    }

    /// Renders a failed compile and its summary line.
    pub fn failure(&self, failure: &diag::Failure) -> Failed {
        self.diagnostics(&failure.sources, &failure.diagnostics);
        let n = failure.n_errors();
        eprintln!(
            "error: could not compile {} ({n} error{})",
            failure.sources.root().name,
            if n == 1 { "" } else { "s" }
        );
        Failed
    }
}

/// The spec path given, or `./buildspec.kdl`.
pub fn spec_path(arg: Option<&Path>) -> PathBuf {
    arg.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("buildspec.kdl"))
}

/// Reads and parses a spec file and the files it includes; a missing or
/// unreadable spec file is a one-line error (an unreadable include is a
/// diagnostic at its `include`, reported when the spec is compiled).
pub fn read_spec(path: &Path, ui: &Ui) -> Result<crate::syntax::ParsedSpec, Failed> {
    crate::workspace::read_spec(path).map_err(|err| ui.error(err))
}

/// Compiles the spec at `spec` (default ./buildspec.kdl) for a report on
/// the build of `target` (default: the default target), showing its
/// warnings: what `explain` and `graph` start from.
pub fn compile_for_report(spec: Option<&Path>, target: Option<String>, ui: &Ui) -> Result<crate::Compiled, Failed> {
    let path = spec_path(spec);
    let parsed = read_spec(&path, ui)?;
    let opts = crate::CompileOpts { target, ..crate::workspace::context_opts(&path, &parsed) };
    let compiled = crate::compile_parsed(&parsed, &opts).map_err(|f| ui.failure(&f))?;
    ui.diagnostics(&compiled.sources, &compiled.warnings);
    Ok(compiled)
}

/// Validates a `--syntax` value as an image reference.
pub fn parse_image_ref(s: &str) -> Result<String, String> {
    if crate::graph::image_ref::is_valid(s) && !s.contains('$') {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not an image reference (e.g. docker/dockerfile:1.7-labs)"))
    }
}

