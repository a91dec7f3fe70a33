//! Default exclusions: when a copy reads the whole context or a directory
//! of it, the context leaves out what no build step should read, so that a
//! commit, an edit to the spec, or a host's build output neither rebuilds
//! anything nor reaches the image.
//!
//! ```text
//! copy "."; run "npm ci && npm run build"   (in a git working copy)
//! ⇒ .dockerignore: **/.git **/.hg **/.svn buildspec.kdl **/node_modules .env (gitignored) …
//! ```
//!
//! What is left out, and why (each shows in `explain`):
//! - version-control metadata (`.git`, `.hg`, `.svn`) at any depth;
//! - the spec file, the files it includes and buildspec's own output
//!   directory, when they lie in the context (the CLI names them);
//! - what the build makes itself when a step of the copying stage (or of a
//!   stage it is built on, or one built on it) makes it: `node_modules` before an npm, yarn or
//!   pnpm install, `target` before cargo (a whole-context copy), Python's caches and `.venv`
//!   before pip, python, pytest, uv or poetry, and the declared
//!   `outputs=` of a later RUN;
//! - every path git ignores (untracked and ignored, as `git ls-files`
//!   reports them; the CLI reads them).
//!
//! A copy that names a path keeps it, whatever the defaults say, and
//! `context { include "PATH" }` takes back every default that would
//! leave PATH out. The spec's own `exclude`s come after the defaults.
//! Cost: one walk over the steps, then one check of each default against
//! the named paths: O(steps + defaults × named).
//!
//! Cost: O(steps + context files · patterns).

use std::collections::BTreeSet;

use crate::graph::{build::for_each_step, Graph, Rewrite, StageId};
use crate::passes::facts::{self, PathKey};
use crate::source::Span;
use crate::spec::{AddSource, StepKind};

/// What the pass may know of the context (read by the CLI).
pub struct Known<'a> {
    pub context_files: Option<&'a BTreeSet<String>>,
    pub own_files: &'a [String],
    pub git_ignored: Option<&'a BTreeSet<String>>,
}

/// A copy (or bind) that reads the whole context or a directory of it.
struct BroadRead {
    stage: StageId,
    /// Its index in the stage's steps (a `deps` block's steps count as the
    /// block's).
    step: usize,
    source: String,
    span: Span,
}

struct LeftOut {
    pattern: String,
    reason: String,
    /// How `explain` tells of it.
    line: Line,
    stage: StageId,
    span: Span,
}

/// The VCS directories share one `explain` line and so do the paths git
/// ignores (they are many); every other default has its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Line {
    Vcs,
    Each,
    GitIgnored,
}

pub fn exclude_by_default(mut graph: Graph, known: &Known<'_>) -> Graph {
    let (broad, named) = context_reads(&graph, known.context_files);
    let Some(first) = broad.first() else { return graph };
    let mut defaults: Vec<LeftOut> = Vec::new();
    let at_first = |pattern: &str, line: Line, reason: &str| LeftOut { pattern: pattern.to_owned(), reason: reason.to_owned(), line, stage: first.stage, span: first.span };
    for vcs in ["**/.git", "**/.hg", "**/.svn"] {
        defaults.push(at_first(vcs, Line::Vcs, "version-control metadata no step reads"));
    }
    for own in known.own_files {
        defaults.push(at_first(own, Line::Each, "buildspec's own file (the spec, a fragment it includes, an output): it reaches the image through the build, not as a file"));
    }
    for read in &broad {
        defaults.extend(made_by_the_build(&graph, read));
    }
    if let Some(ignored) = known.git_ignored {
        for path in ignored {
            defaults.push(at_first(path, Line::GitIgnored, "git ignores it: build output or a local file, not an input"));
        }
    }

    let taken_back: Vec<String> = graph.context.includes.iter().map(|p| facts::normalize(p)).collect();
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    let mut kept_matchers = Vec::new();
    for d in defaults {
        // A named path with glob characters would be read as a pattern.
        let literal_with_glob_chars = !d.pattern.starts_with("**/") && facts::has_glob(&d.pattern);
        if literal_with_glob_chars || !seen.insert(d.pattern.clone()) {
            continue;
        }
        let Some(matcher) = facts::glob(&d.pattern) else { continue };
        let covers = |path: &str| facts::ancestors(path).any(|a| matcher.is_match(a));
        if let Some(back) = taken_back.iter().find(|p| covers(p)) {
            graph.rewrites.push(Rewrite {
                pass: "exclude_by_default",
                stage: d.stage,
                message: format!("kept {} in the context: `context {{ include \"{back}\" }}` takes back the default ({})", d.pattern, d.reason),
                span: graph.context.dir.span,
            });
            continue;
        }
        let already = kept_matchers.iter().any(|m: &globset::GlobMatcher| facts::ancestors(&d.pattern).any(|a| m.is_match(a)));
        if already || named.iter().any(|p| covers(p)) {
            continue;
        }
        kept_matchers.push(matcher);
        kept.push(d);
    }
    let in_line = |line: Line| kept.iter().filter(|d| d.line == line).collect::<Vec<&LeftOut>>();
    let (vcs, one_by_one, ignored) = (in_line(Line::Vcs), in_line(Line::Each), in_line(Line::GitIgnored));
    if let Some(d) = vcs.first() {
        let names: Vec<&str> = vcs.iter().map(|d| d.pattern.trim_start_matches("**/")).collect();
        graph.rewrites.push(Rewrite { pass: "exclude_by_default", stage: d.stage, message: format!("left out {} at any depth: {}", names.join(", "), d.reason), span: d.span });
    }
    for d in one_by_one {
        graph.rewrites.push(Rewrite { pass: "exclude_by_default", stage: d.stage, message: format!("left out {}: {}", d.pattern, d.reason), span: d.span });
    }
    if let Some(d) = ignored.first() {
        let mut names: Vec<&str> = ignored.iter().map(|d| d.pattern.as_str()).take(6).collect();
        if ignored.len() > names.len() {
            names.push("…");
        }
        graph.rewrites.push(Rewrite {
            pass: "exclude_by_default",
            stage: d.stage,
            message: format!("left out {} path{} git ignores ({}): build outputs or local files, not inputs", ignored.len(), if ignored.len() == 1 { "" } else { "s" }, names.join(", ")),
            span: d.span,
        });
    }
    graph.context.default_excludes = kept.into_iter().map(|d| d.pattern).collect();
    graph
}

/// The copies that read the whole context or a directory, in stage order,
/// and every context path a step names (those keep what they name).
fn context_reads(graph: &Graph, files: Option<&BTreeSet<String>>) -> (Vec<BroadRead>, Vec<String>) {
    let is_dir = |path: &str| match files {
        Some(files) => files.range(facts::below_dir(path)).next().is_some(),
        // Not known: a path may be a directory unless it has an extension.
        None => !path.rsplit('/').next().unwrap_or(path).contains('.'),
    };
    let (mut broad, mut named) = (Vec::new(), Vec::new());
    for id in &graph.order {
        for (i, step) in graph.stage(*id).steps.iter().enumerate() {
            for_each_step(std::slice::from_ref(step), &mut |inner| {
                let sources: Vec<&str> = match &inner.kind {
                    StepKind::Copy(copy) if copy.from.is_none() => copy.sources.iter().map(|s| s.value.as_str()).collect(),
                    StepKind::Add(add) => match &add.source {
                        AddSource::Paths(paths) => paths.iter().map(|p| p.value.as_str()).filter(|p| !p.contains("://")).collect(),
                        _ => Vec::new(),
                    },
                    StepKind::Run(run) => run.binds.iter().filter(|b| b.from.is_none()).map(|b| b.source.value.as_str()).collect(),
                    _ => Vec::new(),
                };
                for source in sources {
                    let path = facts::normalize(source.trim_start_matches('/'));
                    if path.contains('$') {
                        continue;
                    }
                    if path.is_empty() || (!facts::has_glob(&path) && is_dir(&path)) {
                        broad.push(BroadRead { stage: *id, step: i, source: path.clone(), span: inner.span });
                    }
                    if !path.is_empty() {
                        named.push(path);
                    }
                }
            });
        }
    }
    (broad, named)
}

/// What the build itself makes below a broad read: the output of tools
/// that a step of the same stage, of a stage it is built on or of one
/// built on it runs, and the declared outputs of a later RUN of the stage.
fn made_by_the_build(graph: &Graph, read: &BroadRead) -> Vec<LeftOut> {
    fn scripts_of<'g>(steps: &'g [crate::spec::Step], out: &mut Vec<&'g str>) {
        for_each_step(steps, &mut |s| {
            if let StepKind::Run(run) = &s.kind {
                out.push(run.script.value.as_str());
            }
        })
    }
    // The stage, the stages it is built on and those built on it: a tool
    // run before the copy (a `deps` block, a base stage) is overwritten by
    // the host's output as surely as one run after it reads it.
    let mut scripts: Vec<&str> = Vec::new();
    for id in &graph.order {
        if *id == read.stage || built_on(graph, *id, read.stage) || built_on(graph, read.stage, *id) {
            scripts_of(&graph.stage(*id).steps, &mut scripts);
        }
    }
    let under = |dir: &str| if read.source.is_empty() { dir.to_owned() } else { format!("{}/{dir}", read.source) };
    let any = |words: &[&str]| scripts.iter().any(|s| words.iter().any(|w| s.contains(w)));
    let mut made = Vec::new();
    let mut push = |pattern: String, reason: &str| made.push(LeftOut { pattern, reason: reason.to_owned(), line: Line::Each, stage: read.stage, span: read.span });
    if any(&["npm ci", "npm install", "npm i ", "yarn", "pnpm install", "pnpm i "]) {
        push("**/node_modules".to_owned(), "the build installs the packages itself; the host's would be copied over them");
    }
    if any(&["cargo "]) && read.source.is_empty() {
        push("target".to_owned(), "cargo's build output: the build makes its own");
    }
    if any(&["pip ", "pip3 ", "python", "pytest", "uv ", "poetry "]) {
        for cache in ["**/__pycache__", "**/*.pyc", "**/.venv", "**/.pytest_cache", "**/.mypy_cache"] {
            push(cache.to_owned(), "Python's caches and virtual environments are made where Python runs, not copied");
        }
    }
    // Declared outputs of later RUNs that land below the copy's destination.
    let workdirs = facts::workdirs(graph, read.stage);
    let steps = &graph.stage(read.stage).steps;
    if let StepKind::Copy(copy) = &steps[read.step].kind
        && copy.sources.len() == 1
        && let Some(PathKey::Absolute(dest)) = facts::copy_dests(copy, workdirs[read.step].as_deref()).first()
    {
        let dest = dest.trim_end_matches('/');
        for (j, step) in steps.iter().enumerate().skip(read.step + 1) {
            let StepKind::Run(run) = &step.kind else { continue };
            for output in run.outputs.iter().flatten() {
                if let PathKey::Absolute(out) = PathKey::resolve(output, workdirs[j].as_deref())
                    && let Some(below) = out.strip_prefix(&format!("{dest}/"))
                    && !below.is_empty()
                {
                    push(under(below.trim_end_matches('/')), "a later RUN declares it as its output: the build makes it");
                }
            }
        }
    }
    made
}

/// Whether stage `id` is built on `base` (through `from=` stages).
fn built_on(graph: &Graph, id: StageId, base: StageId) -> bool {
    graph.base_chain(id)[1..].contains(&base)
}

#[cfg(test)]
mod tests {
    use crate::source::SourceFile;
    use std::sync::Arc;

    const NODE: &str = r#"runtime "web" from="node:20-bookworm-slim" {
        workdir "/app"
        copy "."
        run "npm ci && npm run build" outputs="dist node_modules"
        user "node"
    }"#;

    fn compile(spec: &str, opts: crate::CompileOpts) -> crate::Compiled {
        crate::compile(&SourceFile::new("buildspec.kdl", spec.to_owned()), &opts).expect("compiles")
    }

    fn known() -> crate::CompileOpts {
        let ignored: std::collections::BTreeSet<String> = [".env", "coverage"].map(str::to_owned).into();
        crate::CompileOpts { own_files: vec!["buildspec.kdl".to_owned()], git_ignored: Some(Arc::new(ignored)), ..crate::CompileOpts::new() }
    }

    fn ignore_lines(compiled: &crate::Compiled) -> Vec<&str> {
        compiled.dockerignore.lines().filter(|l| !l.starts_with('#')).collect()
    }

    fn explained(compiled: &crate::Compiled) -> Vec<&str> {
        compiled.graph.rewrites.iter().filter(|r| r.pass == "exclude_by_default").map(|r| r.message.as_str()).collect()
    }

    #[test]
    fn a_whole_context_copy_leaves_out_vcs_the_spec_tool_output_and_what_git_ignores() {
        let compiled = compile(NODE, known());
        assert_eq!(ignore_lines(&compiled), ["**/.git", "**/.hg", "**/.svn", "buildspec.kdl", "**/node_modules", "dist", ".env", "coverage"]);
        let ignore = crate::passes::facts::ContextIgnore::new(&compiled.graph);
        for left_out in [".git/index", "buildspec.kdl", "node_modules/x/index.js", "packages/a/node_modules/y.js", ".env", "coverage/lcov.info", "dist/app.js"] {
            assert!(ignore.excludes(left_out), "{left_out} should be left out");
        }
        for kept in ["package.json", "src/index.js", "src/buildspec.kdl.md"] {
            assert!(!ignore.excludes(kept), "{kept} should be in");
        }
        let lines = explained(&compiled);
        assert!(lines.contains(&"left out .git, .hg, .svn at any depth: version-control metadata no step reads"), "{lines:?}");
        assert!(lines.iter().any(|l| l.starts_with("left out **/node_modules: the build installs")), "{lines:?}");
        assert!(lines.contains(&"left out 2 paths git ignores (.env, coverage): build outputs or local files, not inputs"), "{lines:?}");
    }

    #[test]
    fn include_takes_a_default_back_and_a_named_copy_keeps_an_ignored_path() {
        let spec = format!("context {{\n include \"node_modules\"\n}}\n{}", NODE.replace("copy \".\"", "copy \".\"\n copy \".env\""));
        let compiled = compile(&spec, known());
        let lines = ignore_lines(&compiled);
        assert!(!lines.contains(&"**/node_modules") && !lines.contains(&".env"), "{lines:?}");
        assert!(lines.contains(&"coverage"), "{lines:?}");
        assert!(explained(&compiled).iter().any(|l| l.starts_with("kept **/node_modules in the context: `context { include \"node_modules\" }`")));
    }

    #[test]
    fn no_default_without_a_broad_copy_or_with_optimization_off() {
        let named = NODE.replace("copy \".\"", "copy \"package.json\" \"index.js\"");
        let files: std::collections::BTreeSet<String> = ["package.json", "index.js", "src/a.js"].map(str::to_owned).into();
        let compiled = compile(&named, crate::CompileOpts { context_files: Some(Arc::new(files)), ..known() });
        assert!(compiled.graph.context.default_excludes.is_empty());
        let literal = compile(NODE, crate::CompileOpts { optimize: false, ..known() });
        assert!(ignore_lines(&literal).is_empty(), "{}", literal.dockerignore);
    }

    #[test]
    fn a_directory_copy_leaves_out_below_it_and_python_caches() {
        let spec = r#"runtime "app" from="python:3.12-slim" {
            workdir "/app"
            copy "src"
            run "pip install --no-cache-dir ./src"
        }"#;
        let files: std::collections::BTreeSet<String> = ["src/pyproject.toml", "src/app/__init__.py"].map(str::to_owned).into();
        let compiled = compile(spec, crate::CompileOpts { context_files: Some(Arc::new(files)), ..known() });
        let ignore = crate::passes::facts::ContextIgnore::new(&compiled.graph);
        assert!(ignore.excludes("src/app/__pycache__/x.cpython-312.pyc") && ignore.excludes("src/.venv/bin/python"));
        assert!(!ignore.excludes("src/app/__init__.py"));
    }
}
