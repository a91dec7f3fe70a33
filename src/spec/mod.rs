//! The typed spec model: what a `buildspec.kdl` says, as plain data with the
//! span of every value. No behaviour and no knowledge of Dockerfiles: the
//! lowering in `syntax` fills it, `graph` resolves its references.

mod step;

pub use step::{
    default_destination, Add, AddSource, Bind, Cache, Copy, Healthcheck, PackageManager, Packages, Port, Protocol, Run,
    Secret, Sharing, Ssh, Step, StepKind, Tmpfs, User,
};

use crate::source::{Span, Spanned};

/// A whole spec file.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub version: Option<Spanned<u32>>,
    pub context: Context,
    /// Global build args, usable in `from=`.
    pub args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
    /// `lint { allow "RULE" … }`: lint rules this spec silences.
    pub lint_allow: Vec<Spanned<String>>,
}

/// The build context: a directory relative to the spec file, and globs left
/// out of it.
#[derive(Debug, Clone)]
pub struct Context {
    pub dir: Spanned<String>,
    pub excludes: Vec<Spanned<String>>,
    /// `include "PATH"`: paths the default exclusions leave in.
    pub includes: Vec<Spanned<String>>,
    /// What the optimizer leaves out of a context that is copied whole
    /// or by directory (filled by the `exclude_by_default` pass, not
    /// written in specs): patterns, in order, before `excludes`.
    pub default_excludes: Vec<String>,
    /// The only context paths the build reads, when known (filled by the
    /// allowlist pass, not written in specs).
    pub allowlist: Option<Vec<String>>,
}

impl Default for Context {
    fn default() -> Context {
        Context { dir: Spanned::new(".".to_owned(), Span::default()), excludes: Vec::new(), includes: Vec::new(), default_excludes: Vec::new(), allowlist: None }
    }
}

/// `arg "NAME" default="V"`, global or inside a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: Spanned<String>,
    pub default: Option<Spanned<String>>,
}

/// What a stage is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Makes artifacts; never shipped.
    Builder,
    /// Checks; gates the runtime stages unless `gate=#false`.
    Test,
    /// A shipped image. The last one in the file is the default target.
    Runtime,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Builder => "builder",
            Role::Test => "test",
            Role::Runtime => "runtime",
        }
    }
}

/// One stage of the build.
#[derive(Debug, Clone)]
pub struct Stage {
    pub role: Role,
    pub name: Spanned<String>,
    /// A stage name or an image reference, possibly with `${ARG}`s.
    pub from: Spanned<String>,
    pub platform: Option<Spanned<String>>,
    /// For test stages: whether the runtime stages wait for it.
    pub gate: bool,
    pub steps: Vec<Step>,
    /// The whole stage node.
    pub span: Span,
}
