//! The docker backend: runs `docker buildx build` against the engine
//! docker users already have (`--host`, `DOCKER_HOST`, or the current
//! docker context; a remote engine over TCP works the same). The
//! Dockerfile and its `Dockerfile.dockerignore` go into a private
//! temporary directory, so the generated ignore rules apply without
//! touching the user's context; the engine's output is passed through
//! and kept, so a failing step can be named by its spec stage and line.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use crate::build::{BuildOutput, BuildRequest, Progress};

/// Why a docker build failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the docker CLI was not found: install docker (the docker.io or docker-ce-cli package) to use --backend docker")]
    NoDockerCli,
    #[error("the docker buildx plugin was not found: install docker-buildx (or docker-buildx-plugin)")]
    NoBuildx,
    #[error("no docker engine reachable{}: start dockerd, or point DOCKER_HOST or --host at an engine (e.g. --host tcp://127.0.0.1:2375)", .host.as_deref().map(|h| format!(" at {h}")).unwrap_or_default())]
    NoEngine { host: Option<String> },
    #[error("{}", describe_step_failure(.stage.as_deref(), .spec_line.as_ref(), .also, .message))]
    StepFailed { stage: Option<String>, spec_line: Option<crate::source::Location>, also: String, message: String },
    #[error("running docker: {0}")]
    Io(#[from] std::io::Error),
}

fn describe_step_failure(stage: Option<&str>, spec_line: Option<&crate::source::Location>, also: &str, message: &str) -> String {
    match (stage, spec_line) {
        (Some(stage), Some(at)) => format!("stage `{stage}` failed at {at}{also}: {message}"),
        _ => format!("the build failed: {message}"),
    }
}

/// Builds the request's target with BuildKit through the docker engine,
/// passing the engine's progress through to stderr.
pub fn build(req: &BuildRequest<'_>) -> Result<BuildOutput, Error> {
    check_engine(req.host.as_deref())?;
    let dir = tempfile::Builder::new().prefix("buildspec-").tempdir()?;
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(&dockerfile, &req.compiled.dockerfile)?;
    std::fs::write(dir.path().join("Dockerfile.dockerignore"), &req.compiled.dockerignore)?;
    let iidfile = dir.path().join("iid");

    let mut cmd = Command::new("docker");
    if let Some(host) = &req.host {
        cmd.arg("--host").arg(host);
    }
    cmd.args(["buildx", "build"]);
    cmd.arg("--file").arg(&dockerfile);
    cmd.arg("--iidfile").arg(&iidfile);
    let progress = match req.progress {
        Progress::Quiet => "quiet",
        Progress::Auto | Progress::Plain => "plain",
    };
    cmd.arg(format!("--progress={progress}"));
    if let Some(target) = &req.target {
        cmd.arg("--target").arg(target);
    }
    for (flag, values) in [
        ("--tag", &req.tags),
        ("--build-arg", &req.build_args),
        ("--cache-to", &req.cache_to),
        ("--cache-from", &req.cache_from),
        ("--platform", &req.platforms),
        ("--secret", &req.secrets),
        ("--ssh", &req.ssh),
    ] {
        for v in values {
            cmd.arg(flag).arg(v);
        }
    }
    if let Some(network) = &req.network {
        cmd.arg(format!("--network={network}"));
    }
    // The docker driver loads the result into the engine's image store.
    cmd.arg("--load");
    cmd.arg(&req.context_dir);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(Error::NoDockerCli),
        Err(err) => return Err(err.into()),
    };
    // Pass stdout through on a thread; read stderr here, echoing and keeping it.
    let mut stdout = child.stdout.take().expect("piped");
    let pass_stdout = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let mut log = String::new();
    for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
        let line = line?;
        if req.progress != Progress::Quiet {
            eprintln!("{line}");
        }
        log.push_str(&line);
        log.push('\n');
    }
    let status = child.wait()?;
    let out = pass_stdout.join().unwrap_or_default();
    if status.success() {
        let image_id = std::fs::read_to_string(&iidfile)?.trim().to_owned();
        return Ok(BuildOutput { image_id });
    }
    let log = format!("{log}{}", String::from_utf8_lossy(&out));
    Err(classify_failure(req, &log))
}

/// Builds every target of a bake file in one BuildKit session
/// (`docker buildx bake`), passing progress through to stderr. Run from
/// the directory the bake file's contexts are relative to.
pub fn bake(file: &std::path::Path, host: Option<&str>, progress: Progress) -> Result<(), Error> {
    check_engine(host)?;
    let mut cmd = Command::new("docker");
    if let Some(host) = host {
        cmd.arg("--host").arg(host);
    }
    cmd.args(["buildx", "bake", "--file"]).arg(file);
    cmd.arg(format!("--progress={}", if progress == Progress::Quiet { "quiet" } else { "plain" }));
    cmd.arg("--load");
    cmd.stdin(Stdio::null()).stdout(Stdio::inherit()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(Error::NoDockerCli),
        Err(err) => return Err(err.into()),
    };
    let mut log = String::new();
    for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
        let line = line?;
        if progress != Progress::Quiet {
            eprintln!("{line}");
        }
        log.push_str(&line);
        log.push('\n');
    }
    if child.wait()?.success() {
        return Ok(());
    }
    let message = log.lines().rev().find(|l| l.starts_with("ERROR:")).or_else(|| log.lines().rev().find(|l| !l.trim().is_empty())).unwrap_or("docker buildx bake failed");
    Err(Error::StepFailed { stage: None, spec_line: None, also: String::new(), message: message.trim_start_matches("ERROR: ").to_owned() })
}

/// Asks the engine for its version, so an unreachable engine or a missing
/// buildx plugin is one clear line before any build output.
fn check_engine(host: Option<&str>) -> Result<(), Error> {
    let docker = |args: &[&str]| {
        let mut cmd = Command::new("docker");
        if let Some(host) = host {
            cmd.arg("--host").arg(host);
        }
        cmd.args(args).stdin(Stdio::null()).output()
    };
    match docker(&["version", "--format", "{{.Server.Version}}"]) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(Error::NoDockerCli),
        Err(err) => return Err(err.into()),
        Ok(out) if !out.status.success() || out.stdout.trim_ascii().is_empty() => {
            return Err(Error::NoEngine {
                host: host.map(str::to_owned).or_else(|| std::env::var("DOCKER_HOST").ok()),
            });
        }
        Ok(_) => {}
    }
    match docker(&["buildx", "version"]) {
        Ok(out) if out.status.success() => Ok(()),
        Ok(_) => Err(Error::NoBuildx),
        Err(err) => Err(err.into()),
    }
}

/// Turns the engine's output of a failed build into an [`Error`].
fn classify_failure(req: &BuildRequest<'_>, log: &str) -> Error {
    if log.contains("is not a docker command") || log.contains("unknown command \"buildx\"") {
        return Error::NoBuildx;
    }
    if log.contains("Cannot connect to the Docker daemon")
        || log.contains("error during connect")
        || log.contains("failed to connect to the docker API")
    {
        return Error::NoEngine { host: req.host.clone().or_else(|| std::env::var("DOCKER_HOST").ok()) };
    }
    let message = log
        .lines()
        .rev()
        .find(|l| l.starts_with("ERROR:"))
        .or_else(|| log.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("docker buildx build failed")
        .trim_start_matches("ERROR: ")
        .to_owned();
    // BuildKit quotes the failing instruction as `Dockerfile:LINE`.
    let failed_line = log
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Dockerfile:").and_then(|n| n.trim().parse::<usize>().ok()));
    let instruction = failed_line.and_then(|line| {
        req.compiled.instructions.iter().rev().find(|ins| ins.line <= line)
    });
    match instruction.and_then(|ins| ins.origin.as_ref()) {
        Some(origin) => Error::StepFailed {
            stage: Some(origin.stage.clone()),
            also: crate::build::fused_tests_note(&origin.fused_tests, &req.compiled.sources),
            spec_line: Some(req.compiled.sources.locate(origin.span.offset)),
            message,
        },
        None => Error::StepFailed { stage: None, spec_line: None, also: String::new(), message },
    }
}
