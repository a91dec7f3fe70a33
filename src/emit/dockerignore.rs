//! The `.dockerignore` that goes with the emitted Dockerfile.

use crate::emit::dockerfile::GENERATED_HEADER;
use crate::graph::Graph;

/// The section of what the build reads (everything else left out).
pub const ALLOWLIST_SECTION: &str = "# Only what the build reads:";
/// The section of the default exclusions.
pub const DEFAULTS_SECTION: &str = "# Left out by default (`buildspec explain` says why; `context { include \"PATH\" }` takes one back):";
/// The section of the spec's own `context { exclude }`.
pub const SPEC_EXCLUDES_SECTION: &str = "# The spec's context excludes:";

pub fn emit_dockerignore(graph: &Graph, spec_name: &str) -> String {
    let mut out = format!("{GENERATED_HEADER}{spec_name}. Edit the spec, not this file.\n");
    if let Some(allowed) = &graph.context.allowlist {
        out.push_str(&format!("{ALLOWLIST_SECTION}\n*\n"));
        for path in allowed {
            out.push('!');
            out.push_str(path);
            out.push('\n');
        }
    }
    if !graph.context.default_excludes.is_empty() {
        out.push_str(&format!("{DEFAULTS_SECTION}\n"));
        for pattern in &graph.context.default_excludes {
            out.push_str(pattern);
            out.push('\n');
        }
    }
    if !graph.context.excludes.is_empty() {
        out.push_str(&format!("{SPEC_EXCLUDES_SECTION}\n"));
    }
    for glob in &graph.context.excludes {
        out.push_str(&glob.value);
        out.push('\n');
    }
    out
}
