//! Stage graph → Dockerfile and .dockerignore text. Deterministic: the same
//! graph gives byte-identical output. Knows nothing about KDL.

mod check;
mod dockerfile;
mod dockerignore;
pub mod gate;
pub mod quote;

pub use check::check;
pub use dockerfile::{
    emit_dockerfile, packages_run, packages_script, step_text, Instruction, Origin, Reads, DEFAULT_TARGET_COMMENT, GATE_STAGE_COMMENT,
    GENERATED_HEADER,
};
pub use dockerignore::{emit_dockerignore, ALLOWLIST_SECTION, DEFAULTS_SECTION};
pub use gate::GATE_DIR;

/// What the emitter needs besides the graph.
#[derive(Clone)]
pub struct EmitOpts<'a> {
    /// The spec's file name, for comments.
    pub spec_name: &'a str,
    /// Maps a span's offset to its file and 1-based line.
    pub locate: &'a dyn Fn(usize) -> crate::source::Location,
    /// `# syntax=` frontend image, if asked for.
    pub syntax: Option<&'a str>,
}

