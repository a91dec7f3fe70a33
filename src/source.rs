//! Source text and byte spans into it. No IO: callers read files and hand
//! the text in.

use std::sync::Arc;

/// A spec file's name (as shown in diagnostics and comments) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
    /// Where the file starts in its [`Sources`]' offset space (0 for the
    /// spec file itself).
    pub base: usize,
    /// Where each line after the first starts, found on first use (so
    /// `line_of` is a binary search, not a count from the top).
    line_starts: std::sync::OnceLock<Arc<[usize]>>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> SourceFile {
        SourceFile { name: name.into(), text: text.into(), base: 0, line_starts: Default::default() }
    }

    /// 1-based line number of a byte offset into this file's own text.
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        let starts = self.line_starts.get_or_init(|| self.text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i + 1).collect());
        starts.partition_point(|&start| start <= end) + 1
    }
}

/// Every file of one spec: the spec file first, then the files it
/// includes, each placed in its own range of one offset space (as rustc's
/// source map does), so a [`Span`] alone says which file it is in.
#[derive(Debug, Clone)]
pub struct Sources {
    files: Vec<SourceFile>,
}

/// A place in a spec's files, for messages: `name:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The short name: the spec's file name, or an included file's path
    /// relative to the spec's directory.
    pub name: String,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.line)
    }
}

impl Sources {
    /// The spec file alone.
    pub fn new(root: SourceFile) -> Sources {
        Sources { files: vec![SourceFile { base: 0, ..root }] }
    }

    /// The spec file itself.
    pub fn root(&self) -> &SourceFile {
        &self.files[0]
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// Where the next file added starts in the offset space (one past the
    /// end of the last one, so that an empty file's span is still its own).
    pub fn next_base(&self) -> usize {
        self.files.last().map_or(0, |f| f.base + f.text.len() + 1)
    }

    /// Adds an included file at [`Sources::next_base`] and returns that base.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<Arc<str>>) -> usize {
        let base = self.next_base();
        self.files.push(SourceFile { name: name.into(), text: text.into(), base, line_starts: Default::default() });
        base
    }

    /// The file a byte offset of the offset space lies in.
    pub fn file_of(&self, offset: usize) -> &SourceFile {
        self.files.iter().rev().find(|f| f.base <= offset).unwrap_or(&self.files[0])
    }

    /// The short name and 1-based line of an offset.
    pub fn locate(&self, offset: usize) -> Location {
        let file = self.file_of(offset);
        let name = if file.base == 0 {
            std::path::Path::new(&file.name)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| file.name.clone())
        } else {
            relative_to_root(&self.files[0].name, &file.name)
        };
        Location { name, line: file.line_of(offset - file.base) }
    }
}

/// `included` as a path from the spec file's directory (both are paths as
/// the caller named the files, e.g. from the working directory), so that
/// messages and emitted comments do not depend on where the CLI ran; as
/// given when that cannot be told lexically.
fn relative_to_root(root: &str, included: &str) -> String {
    let parts = |p: &str| -> Vec<String> { p.split('/').filter(|c| !c.is_empty() && *c != ".").map(str::to_owned).collect() };
    let mut dir = parts(root);
    dir.pop();
    let file = parts(included);
    if root.starts_with('/') != included.starts_with('/') {
        return included.to_owned();
    }
    let common = dir.iter().zip(&file).take_while(|(a, b)| a == b).count();
    if dir[common..].iter().any(|c| c == "..") {
        return included.to_owned();
    }
    let mut res: Vec<String> = vec!["..".to_owned(); dir.len() - common];
    res.extend(file[common..].iter().cloned());
    res.join("/")
}

/// A byte range in a [`SourceFile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub fn new(offset: usize, len: usize) -> Span {
        Span { offset, len }
    }
}

impl From<miette::SourceSpan> for Span {
    fn from(it: miette::SourceSpan) -> Span {
        Span { offset: it.offset(), len: it.len() }
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(it: Span) -> miette::SourceSpan {
        miette::SourceSpan::new(it.offset.into(), it.len)
    }
}

/// A value together with the span of the spec text it came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}
