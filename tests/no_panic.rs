//! No input makes buildspec panic: random bytes, and random KDL documents
//! built from the spec's own vocabulary (so they get deep into the
//! lowering, graph and emitter), through the library; and garbage through
//! the real CLI, which must answer with exit code 1.

mod support;

use buildspec::source::SourceFile;
use buildspec::CompileOpts;
use proptest::prelude::*;
use support::{buildspec, kdl_string, split_dockerfile, stderr};

const NAMES: &[&str] = &[
    "buildspec", "context", "exclude", "arg", "builder", "test", "runtime", "workdir", "user", "env", "shell",
    "expose", "volume", "label", "stopsignal", "entrypoint", "cmd", "healthcheck", "copy", "add", "run",
    "packages", "deps", "cache", "secret", "ssh", "bind", "tmpfs", "stage", "include",
];
const PROPS: &[&str] = &[
    "from", "platform", "gate", "default", "to", "chown", "chmod", "link", "exclude", "checksum", "git", "ref",
    "network", "security", "id", "sharing", "target", "env", "required", "rw", "size", "manager", "interval",
    "timeout", "start-period", "retries", "none", "K",
];
const STRINGS: &[&str] = &[
    "build", "app", "unit", "debian:bookworm-slim", "scratch", "${A}", "/src", ".", "0755", "30s", "linux/amd64",
    "8080", "apt", "locked", "host", "", "a\nb", "\\", "$", "EOF",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(STRINGS).prop_map(kdl_string),
        1 => any::<String>().prop_map(|s| kdl_string(&s)),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => Just("340282366920938463463374607431768211455".to_owned()),
        1 => Just("1.5".to_owned()),
        1 => proptest::sample::select(vec!["#true", "#false", "#null", "#inf"]).prop_map(str::to_owned),
    ]
}

fn node(depth: u32) -> BoxedStrategy<String> {
    let name = proptest::sample::select(NAMES);
    let args = proptest::collection::vec(value(), 0..3);
    let props = proptest::collection::vec((proptest::sample::select(PROPS), value()), 0..3);
    let head = (name, args, props).prop_map(|(name, args, props)| {
        let mut s = name.to_owned();
        for a in args {
            s.push(' ');
            s.push_str(&a);
        }
        for (k, v) in props {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    });
    if depth == 0 {
        return head.boxed();
    }
    (head, proptest::option::of(proptest::collection::vec(node(depth - 1), 0..4)))
        .prop_map(|(head, children)| match children {
            None => head,
            Some(children) => format!("{head} {{\n{}\n}}", children.join("\n")),
        })
        .boxed()
}

fn compile_never_panics(text: &str) -> Result<(), TestCaseError> {
    let source = SourceFile::new("buildspec.kdl", text.to_owned());
    for target in [None, Some("app".to_owned())] {
        let opts = CompileOpts { target, ..CompileOpts::new() };
        match buildspec::compile(&source, &opts) {
            Ok(compiled) => {
                let split = split_dockerfile(&compiled.dockerfile);
                prop_assert_eq!(split.len(), compiled.instructions.len(), "{}", compiled.dockerfile);
                buildspec::lint::lint(&compiled.graph, &[]);
            }
            Err(failure) => {
                prop_assert!(failure.n_errors() > 0);
                let opts = buildspec::diag::RenderOpts { color: true, width: 60 };
                buildspec::diag::render(&failure.sources, &failure.diagnostics, opts);
            }
        }
    }
    Ok(())
}

/// Lines of Dockerfiles, valid and not, for random Dockerfiles.
fn dockerfile_line() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "FROM debian:bookworm-slim", "FROM debian AS build", "FROM build", "FROM 0", "ARG V=1", "ARG", "ENV A=1 B=\"x y\"", "ENV A b c",
        "LABEL a=b", "RUN make", "RUN --mount=type=cache,target=/c make", "RUN --mount=type=bind,source=.,target=/s,from=build ls",
        "RUN --mount=type=secret,id=s cat /run/secrets/s", "RUN --network=none true", "RUN <<EOF", "EOF", "RUN [\"a\", \"b\"]",
        "COPY a b /c/", "COPY --from=0 /x /y", "COPY --from=build --chown=1:1 --link /x /y", "COPY <<EOF /f", "ADD https://x/y /z",
        "ADD --checksum=sha256:00 https://x/y /z", "WORKDIR /app", "USER 1000", "USER app:app", "EXPOSE 80 53/udp", "VOLUME /data",
        "CMD [\"a\"]", "CMD a b", "ENTRYPOINT a", "HEALTHCHECK NONE", "HEALTHCHECK --interval=5s CMD true", "HEALTHCHECK CMD [\"x\"]",
        "SHELL [\"bash\", \"-c\"]", "STOPSIGNAL SIGTERM", "MAINTAINER me", "# comment", "", "run lower", "  RUN indented \\", "\\",
        "# escape=`", "ONBUILD RUN x", "COPY", "FROM", "RUN --", "RUN --mount=type=nfs x", "HEALTHCHECK", "ENV",
    ]);
    words.prop_map(str::to_owned)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Import never panics, and what it accepts compiles.
    #[test]
    fn random_dockerfiles_import_or_say_why(lines in proptest::collection::vec(dockerfile_line(), 0..16)) {
        let text = lines.join("\n");
        if let Ok(imported) = buildspec::import::import(&text, None, "Dockerfile") {
            let source = SourceFile::new("buildspec.kdl", imported.kdl.clone());
            let opts = CompileOpts { frontend: buildspec::Frontend::Direct, ..CompileOpts::new() };
            if let Err(failure) = buildspec::compile(&source, &opts) {
                // Only a value the Dockerfile holds may be refused, never
                // the shape of what import wrote.
                use buildspec::diag::Code;
                let values = [Code::InvalidValue, Code::InvalidPort, Code::InvalidChmod, Code::InvalidDuration, Code::InvalidPlatform, Code::InvalidImageRef, Code::UnsafeValue, Code::PathEscapesContext, Code::Empty, Code::UnknownArg];
                let structural: Vec<_> = failure.diagnostics.iter().filter(|d| d.is_error() && !values.contains(&d.code)).collect();
                let rendered = buildspec::diag::render(&failure.sources, &failure.diagnostics, buildspec::diag::RenderOpts { color: false, width: 100 });
                prop_assert!(structural.is_empty(), "imported into a spec of the wrong shape:\n{}\n--- from ---\n{}\n--- spec ---\n{}", rendered, text, imported.kdl);
                for d in failure.diagnostics.iter().filter(|d| d.is_error()) {
                    let line = failure.sources.locate(d.span.unwrap().offset).line;
                    prop_assert!(imported.dockerfile_line(line).is_some(), "no Dockerfile line behind spec line {}:\n{}", line, imported.kdl);
                }
            }
        }
    }

    #[test]
    fn random_bytes_import_or_say_why(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = buildspec::import::import(&String::from_utf8_lossy(&bytes), None, "Dockerfile");
    }

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        compile_never_panics(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn random_kdl(nodes in proptest::collection::vec(node(3), 0..6)) {
        compile_never_panics(&nodes.join("\n"))?;
    }
}

#[test]
fn cli_answers_garbage_with_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, bytes) in [&b"\xff\xfe\x00garbage"[..], b"runtime {{{", b"", b"runtime \"app\" from=#null"].iter().enumerate() {
        let path = tmp.path().join(format!("spec{i}.kdl"));
        std::fs::write(&path, bytes).unwrap();
        let out = buildspec(&["compile", path.to_str().unwrap()], tmp.path());
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}
