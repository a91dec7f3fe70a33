//! `buildspec build`: compile in memory and build with a backend.

use std::path::PathBuf;

use crate::build::{self, BuildRequest, Progress};
use crate::cli::{read_spec, spec_path, Failed, Ui};
use crate::CompileOpts;

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The spec file [default: ./buildspec.kdl]; with --all, the root to
    /// look for specs below [default: .]
    pub spec: Option<PathBuf>,
    /// Build every buildspec.kdl below the root, each image tagged with its
    /// directory's name: in one BuildKit session (bake) with the docker
    /// backend, one after another on one cache with --backend oci.
    #[arg(long, conflicts_with_all = ["tags", "target", "output"])]
    pub all: bool,
    /// Name and tag the image (repeatable), e.g. -t app:1.0
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Build this stage instead of the default target (the last runtime).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Set a build arg (repeatable)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Export the build cache (repeatable). Docker backend, as BuildKit
    /// takes it: type=registry,ref=HOST/REPO:TAG,mode=max,
    /// type=local,dest=DIR or type=inline (needs an engine with the
    /// containerd image store, see docs/ci.md). Oci backend:
    /// registry:HOST/REPO, every step the build used.
    #[arg(long = "cache-to", value_name = "SPEC", conflicts_with = "all")]
    pub cache_to: Vec<String>,
    /// Import a build cache (repeatable). Docker backend:
    /// type=registry,ref=HOST/REPO:TAG or type=local,src=DIR. Oci
    /// backend: registry:HOST/REPO, asked for each step the local cache
    /// lacks; an unreachable cache is a warning.
    #[arg(long = "cache-from", value_name = "SPEC", conflicts_with = "all")]
    pub cache_from: Vec<String>,
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
    /// Build from the digests in the lock file beside the spec
    /// (buildspec.lock, written by `buildspec lock`).
    #[arg(long, conflicts_with = "all")]
    pub locked: bool,
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
    /// With --backend oci: where the image goes (oci:DIR, oci-archive:FILE,
    /// docker-archive:FILE, registry:HOST/REPO:TAG).
    #[arg(long, value_name = "KIND:PATH")]
    pub output: Option<String>,
    /// With --backend oci: where a base image comes from, e.g.
    /// --base debian:bookworm-slim=docker-archive:debian.tar (repeatable)
    /// [default: pulled from the registry its name says]
    #[arg(long = "base", value_name = "IMAGE=SOURCE")]
    pub bases: Vec<String>,
    /// With --backend oci: the layer and step cache
    /// [default: $BUILDSPEC_CACHE_DIR, else ~/.cache/buildspec/oci]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// With --backend oci: how layers are compressed.
    #[arg(long, value_enum, default_value_t = crate::oci::layer::Compression::Gzip)]
    pub compression: crate::oci::layer::Compression,
    /// Summary format (the oci backend prints the image's digests).
    #[arg(long, value_enum, default_value_t = crate::cli::Format::Text)]
    pub format: crate::cli::Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Backend {
    /// BuildKit through the docker engine.
    Docker,
    /// Daemonless: straight into an OCI image, RUN steps in runc.
    Oci,
}

pub fn run(args: &BuildArgs, ui: &Ui) -> Result<(), Failed> {
    if args.all {
        return build_all(args, ui);
    }
    let path = spec_path(args.spec.as_deref());
    let parsed = read_spec(&path, ui)?;
    let mut opts = CompileOpts {
        target: args.target.clone(),
        gate_tests: !args.no_tests,
        optimize: !args.no_optimize,
        frontend: match args.backend {
            Backend::Docker => crate::Frontend::BuiltIn,
            Backend::Oci => crate::Frontend::Direct,
        },
        lock: crate::cli::lock::read_if(args.locked, &path, ui)?,
        ..crate::workspace::context_opts(&path, &parsed)
    };
    // An oci cache inside the context is buildspec's own output.
    let cache = args.cache_dir.clone().or_else(|| std::env::var_os("BUILDSPEC_CACHE_DIR").map(PathBuf::from));
    if let Some(cache) = cache.and_then(|dir| crate::workspace::in_context(&path, &parsed, &dir)) {
        opts.own_files.push(cache);
    }
    let compiled = crate::compile_parsed(&parsed, &opts).map_err(|f| ui.failure(&f))?;
    ui.diagnostics(&compiled.sources, &compiled.warnings);
    let context_dir = crate::workspace::context_dir(&path, &compiled.graph.context.dir.value);
    if !context_dir.is_dir() {
        return Err(ui.error(format!(
            "the build context {} is not a directory (context \"{}\" in {})",
            context_dir.display(),
            compiled.graph.context.dir.value,
            path.display()
        )));
    }
    let req = docker_request(args, &compiled, context_dir, args.target.clone(), args.tags.clone());
    match args.backend {
        Backend::Oci => build_oci(args, &compiled, req.context_dir.clone(), args.tags.first().cloned(), ui),
        Backend::Docker => match build::docker::build(&req) {
            Ok(out) => {
                println!("{}", out.image_id);
                Ok(())
            }
            Err(err) => Err(ui.error(err)),
        },
    }
}

/// A docker backend request for one compiled spec, with the flags' settings.
fn docker_request<'a>(args: &BuildArgs, compiled: &'a crate::Compiled, context_dir: PathBuf, target: Option<String>, tags: Vec<String>) -> BuildRequest<'a> {
    BuildRequest {
        compiled,
        context_dir,
        target,
        tags,
        build_args: args.build_args.clone(),
        cache_to: args.cache_to.clone(),
        cache_from: args.cache_from.clone(),
        platforms: args.platforms.clone(),
        secrets: args.secrets.clone(),
        ssh: args.ssh.clone(),
        network: args.network.clone(),
        progress: args.progress,
        host: args.host.clone(),
    }
}

/// `build --all`: every spec below the root.
fn build_all(args: &BuildArgs, ui: &Ui) -> Result<(), Failed> {
    let root = args.spec.clone().unwrap_or_else(|| PathBuf::from("."));
    let opts = CompileOpts {
        gate_tests: !args.no_tests,
        optimize: !args.no_optimize,
        frontend: match args.backend {
            Backend::Docker => crate::Frontend::BuiltIn,
            Backend::Oci => crate::Frontend::Direct,
        },
        ..CompileOpts::new()
    };
    let all = crate::cli::all::compile_all(&root, &opts, ui)?;
    match args.backend {
        // Bake files of buildx 0.13 have no network key: with --network the
        // images are built one after another, each with that network.
        Backend::Docker if args.network.is_some() => {
            for s in &all {
                let req = docker_request(args, &s.compiled, s.context_dir.clone(), None, vec![format!("{}:latest", s.name)]);
                build::docker::build(&req).map_err(|e| ui.error(format!("{}: {e}", s.spec.display())))?;
                println!("{}:latest", s.name);
            }
            Ok(())
        }
        Backend::Docker => {
            let out = tempfile::Builder::new().prefix("buildspec-all-").tempdir().map_err(|e| ui.error(format!("making a temporary directory: {e}")))?;
            let files = crate::cli::all::output_files(&all, out.path()).map_err(|e| ui.error(e))?;
            let refs: Vec<(PathBuf, &str)> = files.iter().map(|(p, t)| (p.clone(), t.as_str())).collect();
            crate::cli::compile::write_files(&refs).map_err(|e| ui.error(format!("writing the bake file: {e}")))?;
            build::docker::bake(&out.path().join("docker-bake.json"), args.host.as_deref(), args.progress).map_err(|e| ui.error(e))?;
            for s in &all {
                println!("{}:latest", s.name);
            }
            Ok(())
        }
        Backend::Oci => {
            for s in &all {
                if args.progress != Progress::Quiet {
                    eprintln!("== {} ({})", s.name, s.spec.display());
                }
                build_oci(args, &s.compiled, s.context_dir.clone(), Some(format!("{}:latest", s.name)), ui)?;
            }
            Ok(())
        }
    }
}

fn split_kv<'a>(value: &'a str, what: &str, ui: &Ui) -> Result<(&'a str, &'a str), Failed> {
    value.split_once('=').ok_or_else(|| ui.error(format!("{what} `{value}` is not KEY=VALUE")))
}

fn build_oci(
    args: &BuildArgs,
    compiled: &crate::Compiled,
    context_dir: PathBuf,
    tag: Option<String>,
    ui: &Ui,
) -> Result<(), Failed> {
    use crate::build::oci::{self, OciRequest, Output};
    let output = args
        .output
        .as_deref()
        .ok_or_else(|| ui.error("--backend oci needs --output oci:DIR, oci-archive:FILE, docker-archive:FILE or registry:HOST/REPO:TAG"))?;
    let caches = |specs: &[String], flag: &str| -> Result<Vec<crate::oci::registry::Reference>, Failed> {
        specs.iter().map(|spec| crate::oci::registry_cache::parse_spec(spec).map_err(|e| ui.error(format!("{flag}: {e}")))).collect()
    };
    let cache_from = caches(&args.cache_from, "--cache-from")?;
    let cache_to = caches(&args.cache_to, "--cache-to")?;
    let output = Output::parse(output).map_err(|e| ui.error(e))?;
    let tag = match (output.tag(), tag) {
        (Some(in_output), Some(flag)) => {
            return Err(ui.error(format!("the tag is given twice, `{in_output}` in --output and `{flag}` by -t: give it once")));
        }
        (Some(in_output), None) => Some(in_output.to_owned()),
        (None, flag) => flag,
    };
    let mut bases = std::collections::HashMap::new();
    for b in &args.bases {
        let (image, src) = split_kv(b, "--base", ui)?;
        bases.insert(image.to_owned(), src.to_owned());
    }
    let mut build_args = std::collections::BTreeMap::new();
    for a in &args.build_args {
        let (k, v) = split_kv(a, "--build-arg", ui)?;
        build_args.insert(k.to_owned(), v.to_owned());
    }
    let mut secrets = std::collections::HashMap::new();
    for s in &args.secrets {
        let fields: std::collections::HashMap<&str, &str> = s.split(',').filter_map(|f| f.split_once('=')).collect();
        match (fields.get("id"), fields.get("src").or(fields.get("source"))) {
            (Some(id), Some(src)) => {
                secrets.insert((*id).to_owned(), PathBuf::from(src));
            }
            _ => return Err(ui.error(format!("--secret `{s}`: the oci backend takes id=ID,src=FILE"))),
        }
    }
    let mut ssh = std::collections::HashMap::new();
    for s in &args.ssh {
        let (id, socket) = match s.split_once('=') {
            Some((id, path)) => (id, PathBuf::from(path)),
            None => match std::env::var_os("SSH_AUTH_SOCK") {
                Some(sock) => (s.as_str(), PathBuf::from(sock)),
                None => return Err(ui.error(format!("--ssh {s}: SSH_AUTH_SOCK is not set; start an agent or pass --ssh {s}=SOCKET"))),
            },
        };
        use std::os::unix::fs::FileTypeExt;
        if !std::fs::metadata(&socket).is_ok_and(|m| m.file_type().is_socket()) {
            return Err(ui.error(format!("--ssh {s}: {} is not an agent socket (the oci backend forwards agent sockets, not key files)", socket.display())));
        }
        ssh.insert(id.to_owned(), socket);
    }
    let cache_dir = oci_cache_dir(args.cache_dir.as_deref());
    // runc needs absolute paths for bind mounts from the context.
    let context_dir = std::fs::canonicalize(&context_dir)
        .map_err(|e| ui.error(format!("reading the build context {}: {e}", context_dir.display())))?;
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let tag = tag.unwrap_or_else(|| compiled.graph.stage(compiled.graph.target).name.value.clone());
    let req = OciRequest {
        graph: &compiled.graph,
        sources: &compiled.sources,
        context_dir,
        bases,
        build_args,
        secrets,
        ssh,
        host_network: args.network.as_deref() == Some("host"),
        cache_dir,
        epoch,
        output,
        tag,
        quiet: args.progress == crate::build::Progress::Quiet,
        compression: args.compression,
        cache_from,
        cache_to,
    };
    let out = oci::build(&req).map_err(|e| ui.error(e))?;
    match args.format {
        crate::cli::Format::Json => println!(
            "{}",
            serde_json::json!({
                "schema_version": 1,
                "manifest": out.manifest_digest.as_str(),
                "config": out.config_digest.as_str(),
                "layers": out.layers,
                "executed_runs": out.executed_runs,
                "hashed_files": out.hashed_files,
                "pushed": out.pushed.map(|p| serde_json::json!({"uploaded": p.uploaded, "mounted": p.mounted, "existing": p.existing})),
                "cache_hits_remote": out.cache_hits_remote,
                "cache_exported": out.cache_exported,
                "timings_ms": out.timings_ms,
            })
        ),
        crate::cli::Format::Text => println!("{}", out.manifest_digest),
    }
    Ok(())
}

/// The `--backend oci` cache: `--cache-dir`, else `$BUILDSPEC_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/buildspec/oci` (`~/.cache/buildspec/oci`).
pub fn oci_cache_dir(arg: Option<&std::path::Path>) -> PathBuf {
    arg.map(PathBuf::from).or_else(|| std::env::var_os("BUILDSPEC_CACHE_DIR").map(PathBuf::from)).unwrap_or_else(|| {
        let home = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache")
        });
        home.join("buildspec/oci")
    })
}
