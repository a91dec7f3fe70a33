//! The lint rules, one function each, over the graph as the spec wrote it
//! (before the optimizer). Each returns its findings; none does IO.

use super::{finding, Rule};
use crate::diag::Diagnostic;
use crate::graph::{build::for_each_step, Base, Graph, Stage, StageId};
use crate::spec::{AddSource, Role, Step, StepKind, User};

pub fn all(graph: &Graph) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for arg in &graph.args {
        if let Some(default) = &arg.default
            && looks_secret(&arg.name.value, &default.value)
        {
            out.push(secret("arg", &arg.name.value, default.span));
        }
    }
    for stage in &graph.stages {
        out.extend(base_image(stage));
        out.extend(steps(stage));
        out.extend(overridden(stage));
        if stage.role == Role::Runtime {
            out.extend(root_user(graph, stage));
            out.extend(package_caches(stage));
            out.extend(runtime_on_toolchain(graph, stage));
            out.extend(service_without_healthcheck(graph, stage));
        }
        if stage.role == Role::Test {
            out.extend(test_gates_nothing(graph, stage));
        }
    }
    out
}

/// The stage and the stages it is built on, nearest first.
fn chain(graph: &Graph, id: StageId) -> Vec<&Stage> {
    graph.base_chain(id).into_iter().map(|s| graph.stage(s)).collect()
}

/// The image a chain of stages starts from, when it is one.
fn root_image(graph: &Graph, id: StageId) -> Option<&str> {
    match &chain(graph, id).last()?.base {
        Base::Image(image) => Some(image.as_str()),
        _ => None,
    }
}

/// `(repository, tag, digest)` of an image reference.
fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..]), digest),
        None => (name, None, digest),
    }
}

fn base_image(stage: &Stage) -> Vec<Diagnostic> {
    let Base::Image(image) = &stage.base else { return Vec::new() };
    if image.contains('$') {
        return Vec::new();
    }
    let (repo, tag, digest) = split_image(image);
    let span = stage.from.span;
    if digest.is_some() {
        return Vec::new();
    }
    match tag {
        None | Some("latest") => vec![finding(
            Rule::UnpinnedBase,
            span,
            format!("stage `{}` is based on `{image}`, which moves whenever its publisher pushes", stage.name.value),
            "unpinned base image",
            format!("name a version, e.g. from=\"{repo}:1.2\" (and pin it by digest with `@sha256:…` for reproducible builds)"),
        )],
        Some(_) => vec![finding(
            Rule::NotPinnedByDigest,
            span,
            format!("stage `{}` is based on `{image}` by tag: the tag can be moved to other content", stage.name.value),
            "pinned by tag only",
            format!("append the digest, e.g. from=\"{image}@sha256:…\" (`docker buildx imagetools inspect {image}` shows it)"),
        )],
    }
}

/// The rules that look at one step at a time, in every stage.
fn steps(stage: &Stage) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for_each_step(&stage.steps, &mut |step: &Step| match &step.kind {
        StepKind::Add(add) => {
            if let AddSource::Paths(paths) = &add.source {
                for url in paths.iter().filter(|p| p.contains("://")) {
                    if add.checksum.is_none() {
                        out.push(finding(
                            Rule::AddWithoutChecksum,
                            url.span,
                            format!("`add` downloads {} without checking what it got", url.value),
                            "no checksum",
                            "add checksum=\"sha256:…\" so that a changed or tampered download fails the build",
                        ));
                    }
                }
            }
        }
        StepKind::Run(run) => {
            if has_pipe(&run.script) && !run.script.contains("pipefail") {
                out.push(finding(
                    Rule::PipeWithoutPipefail,
                    run.script.span,
                    "a pipeline succeeds when any command but the last fails: this step can pass with a broken result",
                    "pipe without pipefail",
                    "start the script with `set -o pipefail &&` (bash, or a `shell \"bash\" \"-c\"` stage), or split the pipe into steps",
                ));
            }
            if pipes_to_shell(&run.script) {
                out.push(finding(
                    Rule::PipeToShell,
                    run.script.span,
                    "a download is piped straight into a shell: whatever the server sends runs, unchecked",
                    "download | shell",
                    "download to a file, check it (`sha256sum -c`), then run it; or `add` it with checksum=",
                ));
            }
        }
        StepKind::Env(pairs) | StepKind::Label(pairs) => {
            let what = if matches!(step.kind, StepKind::Env(_)) { "env" } else { "label" };
            for (key, value) in pairs {
                if looks_secret(&key.value, &value.value) {
                    out.push(secret(what, &key.value, value.span));
                }
            }
        }
        StepKind::Arg(arg) => {
            if let Some(default) = &arg.default
                && looks_secret(&arg.name.value, &default.value)
            {
                out.push(secret("arg", &arg.name.value, default.span));
            }
        }
        StepKind::Cmd(args) | StepKind::Entrypoint(args) => {
            let what = if matches!(step.kind, StepKind::Cmd(_)) { "cmd" } else { "entrypoint" };
            out.extend(exec_form(what, args));
        }
        StepKind::Healthcheck(hc) => out.extend(exec_form("healthcheck", &hc.command)),
        _ => {}
    });
    out
}

fn exec_form(what: &str, args: &[crate::source::Spanned<String>]) -> Option<Diagnostic> {
    let [only] = args else { return None };
    let words: Vec<&str> = only.split_whitespace().collect();
    if words.len() < 2 {
        return None;
    }
    let split = words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" ");
    Some(finding(
        Rule::ExecFormWithSpaces,
        only.span,
        format!("`{what}` runs the program `{}`, spaces and all: no such program exists", only.value),
        "one argument with spaces",
        format!("split the words ({what} {split}), or run it through a shell ({what} \"sh\" \"-c\" \"{}\")", only.value),
    ))
}

fn secret(what: &str, key: &str, span: crate::source::Span) -> Diagnostic {
    finding(
        Rule::SecretInValue,
        span,
        format!("`{what}` {key} looks like a secret: it is stored in the image for anyone who pulls it"),
        "secret in the image",
        "pass it at build time with a `secret` mount (run … { secret \"id\" env=\"NAME\" }) or at run time, never in the spec",
    )
}

/// Whether a name/value pair looks like a credential: a secret-sounding
/// name with a literal value, or a value in a known token format.
fn looks_secret(key: &str, value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() || (value.starts_with("${") && value.ends_with('}')) || value.starts_with('$') {
        return false;
    }
    let upper = key.to_ascii_uppercase();
    let names_a_place = ["_FILE", "_PATH", "_URL", "_DIR"].iter().any(|w| upper.ends_with(w));
    let secret_name = !names_a_place && ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL"].iter().any(|w| upper.contains(w));
    let token_like = value.starts_with("-----BEGIN")
        || ["ghp_", "github_pat_", "glpat-", "xoxb-", "xoxp-", "sk_live_", "AKIA"].iter().any(|p| value.starts_with(p) && value.len() >= 16);
    (secret_name && !matches!(value.to_ascii_lowercase().as_str(), "true" | "false" | "1" | "0")) || token_like
}

/// Whether a script has a pipe (`|`, not `||`) outside quotes.
fn has_pipe(script: &str) -> bool {
    let (mut single, mut double) = (false, false);
    let b = script.as_bytes();
    for (i, c) in b.iter().enumerate() {
        match c {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'|' if !single && !double => {
                let doubled = b.get(i + 1) == Some(&b'|') || (i > 0 && b[i - 1] == b'|');
                if !doubled {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Metadata of which only the last of a stage counts.
fn overridden(stage: &Stage) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (what, pick) in [
        ("cmd", (|k: &StepKind| matches!(k, StepKind::Cmd(_))) as fn(&StepKind) -> bool),
        ("entrypoint", |k| matches!(k, StepKind::Entrypoint(_))),
        ("healthcheck", |k| matches!(k, StepKind::Healthcheck(_))),
    ] {
        let found: Vec<&Step> = stage.steps.iter().filter(|s| pick(&s.kind)).collect();
        if let [.., _, last] = found.as_slice() {
            for earlier in &found[..found.len() - 1] {
                out.push(
                    finding(
                        Rule::OverriddenInstruction,
                        earlier.span,
                        format!("this `{what}` of stage `{}` has no effect: a later one replaces it", stage.name.value),
                        "overridden",
                        format!("keep one `{what}` per stage"),
                    )
                    .related(last.span, "the one that counts"),
                );
            }
        }
    }
    out
}

/// `curl …| sh`, `wget -O- … | sudo bash`, …
fn pipes_to_shell(script: &str) -> bool {
    for line in script.lines() {
        let segments: Vec<&str> = line.split('|').collect();
        for (i, segment) in segments.iter().enumerate().skip(1) {
            // `||` makes an empty segment: not a pipe.
            if segments[i - 1].is_empty() || segment.is_empty() {
                continue;
            }
            let mut words = segment.split_whitespace();
            let mut first = words.next().unwrap_or("");
            if first == "sudo" {
                first = words.next().unwrap_or("");
            }
            let program = first.rsplit('/').next().unwrap_or(first);
            let downloads = segments[..i].iter().any(|s| s.split_whitespace().any(|w| matches!(w.rsplit('/').next(), Some("curl" | "wget"))));
            if downloads && matches!(program, "sh" | "bash" | "zsh" | "ash" | "dash" | "ksh") {
                return true;
            }
        }
    }
    false
}

fn root_user(graph: &Graph, stage: &Stage) -> Option<Diagnostic> {
    let mut user = None;
    for s in chain(graph, stage.id) {
        if let Some(u) = s.steps.iter().rev().find_map(|step| match &step.kind {
            StepKind::User(u) => Some(u),
            _ => None,
        }) {
            user = Some(u);
            break;
        }
    }
    let root = match user {
        Some(u) => match &u.value {
            User::Id(0) => true,
            User::Id(_) => false,
            User::Name(n) => matches!(n.split(':').next(), Some("root" | "0")),
        },
        // The base image may set a user of its own: distroless `nonroot` does.
        None => !root_image(graph, stage.id).is_some_and(|i| i.contains("nonroot")),
    };
    root.then(|| {
        finding(
            Rule::RootUser,
            user.map_or(stage.name.span, |u| u.span),
            format!("runtime `{}` runs as root: a flaw in the program is a flaw with root's rights in the container", stage.name.value),
            "root at run time",
            "add `user 65532` (or a user the image has) as the runtime's last step",
        )
    })
}

fn package_caches(stage: &Stage) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for step in &stage.steps {
        let StepKind::Run(run) = &step.kind else { continue };
        let script = run.script.value.as_str();
        let mut why = Vec::new();
        if script.contains("apt-get install") || script.contains("apt install") {
            if !script.contains("--no-install-recommends") {
                why.push("recommended packages (no --no-install-recommends)");
            }
            if !script.contains("/var/lib/apt/lists") {
                why.push("apt's package lists (no `rm -rf /var/lib/apt/lists/*`)");
            }
        }
        if script.contains("apk add") && !script.contains("--no-cache") {
            why.push("apk's index (no --no-cache)");
        }
        if !why.is_empty() {
            out.push(finding(
                Rule::PackageCachesInRuntime,
                run.script.span,
                format!("this install leaves {} in runtime `{}`", why.join(" and "), stage.name.value),
                "waste in the image",
                "use `packages \"NAME\"…`, which installs without recommends and keeps the lists in a cache mount, or add the flags",
            ));
        }
    }
    out
}

/// Images whose purpose is building: a runtime on one ships the compiler.
fn toolchain(image: &str) -> bool {
    let (repo, tag, _) = split_image(image);
    let name = repo.rsplit('/').next().unwrap_or(repo);
    matches!(name, "golang" | "rust" | "gcc" | "maven" | "gradle" | "sbt" | "swift" | "haskell" | "elixir" | "buildpack-deps")
        || name == "sdk"
        || name.ends_with("-sdk")
        || tag.is_some_and(|t| t.contains("-sdk") || t.contains("jdk") && name.contains("openjdk"))
}

fn runtime_on_toolchain(graph: &Graph, stage: &Stage) -> Option<Diagnostic> {
    let image = root_image(graph, stage.id)?;
    toolchain(image).then(|| {
        finding(
            Rule::RuntimeOnToolchain,
            stage.from.span,
            format!("runtime `{}` ships the toolchain of `{image}`: hundreds of megabytes and a compiler for an attacker", stage.name.value),
            "toolchain in the image",
            "build in a `builder` stage and copy only the output into a slim or distroless runtime (copy \"/out/app\" from=\"build\")",
        )
    })
}

fn service_without_healthcheck(graph: &Graph, stage: &Stage) -> Option<Diagnostic> {
    let expose = stage.steps.iter().find(|s| matches!(s.kind, StepKind::Expose(_)))?;
    let healthcheck = chain(graph, stage.id).iter().flat_map(|s| &s.steps).any(|s| matches!(s.kind, StepKind::Healthcheck(_)));
    (!healthcheck).then(|| {
        finding(
            Rule::ServiceWithoutHealthcheck,
            expose.span,
            format!("runtime `{}` serves a port but says nothing of how to tell it is healthy", stage.name.value),
            "no healthcheck",
            "add healthcheck \"CMD\" \"ARG\"… interval=\"30s\" (or healthcheck none=#true where the orchestrator probes it)",
        )
    })
}

fn test_gates_nothing(graph: &Graph, stage: &Stage) -> Option<Diagnostic> {
    let used = graph.stages.iter().any(|s| s.deps.iter().any(|d| d.on == stage.id));
    let runtimes = graph.stages.iter().any(|s| s.role == Role::Runtime);
    let gates = stage.gate && runtimes;
    (!gates && !used).then(|| {
        let why = if stage.gate { "the spec has no runtime stage for it to gate" } else { "it says gate=#false and no stage uses it" };
        finding(
            Rule::TestGatesNothing,
            stage.name.span,
            format!("test `{}` gates nothing: {why}, so a build never runs it", stage.name.value),
            "runs only with --target",
            if stage.gate { "add the runtime stage it checks, or make it a builder" } else { "drop gate=#false so the runtime waits for it, or build it in CI with --target" },
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn images_split_into_repository_tag_and_digest() {
        use super::split_image;
        assert_eq!(split_image("debian"), ("debian", None, None));
        assert_eq!(split_image("localhost:5000/app:1.2"), ("localhost:5000/app", Some("1.2"), None));
        assert_eq!(split_image("localhost:5000/app"), ("localhost:5000/app", None, None));
        assert_eq!(split_image("a/b:c@sha256:00"), ("a/b", Some("c"), Some("sha256:00")));
    }

    #[test]
    fn pipes_into_a_shell_are_told_from_other_pipes() {
        use super::pipes_to_shell;
        assert!(pipes_to_shell("curl -fsSL https://x.sh | sh"));
        assert!(pipes_to_shell("wget -qO- https://x | sudo /bin/bash -s --"));
        assert!(!pipes_to_shell("curl -o x https://x || true"));
        assert!(!pipes_to_shell("curl https://x | tar xz"));
        assert!(!pipes_to_shell("cat a | sh"));
        assert!(super::has_pipe("a | b") && !super::has_pipe("a || b") && !super::has_pipe("echo 'a|b'"));
    }

    #[test]
    fn secrets_are_told_by_name_and_by_format() {
        use super::looks_secret;
        assert!(looks_secret("DB_PASSWORD", "hunter2"));
        assert!(looks_secret("X", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"));
        assert!(!looks_secret("DB_PASSWORD", "${DB_PASSWORD}"));
        assert!(!looks_secret("TOKEN_URL", ""));
        assert!(!looks_secret("GREETING", "hello"));
    }
}
