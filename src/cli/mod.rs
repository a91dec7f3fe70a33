//! The command line: argument parsing, reading spec files, writing output,
//! rendering diagnostics. One file per subcommand. This and the build
//! backends are the only places that do IO.

mod build;
mod compile;
mod explain;
mod plan;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diag::{self, Diagnostic, RenderOpts};
use crate::source::SourceFile;

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
    Build(build::BuildArgs),
    /// Show the stage graph and every rewrite the optimizer made, and why.
    Explain(explain::ExplainArgs),
    /// Show which steps a change of context paths would re-execute.
    Plan(plan::PlanArgs),
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

    pub fn diagnostics(&self, source: &SourceFile, diagnostics: &[Diagnostic]) {
        if diagnostics.is_empty() {
            return;
        }
        let opts = RenderOpts { color: self.color, width: 100 };
        eprint!("{}", diag::render(source, diagnostics, opts));
    }

    /// Renders a failed compile and its summary line.
    pub fn failure(&self, failure: &diag::Failure) -> Failed {
        self.diagnostics(&failure.source, &failure.diagnostics);
        let n = failure.n_errors();
        eprintln!(
            "error: could not compile {} ({n} error{})",
            failure.source.name,
            if n == 1 { "" } else { "s" }
        );
        Failed
    }
}

/// The spec path given, or `./buildspec.kdl`.
pub fn spec_path(arg: Option<&Path>) -> PathBuf {
    arg.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("buildspec.kdl"))
}

/// Reads a spec file; a missing or unreadable file is a one-line error.
pub fn read_spec(path: &Path, ui: &Ui) -> Result<SourceFile, Failed> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(path.display().to_string(), text)),
            Err(_) => Err(ui.error(format!("{} is not UTF-8 text", path.display()))),
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(ui.error(format!(
            "no spec at {}: pass the path of a buildspec.kdl, or run in a directory that has one",
            path.display()
        ))),
        Err(err) => Err(ui.error(format!("reading {}: {err}", path.display()))),
    }
}

/// Validates a `--syntax` value as an image reference.
pub fn parse_image_ref(s: &str) -> Result<String, String> {
    if crate::graph::image_ref::is_valid(s) && !s.contains('$') {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not an image reference (e.g. docker/dockerfile:1.7-labs)"))
    }
}

/// Compile options with what the passes may know about the spec's build
/// context: its files (for the dependency-split presets) and how often
/// git saw each path change (for ordering copies). Read here, at the
/// edge; a context that cannot be read just leaves them unknown.
pub fn context_opts(spec: &Path, source: &SourceFile) -> crate::CompileOpts {
    let parsed = crate::syntax::parse(source);
    let context = context_dir(spec, &parsed.value.context.dir.value);
    let files = context_files(&context);
    crate::CompileOpts {
        manifests: files.as_ref().map(|files| read_manifests(&context, files)).unwrap_or_default(),
        context_files: files,
        changes: git_changes(&context),
        ..crate::CompileOpts::new()
    }
}

/// The build context: `dir` (as the spec's `context` says) relative to
/// the spec file's directory.
pub fn context_dir(spec: &Path, dir: &str) -> PathBuf {
    match spec.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(dir),
        _ => Path::new(".").join(dir),
    }
}

/// Relative paths of the files in a context, a few levels deep, leaving
/// out the usual large directories.
fn context_files(dir: &Path) -> Option<std::collections::BTreeSet<String>> {
    const SKIP: &[&str] = &[".git", "node_modules", "target", ".venv", "vendor", "__pycache__", "dist", "build"];
    const MAX_FILES: usize = 50_000;
    let mut files = std::collections::BTreeSet::new();
    let mut stack = vec![(dir.to_path_buf(), String::new(), 0usize)];
    while let Some((path, rel, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            if depth == 0 {
                return None;
            }
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if depth < 4 && !SKIP.contains(&name.as_str()) {
                    stack.push((entry.path(), child_rel, depth + 1));
                }
            } else {
                files.insert(child_rel);
                if files.len() >= MAX_FILES {
                    return Some(files);
                }
            }
        }
    }
    Some(files)
}

/// The text of the context's `Cargo.toml` files and cargo configs (what
/// the cargo split reads to know the packages' targets and whether the
/// configs can travel with them), by context path. Unreadable or
/// oversized ones are left out: the split then leaves that build whole.
fn read_manifests(dir: &Path, files: &std::collections::BTreeSet<String>) -> std::collections::BTreeMap<String, String> {
    const MAX_MANIFESTS: usize = 64;
    const MAX_BYTES: u64 = 1 << 20;
    files
        .iter()
        .filter(|f| {
            let name = f.rsplit('/').next().unwrap_or(f);
            name == "Cargo.toml" || ((name == "config.toml" || name == "config") && f.trim_end_matches(name).ends_with(".cargo/"))
        })
        .take(MAX_MANIFESTS)
        .filter_map(|f| {
            let path = dir.join(f);
            let small = std::fs::metadata(&path).ok()?.len() <= MAX_BYTES;
            small.then(|| std::fs::read_to_string(&path).ok().map(|text| (f.clone(), text)))?
        })
        .collect()
}

/// Commits (of the last 500) that touched each path under `dir`, when it
/// is in a git work tree.
fn git_changes(dir: &Path) -> Option<crate::passes::ChangeCounts> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["log", "-n", "500", "--format=", "--name-only", "--relative", "--", "."])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut counts = crate::passes::ChangeCounts::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()) {
        *counts.entry(line.to_owned()).or_default() += 1;
    }
    Some(counts)
}
