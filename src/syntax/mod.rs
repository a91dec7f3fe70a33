//! KDL text → typed [`Spec`](crate::spec::Spec), with every problem of the
//! spec file and the files it includes reported as a spanned diagnostic.

pub mod depth;
pub mod kdl_subset;
mod lower;
pub mod names;
mod node;
pub mod validate;

pub use lower::ReadInclude;

use crate::diag::{Diagnostic, Diagnostics};
use crate::source::{SourceFile, Sources};
use crate::spec::Spec;

/// A spec file lowered, with the files it included. The spec may be
/// partial when there are error diagnostics.
#[derive(Debug, Clone)]
pub struct ParsedSpec {
    pub spec: Spec,
    /// The spec file and every file it included; spans point into these.
    pub sources: Sources,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses and lowers a spec file that includes nothing: an `include` is
/// reported as a file that cannot be read.
pub fn parse(source: &SourceFile) -> ParsedSpec {
    parse_with_includes(source, &|_| Err("this spec is compiled from text alone, without files".to_owned()))
}

/// Parses and lowers a spec file, reading its `include`d files through
/// `read` (called with the path the file would have, the including file's
/// directory joined with the include's argument).
pub fn parse_with_includes(source: &SourceFile, read: ReadInclude<'_>) -> ParsedSpec {
    let mut diags = Diagnostics::default();
    let mut includes = lower::Includes::new(source, read);
    let spec = lower::lower_source(&mut includes, &mut diags);
    ParsedSpec { spec, sources: includes.sources, diagnostics: diags.into_sorted() }
}
