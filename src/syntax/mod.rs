//! KDL text → typed [`Spec`](crate::spec::Spec), with every problem of the
//! file reported as a spanned diagnostic.

mod lower;
pub mod names;
mod node;
pub mod validate;

use crate::diag::{Diagnostics, Parsed};
use crate::source::SourceFile;
use crate::spec::Spec;

/// Parses and lowers a spec file. The spec may be partial when there are
/// error diagnostics.
pub fn parse(source: &SourceFile) -> Parsed<Spec> {
    let mut diags = Diagnostics::default();
    let value = lower::lower_source(source, &mut diags);
    Parsed { value, diagnostics: diags.into_sorted() }
}
