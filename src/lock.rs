//! `buildspec.lock`: the digest each image a spec names resolved to, so
//! that `compile --locked` and `build --locked` build from bases that do
//! not move. Pure: which images a graph names, the lock file's text both
//! ways, and pinning a graph's images to their digests. The CLI resolves
//! digests through the registry and reads and writes the file.
//!
//! ```kdl
//! // Written by `buildspec lock` for buildspec.kdl. Do not edit: run it again.
//! lock 1
//! image "debian:bookworm-slim" digest="sha256:…"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diag::{Code, Diagnostic};
use crate::graph::{Base, Graph};
use crate::source::Span;
use crate::spec::StepKind;
use crate::template::kdl_string;

/// Image reference as the spec writes it → `sha256:` digest, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    pub images: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LockError {
    #[error("line {line}: {message}")]
    Invalid { line: usize, message: String },
    #[error("not a buildspec lock file (it starts with `lock 1`)")]
    NoHeader,
}

/// Where the lock of the spec at `spec` lives: beside it, `.lock` for
/// `.kdl` (`buildspec.kdl` → `buildspec.lock`).
pub fn lock_path(spec: &Path) -> PathBuf {
    spec.with_extension("lock")
}

/// Whether `image` can be locked: a plain reference, not `scratch`, not
/// chosen by a build arg, not already pinned by digest.
fn lockable(image: &str) -> bool {
    image != "scratch" && !image.contains('$') && !image.contains('@')
}

/// Every image reference the graph's stages name (bases, `copy from=`,
/// `bind from=` an image) that can be locked, each with its first span.
pub fn images(graph: &Graph) -> BTreeMap<String, Span> {
    let mut found: BTreeMap<String, Span> = BTreeMap::new();
    for stage in &graph.stages {
        for (_, image, span) in graph.image_refs(stage) {
            if lockable(image) {
                found.entry(image.to_owned()).or_insert(span);
            }
        }
    }
    found
}

/// `NAME@DIGEST` for a locked image, keeping the tag for the reader
/// (`debian:bookworm-slim@sha256:…`; the engine goes by the digest).
fn pinned(image: &str, digest: &str) -> String {
    format!("{image}@{digest}")
}

/// The graph with every lockable image pinned to its digest in `lock`;
/// an image the lock lacks is an error at its spec line.
pub fn pin(mut graph: Graph, lock: &Lock) -> Result<Graph, Vec<Diagnostic>> {
    let missing: Vec<Diagnostic> = images(&graph)
        .into_iter()
        .filter(|(image, _)| !lock.images.contains_key(image))
        .map(|(image, span)| {
            Diagnostic::error(Code::NotLocked, span, format!("image `{image}` is not in the lock file"))
                .label("named here")
                .help("run `buildspec lock` to resolve it and write the lock file again")
        })
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    let names: Vec<String> = graph.stages.iter().map(|s| s.name.value.clone()).collect();
    let swap = |value: &mut String| {
        if let Some(digest) = lock.images.get(value.as_str()) {
            *value = pinned(value, digest);
        }
    };
    for stage in &mut graph.stages {
        if let Base::Image(image) = &mut stage.base
            && lockable(image)
        {
            swap(image);
            swap(&mut stage.from.value);
        }
        for step in &mut stage.steps {
            match &mut step.kind {
                StepKind::Copy(copy) => {
                    if let Some(from) = copy.from.as_mut().filter(|f| !names.contains(&f.value)) {
                        swap(&mut from.value);
                    }
                }
                StepKind::Run(run) => {
                    for from in run.binds.iter_mut().filter_map(|b| b.from.as_mut()).filter(|f| !names.contains(&f.value)) {
                        swap(&mut from.value);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(graph)
}

/// The lock file's text: a header, then one sorted line per image.
pub fn render(lock: &Lock, spec_name: &str) -> String {
    let mut out = format!("// Written by `buildspec lock` for {spec_name}. Do not edit: run it again.\nlock 1\n");
    for (image, digest) in &lock.images {
        out.push_str(&format!("image {} digest={}\n", kdl_string(image), kdl_string(digest)));
    }
    out
}

/// Reads a lock file written by [`render`].
pub fn parse(text: &str) -> Result<Lock, LockError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    if let Some(at) = crate::syntax::depth::too_deep(text) {
        return Err(LockError::Invalid { line: line_of(at), message: format!("blocks nested more than {} deep; a lock file has none", crate::syntax::depth::MAX_DEPTH) });
    }
    let doc: kdl::KdlDocument = text.parse().map_err(|e: kdl::KdlError| LockError::Invalid { line: 1, message: e.to_string() })?;
    let mut nodes = doc.nodes().iter();
    match nodes.next() {
        Some(n) if n.name().value() == "lock" && n.entries().len() == 1 && n.entries()[0].value().as_integer() == Some(1) => {}
        _ => return Err(LockError::NoHeader),
    }
    let mut lock = Lock::default();
    for node in nodes {
        let line = line_of(node.span().offset());
        let invalid = |message: String| LockError::Invalid { line, message };
        if node.name().value() != "image" {
            return Err(invalid(format!("unknown node `{}`", node.name().value())));
        }
        let image = node.entries().iter().find(|e| e.name().is_none()).and_then(|e| e.value().as_string());
        let digest = node.get("digest").and_then(|v| v.as_string());
        match (image, digest) {
            (Some(image), Some(digest)) if crate::oci::store::parse_digest(digest).is_some() => {
                lock.images.insert(image.to_owned(), digest.to_owned());
            }
            _ => return Err(invalid("write `image \"NAME\" digest=\"sha256:…\"`".to_owned())),
        }
    }
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_file_nested_100000_deep_is_an_error_not_an_abort() {
        let text = format!("lock 1\n{}{}", "a {\n".repeat(100_000), "}\n".repeat(100_000));
        match parse(&text) {
            Err(LockError::Invalid { line, message }) => {
                assert_eq!(line, 2 + crate::syntax::depth::MAX_DEPTH);
                assert!(message.contains("nested"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_lock_reads_back_what_it_wrote() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let lock = Lock { images: [("debian:bookworm-slim".to_owned(), digest.clone()), ("127.0.0.1:5000/x/y:1".to_owned(), digest)].into() };
        let text = render(&lock, "buildspec.kdl");
        assert_eq!(parse(&text), Ok(lock));
        assert_eq!(parse("image \"x\" digest=\"sha256:00\"\n"), Err(LockError::NoHeader));
        assert!(matches!(parse("lock 1\nimage \"x\" digest=\"sha256:00\"\n"), Err(LockError::Invalid { line: 2, .. })));
    }
}
