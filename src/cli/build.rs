//! `buildspec build`: compile in memory and build with a backend.

use std::path::PathBuf;

use crate::build::{self, BuildRequest, Progress};
use crate::cli::{read_spec, spec_path, Failed, Ui};
use crate::CompileOpts;

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The spec file [default: ./buildspec.kdl]
    pub spec: Option<PathBuf>,
    /// Name and tag the image (repeatable), e.g. -t app:1.0
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Build this stage instead of the default target (the last runtime).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Set a build arg (repeatable)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Target platform, e.g. linux/amd64 (repeatable)
    #[arg(long = "platform", value_name = "OS/ARCH")]
    pub platforms: Vec<String>,
    /// Expose a secret to `secret` mounts: id=ID,src=FILE or id=ID,env=VAR (repeatable)
    #[arg(long = "secret", value_name = "id=…,src=…")]
    pub secrets: Vec<String>,
    /// Expose an SSH agent socket or keys to `ssh` mounts: default or ID=PATH (repeatable)
    #[arg(long = "ssh", value_name = "default|ID=PATH")]
    pub ssh: Vec<String>,
    /// Network for RUN steps
    #[arg(long, value_parser = ["host", "none", "default"])]
    pub network: Option<String>,
    /// How to show the engine's progress
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Build the runtime without waiting for the test stages.
    #[arg(long)]
    pub no_tests: bool,
    /// Build the literal lowering (no cache-efficiency passes).
    #[arg(long)]
    pub no_optimize: bool,
    /// The build backend.
    #[arg(long, value_enum, default_value_t = Backend::Docker)]
    pub backend: Backend,
    /// The docker engine to use, e.g. unix:///run/docker.sock or tcp://host:2375
    /// [default: DOCKER_HOST, else the current docker context]
    #[arg(short = 'H', long, value_name = "URL")]
    pub host: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Backend {
    /// BuildKit through the docker engine.
    Docker,
}

pub fn run(args: &BuildArgs, ui: &Ui) -> Result<(), Failed> {
    let path = spec_path(args.spec.as_deref());
    let source = read_spec(&path, ui)?;
    let opts = CompileOpts {
        target: args.target.clone(),
        gate_tests: !args.no_tests,
        optimize: !args.no_optimize,
        ..crate::cli::context_opts(&path, &source)
    };
    let compiled = crate::compile(&source, &opts).map_err(|f| ui.failure(&f))?;
    ui.diagnostics(&source, &compiled.warnings);
    let spec_dir = path.parent().map(|p| if p.as_os_str().is_empty() { std::path::Path::new(".") } else { p });
    let context_dir = spec_dir.unwrap_or(std::path::Path::new(".")).join(&compiled.graph.context.dir.value);
    if !context_dir.is_dir() {
        return Err(ui.error(format!(
            "the build context {} is not a directory (context \"{}\" in {})",
            context_dir.display(),
            compiled.graph.context.dir.value,
            path.display()
        )));
    }
    let spec_name = path.display().to_string();
    let req = BuildRequest {
        compiled: &compiled,
        spec_name: &spec_name,
        source: &source,
        context_dir,
        target: args.target.clone(),
        tags: args.tags.clone(),
        build_args: args.build_args.clone(),
        platforms: args.platforms.clone(),
        secrets: args.secrets.clone(),
        ssh: args.ssh.clone(),
        network: args.network.clone(),
        progress: args.progress,
        host: args.host.clone(),
    };
    match args.backend {
        Backend::Docker => match build::docker::build(&req) {
            Ok(out) => {
                println!("{}", out.image_id);
                Ok(())
            }
            Err(err) => Err(ui.error(err)),
        },
    }
}
