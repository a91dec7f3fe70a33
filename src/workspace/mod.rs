//! Reading what a build is made of, at the edge: a spec file and the files
//! it includes, and what the passes may know about its build context (its
//! files, the manifests the presets read, git change counts). `compile`,
//! `plan`, `explain`, `build` and `compile --all` read through here, and
//! each spec is parsed once. The monorepo walker for `generate` is
//! [`tree`].

pub mod tree;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::source::SourceFile;
use crate::syntax::ParsedSpec;

/// Why a spec file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no spec at {}: pass the path of a buildspec.kdl, or run in a directory that has one", .0.display())]
    NotFound(PathBuf),
    #[error("{} is not UTF-8 text", .0.display())]
    NotUtf8(PathBuf),
    #[error("reading {}: {error}", .path.display())]
    Io { path: PathBuf, error: std::io::Error },
}

/// Reads a spec file and parses it, reading the files it includes.
pub fn read_spec(path: &Path) -> Result<ParsedSpec, ReadError> {
    let text = read_text(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound(path.to_owned()),
        std::io::ErrorKind::InvalidData => ReadError::NotUtf8(path.to_owned()),
        _ => ReadError::Io { path: path.to_owned(), error: err },
    })?;
    let source = SourceFile::new(path.display().to_string(), text);
    Ok(crate::syntax::parse_with_includes(&source, &read_include))
}

/// An included file's text, or why not, in the words of a diagnostic.
fn read_include(path: &str) -> Result<String, String> {
    const MAX_BYTES: u64 = 1 << 20;
    let path = Path::new(path);
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return Err("it is a directory".to_owned()),
        Ok(meta) if meta.len() > MAX_BYTES => return Err("it is larger than 1 MiB".to_owned()),
        _ => {}
    }
    read_text(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::InvalidData => "it is not UTF-8 text".to_owned(),
        _ => err.to_string(),
    })
}

fn read_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(std::fs::read(path)?).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))
}

/// Compile options with what the passes may know about the spec's build
/// context: its files (for the dependency-split presets) and how often
/// git saw each path change (for ordering copies). Read here, at the
/// edge; a context that cannot be read just leaves them unknown.
pub fn context_opts(spec_path: &Path, parsed: &ParsedSpec) -> crate::CompileOpts {
    Contexts::default().opts(spec_path, parsed)
}

/// What the passes may know about build contexts, read once per context
/// directory: many specs of a monorepo share one (the workspace root),
/// and git's history is read once for the whole tree.
#[derive(Default)]
pub struct Contexts {
    /// The work tree's root (absolute) and its change counts, when one
    /// `git log` answers for every context below it.
    history: Option<(PathBuf, crate::passes::ChangeCounts)>,
    /// The paths git ignores in that work tree, read once with it.
    ignored: Option<std::collections::BTreeSet<String>>,
    facts: std::collections::HashMap<PathBuf, Facts>,
}

#[derive(Clone)]
struct Facts {
    files: Option<Arc<std::collections::BTreeSet<String>>>,
    manifests: Arc<std::collections::BTreeMap<String, String>>,
    changes: Option<Arc<crate::passes::ChangeCounts>>,
    git_ignored: Option<Arc<std::collections::BTreeSet<String>>>,
}

impl Contexts {
    /// For the contexts below `root`: git's history read once, there.
    pub fn below(root: &Path) -> Contexts {
        let history = std::fs::canonicalize(root).ok().and_then(|abs| git_changes(&abs).map(|c| (abs, c)));
        let ignored = history.as_ref().and_then(|(abs, _)| git_ignored(abs));
        Contexts { history, ignored, facts: Default::default() }
    }

    /// The compile options a spec's context gives.
    pub fn opts(&mut self, spec_path: &Path, parsed: &ParsedSpec) -> crate::CompileOpts {
        let context = context_dir(spec_path, &parsed.spec.context.dir.value);
        let key = std::fs::canonicalize(&context).unwrap_or_else(|_| context.clone());
        if !self.facts.contains_key(&key) {
            let files = context_files(&context);
            let changes = match &self.history {
                Some((root, counts)) => key.strip_prefix(root).ok().map(|rel| {
                    let prefix = rel.to_string_lossy().into_owned();
                    if prefix.is_empty() {
                        counts.clone()
                    } else {
                        let range = crate::passes::facts::below_dir(&prefix);
                        let cut = range.start.len();
                        counts.range(range).map(|(p, n)| (p[cut..].to_owned(), *n)).collect()
                    }
                }),
                None => git_changes(&context),
            };
            let manifests = files.as_ref().map(|files| read_manifests(&context, files)).unwrap_or_default();
            let git_ignored = match (&self.history, &self.ignored) {
                (Some((root, _)), Some(ignored)) => key.strip_prefix(root).ok().map(|rel| below(ignored, &rel.to_string_lossy())),
                _ => git_ignored(&context),
            };
            let git_ignored = git_ignored.map(Arc::new);
            let facts = Facts { files: files.map(Arc::new), manifests: Arc::new(manifests), changes: changes.map(Arc::new), git_ignored };
            self.facts.insert(key.clone(), facts);
        }
        let facts = self.facts[&key].clone();
        // The spec's own files, as context paths, when they lie in it.
        let own_files = parsed
            .sources
            .files()
            .iter()
            .filter_map(|f| std::fs::canonicalize(&f.name).ok()?.strip_prefix(&key).ok().map(|p| p.to_string_lossy().into_owned()))
            .filter(|p| !p.is_empty())
            .collect();
        crate::CompileOpts {
            manifests: facts.manifests,
            context_files: facts.files,
            changes: facts.changes,
            git_ignored: facts.git_ignored,
            own_files,
            ..crate::CompileOpts::new()
        }
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
pub fn context_files(dir: &Path) -> Option<std::collections::BTreeSet<String>> {
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

/// `path` (which need not exist yet) as a path of the spec's build
/// context, when it lies inside it: for leaving buildspec's own outputs
/// (`compile -o DIR`, the oci cache) out of the context.
pub fn in_context(spec_path: &Path, parsed: &ParsedSpec, path: &Path) -> Option<String> {
    let context = std::fs::canonicalize(context_dir(spec_path, &parsed.spec.context.dir.value)).ok()?;
    let abs = std::fs::canonicalize(path)
        .or_else(|_| std::fs::canonicalize(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))).map(|p| p.join(path.file_name().unwrap_or_default())))
        .ok()?;
    let rel = abs.strip_prefix(&context).ok()?.to_string_lossy().into_owned();
    (!rel.is_empty()).then_some(rel)
}

/// The paths of a sorted set below `prefix`, made relative to it.
fn below(paths: &std::collections::BTreeSet<String>, prefix: &str) -> std::collections::BTreeSet<String> {
    if prefix.is_empty() {
        return paths.clone();
    }
    let range = crate::passes::facts::below_dir(prefix);
    let cut = range.start.len();
    paths.range(range).map(|p| p[cut..].to_owned()).collect()
}

/// What `git -C dir ARGS` prints, when it succeeds (no stdin, no stderr).
fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// The untracked paths below `dir` that git ignores (`.gitignore` files at
/// every level, `.git/info/exclude`, the user's excludes file), a
/// directory as one path, when `dir` is in a git work tree. Git's own
/// answer: tracked files that match a pattern are inputs, not ignored.
fn git_ignored(dir: &Path) -> Option<std::collections::BTreeSet<String>> {
    const MAX_PATHS: usize = 10_000;
    let out = git(dir, &["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory", "--no-empty-directory"])?;
    let paths: std::collections::BTreeSet<String> = out
        .split(|b| *b == 0)
        .filter_map(|p| std::str::from_utf8(p).ok())
        .map(|p| p.trim_end_matches('/').to_owned())
        .filter(|p| !p.is_empty() && !p.starts_with("../"))
        .collect();
    (paths.len() <= MAX_PATHS).then_some(paths)
}

/// Commits (of the last 500) that touched each path under `dir`, when it
/// is in a git work tree.
fn git_changes(dir: &Path) -> Option<crate::passes::ChangeCounts> {
    let out = git(dir, &["log", "-n", "500", "--format=", "--name-only", "--relative", "--", "."])?;
    let mut counts = crate::passes::ChangeCounts::new();
    for line in String::from_utf8_lossy(&out).lines().filter(|l| !l.is_empty()) {
        *counts.entry(line.to_owned()).or_default() += 1;
    }
    Some(counts)
}
