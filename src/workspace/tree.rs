//! Reading a monorepo for `buildspec generate` and `compile --all`: the
//! files below a root (VCS metadata, build outputs and what `.gitignore`
//! lists left out, as ripgrep's `ignore` crate walks), and the text of the
//! few files detection reads (manifests, Go package clauses, existing
//! specs, user templates). Everything after this is pure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a walk of a workspace found: every file's path relative to the
/// root ('/'-separated), and the text of the ones detection reads.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub files: BTreeSet<String>,
    /// Text of manifests, lock-file-free project files, `.go` files' heads,
    /// existing `buildspec.kdl` files and `.buildspec/` files.
    pub texts: BTreeMap<String, String>,
}

impl Tree {
    pub fn has(&self, path: &str) -> bool {
        self.files.contains(path)
    }

    pub fn text(&self, path: &str) -> Option<&str> {
        self.texts.get(path).map(String::as_str)
    }

    /// The files directly in `dir` ("" for the root).
    pub fn files_in<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let len = prefix.len();
        self.files
            .range(prefix.clone()..)
            .take_while(move |f| f.starts_with(&prefix))
            .map(String::as_str)
            .filter(move |f| !f[len..].contains('/'))
    }

    /// Whether any file lies below `dir`.
    pub fn has_below(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.files.range(prefix.clone()..).next().is_some_and(|f| f.starts_with(&prefix))
    }
}

/// Directories never walked: VCS metadata and what builds and package
/// managers make.
pub const SKIPPED_DIRS: &[&str] =
    &[".git", ".hg", ".svn", "node_modules", "target", ".venv", "venv", "__pycache__", ".pytest_cache", ".mypy_cache", "dist", "build", ".next", ".turbo"];

/// Whether detection reads this file's text.
fn is_read(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(name, "Cargo.toml" | "go.mod" | "go.work" | "package.json" | "pnpm-workspace.yaml" | "pyproject.toml" | "buildspec.kdl")
        || name.ends_with(".go")
        || (name.starts_with("requirements") && name.ends_with(".txt"))
        || path.starts_with(".buildspec/")
}

/// Why a workspace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("reading {}: {error}", .path.display())]
    Io { path: PathBuf, error: std::io::Error },
}

/// The most files a walk takes in; a bigger tree is read partly.
const MAX_FILES: usize = 500_000;
/// Per file read; larger manifests are left out (detection then skips them).
const MAX_TEXT: u64 = 1 << 20;
/// Of a `.go` file, only the head is read (the package clause and
/// `//buildspec:` directives come before the code).
const GO_HEAD: usize = 8 << 10;

/// Walks `root` (hidden directories other than `.buildspec` and `.cargo`,
/// [`SKIPPED_DIRS`] and `.gitignore`d paths left out) and reads the files
/// detection needs.
pub fn read_tree(root: &Path) -> Result<Tree, Error> {
    if !root.is_dir() {
        return Err(Error::NotADirectory(root.to_owned()));
    }
    let mut tree = Tree::default();
    for entry in walk(root).build() {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Some(rel) = relative(root, entry.path()) else { continue };
        if is_read(&rel) {
            let path = entry.path();
            let small = entry.metadata().map(|m| m.len() <= MAX_TEXT).unwrap_or(false);
            if small {
                match std::fs::read(path) {
                    Ok(mut bytes) => {
                        if rel.ends_with(".go") {
                            bytes.truncate(GO_HEAD);
                        }
                        tree.texts.insert(rel.clone(), String::from_utf8_lossy(&bytes).into_owned());
                    }
                    Err(error) => return Err(Error::Io { path: path.to_owned(), error }),
                }
            }
        }
        tree.files.insert(rel);
        if tree.files.len() >= MAX_FILES {
            break;
        }
    }
    Ok(tree)
}

/// The spec files below `root`, sorted, walked as [`read_tree`] does.
pub fn find_specs(root: &Path) -> Result<Vec<PathBuf>, Error> {
    if !root.is_dir() {
        return Err(Error::NotADirectory(root.to_owned()));
    }
    let mut specs: Vec<PathBuf> = walk(root)
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()) && e.file_name() == "buildspec.kdl")
        .map(|e| e.into_path())
        .collect();
    specs.sort();
    Ok(specs)
}

fn walk(root: &Path) -> ignore::WalkBuilder {
    let mut walk = ignore::WalkBuilder::new(root);
    walk.hidden(false)
        .git_ignore(true)
        .git_exclude(false)
        .git_global(false)
        .require_git(false)
        .parents(false)
        .ignore(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|entry| {
            let name = entry.file_name().to_string_lossy();
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            !(is_dir && entry.depth() > 0 && (SKIPPED_DIRS.contains(&name.as_ref()) || (name.starts_with('.') && name != ".buildspec" && name != ".cargo")))
        });
    walk
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}
