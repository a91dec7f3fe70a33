//! Building images from a compiled spec. The backends do the IO: they run
//! engines and write images. `docker` drives BuildKit through the docker
//! engine (`docker buildx build`).

pub mod docker;
pub mod oci;
pub mod runc;
pub mod schedule;
pub mod scratch;
pub mod timings;

use std::path::PathBuf;

/// How much of the engine's progress to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// Plain lines (the engine's own choice on a terminal).
    Auto,
    /// Plain lines.
    Plain,
    /// Nothing but errors.
    Quiet,
}

/// Everything a backend needs to build one target of a compiled spec.
#[derive(Debug, Clone)]
pub struct BuildRequest<'a> {
    pub compiled: &'a crate::Compiled,
    /// The build context directory.
    pub context_dir: PathBuf,
    /// The stage to build (the compiled default target when `None`).
    pub target: Option<String>,
    pub tags: Vec<String>,
    pub build_args: Vec<String>,
    /// BuildKit cache exports and imports (`type=registry,ref=…`, …).
    pub cache_to: Vec<String>,
    pub cache_from: Vec<String>,
    pub platforms: Vec<String>,
    pub secrets: Vec<String>,
    pub ssh: Vec<String>,
    pub network: Option<String>,
    pub progress: Progress,
    /// The engine to use (`-H` of docker), else DOCKER_HOST or the current
    /// docker context.
    pub host: Option<String>,
}

/// ` (the step also runs test `unit`, buildspec.kdl:30)` for a RUN the
/// optimizer folded tests into (see `Run::fused_tests`), so that a failure
/// names every spec step it may come from; empty for any other step.
pub(crate) fn fused_tests_note(tests: &[crate::source::Spanned<String>], sources: &crate::source::Sources) -> String {
    if tests.is_empty() {
        return String::new();
    }
    let named: Vec<String> =
        tests.iter().map(|t| format!("test `{}`, {}", t.value, sources.locate(t.span.offset))).collect();
    format!(" (the step also runs {})", named.join("; "))
}

/// What a successful build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The image id (`sha256:…`).
    pub image_id: String,
}
