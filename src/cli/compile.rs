//! `buildspec compile`: spec → Dockerfile (stdout) or Dockerfile and
//! .dockerignore written atomically into a directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{parse_image_ref, read_spec, spec_path, Failed, Ui};
use crate::CompileOpts;

#[derive(Debug, clap::Args)]
pub struct CompileArgs {
    /// The spec file [default: ./buildspec.kdl]; with --all, the root to
    /// look for specs below [default: .]
    pub spec: Option<PathBuf>,
    /// Compile every buildspec.kdl below the root into OUT/PATH/ (PATH the
    /// spec's directory), with OUT/docker-bake.json to build them all in one
    /// BuildKit session. Needs -o.
    #[arg(long, requires = "output")]
    pub all: bool,
    /// Write DIR/Dockerfile and DIR/.dockerignore instead of printing the
    /// Dockerfile. Nothing is written if the spec has errors.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Keep only what this stage needs and make it the default target.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Add a `# syntax=REF` line: the engine fetches that Dockerfile
    /// frontend, which unlocks newer features (e.g. copy exclude=).
    #[arg(long, value_name = "REF", value_parser = parse_image_ref)]
    pub syntax: Option<String>,
    /// The literal lowering: no reordering, dependency split, cache mounts,
    /// --link or context allowlist (test gating still applies).
    #[arg(long)]
    pub no_optimize: bool,
    /// Also show `buildspec lint`'s findings, as warnings (they never fail
    /// the compile).
    #[arg(long, conflicts_with = "all")]
    pub lint: bool,
    /// Pin every image to its digest in the lock file beside the spec
    /// (buildspec.lock, written by `buildspec lock`).
    #[arg(long, conflicts_with = "all")]
    pub locked: bool,
}

pub fn run(args: &CompileArgs, ui: &Ui) -> Result<(), Failed> {
    if args.all {
        let root = args.spec.clone().unwrap_or_else(|| PathBuf::from("."));
        let out = args.output.as_deref().expect("clap requires -o with --all");
        let all = crate::cli::all::compile_all(&root, &all_opts(args), ui)?;
        let files = crate::cli::all::output_files(&all, out).map_err(|err| ui.error(err))?;
        let refs: Vec<(PathBuf, &str)> = files.iter().map(|(p, t)| (p.clone(), t.as_str())).collect();
        write_files(&refs).map_err(|err| ui.error(format!("writing into {}: {err}", out.display())))?;
        println!("compiled {} spec{} into {}; build them all with: docker buildx bake -f {}", all.len(), if all.len() == 1 { "" } else { "s" }, out.display(), out.join("docker-bake.json").display());
        return Ok(());
    }
    let path = spec_path(args.spec.as_deref());
    let parsed = read_spec(&path, ui)?;
    let mut opts = CompileOpts {
        target: args.target.clone(),
        frontend: args.syntax.clone().map_or(crate::Frontend::BuiltIn, crate::Frontend::Syntax),
        optimize: !args.no_optimize,
        lock: crate::cli::lock::read_if(args.locked, &path, ui)?,
        ..crate::workspace::context_opts(&path, &parsed)
    };
    if let Some(out) = args.output.as_deref().and_then(|out| crate::workspace::in_context(&path, &parsed, out)) {
        opts.own_files.push(out);
    }
    let compiled = crate::compile_parsed(&parsed, &opts).map_err(|f| ui.failure(&f))?;
    ui.diagnostics(&compiled.sources, &compiled.warnings);
    if args.lint {
        let findings = crate::cli::lint::findings(&parsed).unwrap_or_default();
        let findings: Vec<_> = findings.into_iter().map(|d| if d.is_error() { crate::diag::Diagnostic { severity: crate::diag::Severity::Warning, ..d } } else { d }).collect();
        ui.diagnostics(&compiled.sources, &findings);
    }
    match &args.output {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(compiled.dockerfile.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|err| ui.error(format!("writing the Dockerfile to stdout: {err}")))
        }
        // `.dockerignore` applies when DIR is the build context;
        // `Dockerfile.dockerignore` wherever the context is (BuildKit reads
        // the ignore file beside the Dockerfile first).
        Some(dir) => write_outputs(
            dir,
            &[
                ("Dockerfile", &compiled.dockerfile),
                (".dockerignore", &compiled.dockerignore),
                ("Dockerfile.dockerignore", &compiled.dockerignore),
            ],
        )
        .map_err(|err| ui.error(format!("writing into {}: {err}", dir.display()))),
    }
}

/// What `--all` compiles with: everything but the target.
fn all_opts(args: &CompileArgs) -> CompileOpts {
    CompileOpts {
        frontend: args.syntax.clone().map_or(crate::Frontend::BuiltIn, crate::Frontend::Syntax),
        optimize: !args.no_optimize,
        ..CompileOpts::new()
    }
}

fn write_outputs(dir: &Path, files: &[(&str, &str)]) -> std::io::Result<()> {
    let files: Vec<(PathBuf, &str)> = files.iter().map(|(name, text)| (dir.join(name), *text)).collect();
    write_files(&files)
}

/// Writes every file to a temporary name beside its place first and
/// renames them into place only when all were written, so an error leaves
/// no half-written file. (No fsync: these are build outputs, made again by
/// running the command again; a thousand fsyncs were a third of
/// `compile --all`.)
pub(crate) fn write_files(files: &[(PathBuf, &str)]) -> std::io::Result<()> {
    let mut temps = Vec::new();
    for (path, text) in files {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).tempfile_in(dir)?;
        tmp.write_all(text.as_bytes())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        temps.push((tmp, path.clone()));
    }
    for (tmp, dest) in temps {
        tmp.persist(&dest).map_err(|e| e.error)?;
    }
    Ok(())
}
