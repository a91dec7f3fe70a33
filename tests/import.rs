//! `buildspec import` through the CLI: Dockerfiles of several styles
//! become specs that compile, with their roles inferred; malformed
//! Dockerfiles are errors naming their line (tests/cli/import/).

mod support;

use support::{buildspec, root, stderr, stdout};

const GO: &str = r#"# syntax=docker/dockerfile:1
ARG GO_VERSION=1.22
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build go build -o /out/app ./cmd/app

FROM build AS test
RUN go test ./...

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=0 /out/app /app
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/app"]
CMD --port 8080
"#;

const NODE: &str = r#"FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci

FROM deps AS builder
COPY . .
RUN npm run build && \
    npm prune --omit=dev

FROM node:20-bookworm-slim AS runner
WORKDIR /app
ENV NODE_ENV=production PORT="3000"
LABEL org.opencontainers.image.title="web" maintainer=me
COPY --from=builder --chown=node:node /app/dist ./dist
COPY --from=builder /app/node_modules ./node_modules
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc --mount=type=bind,source=scripts,target=/scripts sh /scripts/check.sh
USER node
HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost:3000/ || exit 1
CMD ["node", "dist/server.js"]
"#;

const HEREDOC: &str = "FROM python:3.12-slim\nRUN <<EOF\nset -e\npip install --no-cache-dir flask\nEOF\nRUN python3 <<PY\nprint('hi')\nPY\nWORKDIR /app\nCOPY app.py .\nCMD python3 app.py\n";

fn import(dockerfile: &str, extra: &[&str]) -> (tempfile::TempDir, std::process::Output) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(tmp.path().join(".dockerignore"), "# comment\n.git\nnode_modules\n").unwrap();
    let mut args = vec!["import"];
    args.extend(extra);
    let out = buildspec(&args, tmp.path());
    (tmp, out)
}

#[test]
fn dockerfiles_of_several_styles_import_into_specs_that_compile() {
    for (name, text) in [("go", GO), ("node", NODE), ("heredoc", HEREDOC)] {
        let (tmp, out) = import(text, &["-o", "buildspec.kdl"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let compiled = buildspec(&["compile", "--syntax", "docker/dockerfile:1.7"], tmp.path());
        assert!(compiled.status.success(), "{name}: the imported spec does not compile: {}\n{}", stderr(&compiled), std::fs::read_to_string(tmp.path().join("buildspec.kdl")).unwrap());
        let spec = std::fs::read_to_string(tmp.path().join("buildspec.kdl")).unwrap();
        assert!(spec.contains("exclude \".git\" \"node_modules\""), "{name}: the .dockerignore is not the context's: {spec}");
        // A second import refuses to overwrite; --force does.
        let again = buildspec(&["import", "-o", "buildspec.kdl"], tmp.path());
        assert!(!again.status.success() && stderr(&again).contains("--force"));
        assert!(buildspec(&["import", "-o", "buildspec.kdl", "--force"], tmp.path()).status.success());
    }
}

#[test]
fn roles_are_inferred_and_reported() {
    let (_tmp, out) = import(GO, &["--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let roles: Vec<(&str, &str)> = doc["stages"].as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap(), s["role"].as_str().unwrap())).collect();
    assert_eq!(roles, [("build", "builder"), ("test", "test"), ("stage-2", "runtime")]);
    let spec = doc["spec"].as_str().unwrap();
    // `--from=0` is the first stage; the shell-form CMD runs under /bin/sh -c.
    assert!(spec.contains("copy \"/out/app\" to=\"/app\" from=\"build\""), "{spec}");
    assert!(spec.contains("cmd \"/bin/sh\" \"-c\" \"--port 8080\""), "{spec}");
    assert!(spec.contains("arg \"GO_VERSION\" default=\"1.22\""), "{spec}");
    let (_tmp, node) = import(NODE, &[]);
    let spec = stdout(&node);
    for expected in [
        "builder \"deps\"",
        "builder \"builder\" from=\"deps\"",
        "runtime \"runner\"",
        "env \"NODE_ENV\"=\"production\" \"PORT\"=\"3000\"",
        "copy \"/app/dist\" to=\"./dist\" from=\"builder\" chown=\"node:node\"",
        "secret \"npmrc\" target=\"/root/.npmrc\"",
        "bind \"scripts\" target=\"/scripts\"",
        "healthcheck \"/bin/sh\" \"-c\" \"curl -f http://localhost:3000/ || exit 1\" interval=\"30s\" retries=3",
    ] {
        assert!(spec.contains(expected), "no {expected:?} in:\n{spec}");
    }
}

#[test]
fn malformed_dockerfiles_are_errors_with_their_line() {
    insta::glob!("cli/import", "*.Dockerfile", |path| {
        let out = buildspec(&["import", path.file_name().unwrap().to_str().unwrap()], path.parent().unwrap());
        insta::assert_snapshot!(format!("exit: {}\n{}", out.status.code().unwrap_or(-1), stderr(&out)));
    });
}

#[test]
fn every_example_spec_compiled_imports_into_a_spec_that_compiles() {
    for entry in std::fs::read_dir(root().join("specs")).unwrap() {
        let dir = entry.unwrap().path();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let compiled = buildspec(&["compile", "-o", out.to_str().unwrap()], &dir);
        assert!(compiled.status.success(), "{}", stderr(&compiled));
        let imported = buildspec(&["import", "out/Dockerfile", "-o", "buildspec.kdl"], tmp.path());
        assert!(imported.status.success(), "{}: {}", dir.display(), stderr(&imported));
    }
}
