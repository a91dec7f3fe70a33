//! One type per step a stage can hold.

use crate::source::{Span, Spanned};
use crate::spec::ArgDecl;

/// A step and the span of its node.
#[derive(Debug, Clone)]
pub struct Step {
    pub kind: StepKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum StepKind {
    Workdir(Spanned<String>),
    User(Spanned<User>),
    Env(Vec<(Spanned<String>, Spanned<String>)>),
    Arg(ArgDecl),
    Shell(Vec<Spanned<String>>),
    Expose(Vec<Spanned<Port>>),
    Volume(Vec<Spanned<String>>),
    Label(Vec<(Spanned<String>, Spanned<String>)>),
    StopSignal(Spanned<String>),
    Entrypoint(Vec<Spanned<String>>),
    Cmd(Vec<Spanned<String>>),
    Healthcheck(Healthcheck),
    Copy(Copy),
    Add(Add),
    Run(Run),
    Packages(Packages),
    /// A `deps { … }` block: steps that fetch dependencies.
    Deps(Vec<Step>),
}

/// `user "name[:group]"` or `user 65532`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum User {
    Name(String),
    Id(u32),
}

/// A port of `expose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    pub first: u16,
    /// The end of a range such as `8000-8010`.
    pub last: Option<u16>,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

/// `healthcheck "cmd" "arg"… interval= timeout= start-period= retries=`, or
/// `healthcheck none=#true`.
#[derive(Debug, Clone, Default)]
pub struct Healthcheck {
    pub none: bool,
    pub command: Vec<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub start_period: Option<Spanned<String>>,
    pub retries: Option<Spanned<u32>>,
}

/// `copy "SRC"… to= from= chown= chmod= link= exclude=`.
#[derive(Debug, Clone, Default)]
pub struct Copy {
    pub sources: Vec<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    /// A stage name or an image reference.
    pub from: Option<Spanned<String>>,
    pub chown: Option<Spanned<String>>,
    pub chmod: Option<Spanned<String>>,
    pub link: bool,
    pub excludes: Vec<Spanned<String>>,
}

/// `add "URL-OR-PATH" to= checksum=` or `add git= ref= to=`.
#[derive(Debug, Clone)]
pub struct Add {
    pub source: AddSource,
    pub to: Option<Spanned<String>>,
    pub checksum: Option<Spanned<String>>,
    pub chown: Option<Spanned<String>>,
    pub chmod: Option<Spanned<String>>,
    pub link: bool,
}

#[derive(Debug, Clone)]
pub enum AddSource {
    Paths(Vec<Spanned<String>>),
    Git { repo: Spanned<String>, reference: Option<Spanned<String>> },
}

/// `run "SCRIPT" network= security=` with mount children.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub script: Spanned<String>,
    pub network: Option<Spanned<String>>,
    pub security: Option<Spanned<String>>,
    /// `inputs="PATH …"`: what this script reads of what earlier steps
    /// wrote, the copies and the declared outputs of RUNs (paths relative
    /// to the workdir). `None`: it may read everything they wrote.
    pub inputs: Option<Vec<String>>,
    /// `outputs="PATH …"`: the only paths this script writes (relative to
    /// the workdir, or absolute), besides its cache and tmpfs mounts.
    /// `None`: it may write anywhere.
    pub outputs: Option<Vec<String>>,
    pub caches: Vec<Cache>,
    pub secrets: Vec<Secret>,
    pub ssh: Vec<Ssh>,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<Tmpfs>,
    /// Set by the optimizer: the test stages whose RUNs this one runs after
    /// its own script (their names, at their first step), so that a failure
    /// can name them too.
    pub fused_tests: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

impl Sharing {
    pub fn as_str(self) -> &'static str {
        match self {
            Sharing::Shared => "shared",
            Sharing::Private => "private",
            Sharing::Locked => "locked",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cache {
    pub target: Spanned<String>,
    pub id: Option<Spanned<String>>,
    pub sharing: Option<Sharing>,
}

#[derive(Debug, Clone)]
pub struct Secret {
    pub id: Spanned<String>,
    pub target: Option<Spanned<String>>,
    pub env: Option<Spanned<String>>,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct Ssh {
    pub id: Option<Spanned<String>>,
}

#[derive(Debug, Clone)]
pub struct Bind {
    pub source: Spanned<String>,
    pub target: Spanned<String>,
    pub from: Option<Spanned<String>>,
    pub rw: bool,
}

#[derive(Debug, Clone)]
pub struct Tmpfs {
    pub target: Spanned<String>,
    pub size: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
    Apt,
    Apk,
}

/// `packages "a" "b"… manager="apt|apk"`.
#[derive(Debug, Clone)]
pub struct Packages {
    pub names: Vec<Spanned<String>>,
    pub manager: Option<Spanned<PackageManager>>,
    /// Keep apt's downloads and lists in cache mounts (set by the
    /// cache-mount pass).
    pub cached: bool,
}

/// Where a source lands when `copy` has no `to=`: the same relative path
/// under the workdir (or the same absolute path, out of a stage).
pub fn default_destination(source: &str) -> String {
    if source.starts_with('/') {
        let trimmed = source.trim_end_matches('/');
        return match glob_parent(trimmed) {
            Some(parent) => format!("{parent}/"),
            None if trimmed.is_empty() => "/".to_owned(),
            None => trimmed.to_owned(),
        };
    }
    let mut path = source;
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let path = path.trim_end_matches('/');
    if path.is_empty() || path == "." {
        return "./".to_owned();
    }
    match glob_parent(path) {
        Some("") => "./".to_owned(),
        Some(parent) => format!("./{parent}/"),
        None => format!("./{path}"),
    }
}

/// For a path with glob characters, the directory before the first
/// component that has one.
fn glob_parent(path: &str) -> Option<&str> {
    let first_glob = path.find(['*', '?', '['])?;
    Some(match path[..first_glob].rfind('/') {
        Some(i) => &path[..i],
        None => "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_destinations() {
        assert_eq!(default_destination("src"), "./src");
        assert_eq!(default_destination("./src/"), "./src");
        assert_eq!(default_destination("."), "./");
        assert_eq!(default_destination("*.py"), "./");
        assert_eq!(default_destination("app/*.py"), "./app/");
        assert_eq!(default_destination("/src/target/release/api"), "/src/target/release/api");
        assert_eq!(default_destination("/out/*.whl"), "/out/");
    }
}
