//! Engine check of `buildspec import`: Dockerfiles in the styles of public
//! projects, each built as it is and as the spec `import` makes of it.
//! The two images have the same files (paths, modes, owners, contents) and
//! config. After a one-line source edit the imported spec's build
//! re-executes no more steps than the Dockerfile's, as `plan --changed`
//! says.

use std::path::Path;

use super::{executed, flatten, image_config, ok, predicted, predicted_for_sure, steps, text, Check, Engine};

/// A Dockerfile, its context files, and the edit (file, from, to).
struct Case {
    name: &'static str,
    dockerfile: &'static str,
    files: &'static [(&'static str, &'static str)],
    edit: (&'static str, &'static str, &'static str),
}

const CASES: &[Case] = &[
    Case {
        name: "go-multistage",
        dockerfile: "FROM golang:1.22-bookworm AS build\nWORKDIR /src\nCOPY go.mod ./\nRUN go mod download\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /out/hello .\n\nFROM busybox:latest\nCOPY --from=0 /out/hello /usr/local/bin/hello\nUSER 65532\nENTRYPOINT [\"/usr/local/bin/hello\"]\n",
        files: &[("go.mod", "module example.com/hello\n\ngo 1.19\n"), ("main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from go\") }\n")],
        edit: ("main.go", "hello from go", "hi from go"),
    },
    Case {
        name: "node-deps-builder-runner",
        dockerfile: "FROM node:20-bookworm-slim AS deps\nWORKDIR /app\nCOPY package.json package-lock.json ./\nCOPY greet ./greet\nRUN npm ci --offline\n\nFROM deps AS builder\nCOPY . .\nRUN npm run build\n\nFROM node:20-bookworm-slim AS runner\nWORKDIR /app\nENV NODE_ENV=production\nLABEL org.opencontainers.image.title=\"web\"\nCOPY --from=builder /app/dist ./dist\nCOPY --from=deps /app/node_modules ./node_modules\nUSER node\nEXPOSE 3000\nCMD [\"node\", \"dist/server.js\"]\n",
        files: &[
            ("package.json", r#"{"name":"web","version":"1.0.0","scripts":{"build":"mkdir -p dist && cp server.js dist/"},"dependencies":{"greet":"file:greet"}}"#),
            ("package-lock.json", r#"{"name":"web","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"web","version":"1.0.0","dependencies":{"greet":"file:greet"}},"greet":{"version":"1.0.0"},"node_modules/greet":{"resolved":"greet","link":true}}}"#),
            ("greet/package.json", r#"{"name":"greet","version":"1.0.0","main":"index.js"}"#),
            ("greet/index.js", "exports.hi = () => 'hello from greet'\n"),
            ("server.js", "console.log(require('greet').hi(), 'v1')\n"),
        ],
        edit: ("server.js", "v1", "v2"),
    },
    Case {
        name: "python-heredoc-arg",
        dockerfile: "ARG BASE=python:3.12-slim\nFROM ${BASE} AS app\nWORKDIR /app\nRUN <<EOF\nset -e\nmkdir -p /app/data\necho ready > /app/data/state\nEOF\nCOPY app ./app\nRUN python -m compileall -q app\nCMD python -m app\n",
        files: &[("app/__init__.py", ""), ("app/__main__.py", "print('hello from app')\n")],
        edit: ("app/__main__.py", "hello from app", "hi from app"),
    },
    Case {
        name: "static-site-busybox",
        dockerfile: "FROM busybox:latest AS site\nWORKDIR /www\nCOPY --chmod=0644 public/ ./\nRUN --mount=type=cache,target=/tmp/cache \\\n    echo built > /tmp/cache/stamp && ls /www > /www/index.txt\nEXPOSE 8080\nUSER 65534\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n",
        files: &[("public/index.html", "<h1>hello</h1>\n"), ("public/about.html", "<h1>about</h1>\n")],
        edit: ("public/about.html", "about", "about us"),
    },
    Case {
        name: "metadata-and-mounts",
        dockerfile: "FROM busybox:latest\nENV APP_HOME /srv/app\nLABEL a=1 b=\"two words\"\nWORKDIR /srv\nWORKDIR app\nCOPY conf/ ./conf/\nRUN --mount=type=secret,id=token --mount=type=tmpfs,target=/scratch \\\n    (cat /run/secrets/token 2>/dev/null || echo none) > /scratch/t && ls conf > index.txt\nVOLUME /data\nSTOPSIGNAL SIGINT\nUSER 1000:1000\nENTRYPOINT [\"sh\", \"-c\"]\nCMD [\"cat index.txt\"]\n",
        files: &[("conf/app.ini", "name=app\n"), ("conf/extra.ini", "x=1\n")],
        edit: ("conf/extra.ini", "x=1", "x=2"),
    },
    Case {
        name: "copy-from-image",
        dockerfile: "ARG DEBIAN=debian:bookworm-slim\nFROM ${DEBIAN} AS base\nCOPY --from=busybox:latest /etc/passwd /etc/busybox-passwd\nCOPY VERSION /etc/app-version\n\nFROM base\nRUN test -s /etc/busybox-passwd && cat /etc/app-version\nUSER 65534\nCMD [\"cat\", \"/etc/app-version\"]\n",
        files: &[("VERSION", "1.0.0\n")],
        edit: ("VERSION", "1.0.0", "1.0.1"),
    },
    Case {
        name: "tests-stage",
        dockerfile: "FROM busybox:latest AS build\nWORKDIR /src\nCOPY . .\nRUN mkdir -p /out && cat *.txt > /out/all.txt\n\nFROM build AS test\nRUN grep -q hello /out/all.txt\n\nFROM busybox:latest\nCOPY --from=build /out/all.txt /all.txt\nUSER 65534\nCMD [\"cat\", \"/all.txt\"]\n",
        files: &[("a.txt", "hello\n"), ("b.txt", "world\n")],
        edit: ("b.txt", "world", "there"),
    },
    Case {
        name: "rust-planner-distroless",
        dockerfile: "FROM rust:1.82-bookworm AS planner\nWORKDIR /app\nCOPY Cargo.toml Cargo.lock ./\nRUN mkdir src && echo 'fn main() {}' > src/main.rs && cargo build --release --offline && rm -rf src\n\nFROM planner AS builder\nCOPY src ./src\nRUN touch src/main.rs && cargo build --release --offline\n\nFROM gcr.io/distroless/cc-debian12:latest\nCOPY --from=builder /app/target/release/hello /usr/local/bin/hello\nUSER nonroot\nENTRYPOINT [\"/usr/local/bin/hello\"]\n",
        files: &[
            ("Cargo.toml", "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[profile.release]\nincremental = false\n"),
            ("Cargo.lock", "# This file is automatically @generated by Cargo.\n# It is not intended for manual editing.\nversion = 3\n\n[[package]]\nname = \"hello\"\nversion = \"0.1.0\"\n"),
            ("src/main.rs", "fn main() {\n    println!(\"hello from rust\");\n}\n"),
        ],
        edit: ("src/main.rs", "hello from rust", "hi from rust"),
    },
    Case {
        name: "httpd-static-site",
        dockerfile: "FROM busybox:latest AS build\nWORKDIR /src\nCOPY site/ ./site/\nRUN mkdir -p /out && for f in site/*.html; do sed 's/@TITLE@/Home/' \"$f\" > /out/$(basename \"$f\"); done\n\nFROM httpd:2.4-alpine\nCOPY --from=build --chown=82:82 /out/ /usr/local/apache2/htdocs/\nEXPOSE 80\n",
        files: &[("site/index.html", "<title>@TITLE@</title><h1>home</h1>\n"), ("site/about.html", "<title>@TITLE@</title><h1>about</h1>\n")],
        edit: ("site/about.html", "about", "about us"),
    },
    Case {
        name: "python-venv-builder",
        dockerfile: "FROM python:3.12-slim AS builder\nRUN python -m venv --without-pip /opt/venv\nENV PATH=\"/opt/venv/bin:$PATH\"\nCOPY requirements.txt .\nRUN python -c \"import sys; print(sys.prefix)\" > /opt/venv/prefix && cat requirements.txt >> /opt/venv/prefix\nCOPY src/ /app/src/\nRUN python -m compileall -q /app/src\n\nFROM python:3.12-slim\nCOPY --from=builder /opt/venv /opt/venv\nCOPY --from=builder /app /app\nENV PATH=\"/opt/venv/bin:$PATH\"\nWORKDIR /app\nCMD [\"python\", \"-m\", \"src\"]\n",
        files: &[("requirements.txt", "# no third-party packages\n"), ("src/__init__.py", ""), ("src/__main__.py", "print('hello from venv')\n")],
        edit: ("src/__main__.py", "hello from venv", "hi from venv"),
    },
];

fn write_all(dir: &Path, files: &[(&str, &str)]) -> Check {
    for (path, body) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).map_err(|e| e.to_string())?;
        std::fs::write(path, body).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The edit, made unique to this run (the engine's cache outlives it:
/// content built by an earlier run would be found there).
fn edit(dir: &Path, (file, from, to): (&str, &str, &str), nonce: u128) -> Check {
    let path = dir.join(file);
    let body = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    if !body.contains(from) {
        return Err(format!("{file} has no {from:?}"));
    }
    std::fs::write(&path, body.replacen(from, &format!("{to} {nonce}"), 1)).map_err(|e| e.to_string())
}

/// `docker build` of a Dockerfile as it is; the steps it re-executed.
fn docker_build(e: &Engine, dir: &Path, tag: &str) -> Result<usize, String> {
    let out = ok(e.docker(&["build", "--network", "host", "--progress", "plain", "-t", tag, dir.to_str().unwrap()]), "docker build")?;
    Ok(steps(&text(&out)).iter().filter(|(_, cached)| !cached).count())
}

fn one(e: &Engine, c: &Case) -> Check {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (original, imported) = (tmp.path().join("original"), tmp.path().join("imported"));
    for dir in [&original, &imported] {
        write_all(dir, c.files)?;
        write_all(dir, &[("Dockerfile", c.dockerfile)])?;
    }
    ok(e.buildspec(&["import", "-o", "buildspec.kdl"], &imported), "buildspec import")?;
    let (tag_a, tag_b) = (format!("rt-{}-dockerfile:1", c.name), format!("rt-{}-spec:1", c.name));
    docker_build(e, &original, &tag_a)?;
    executed(e, &imported, "buildspec.kdl", &tag_b)?;
    let (a, b) = (flatten(e, &tag_a)?, flatten(e, &tag_b)?);
    let differ: Vec<&String> = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).take(8).collect();
    if !differ.is_empty() {
        let show = |m: &std::collections::BTreeMap<String, (u32, u64, u64, Vec<u8>)>, k: &String| m.get(k).map(|(mode, u, g, body)| format!("{mode:o} {u}:{g} {}B", body.len()));
        let detail: Vec<String> = differ.iter().map(|k| format!("{k}: dockerfile {:?} spec {:?}", show(&a, k), show(&b, k))).collect();
        return Err(format!("{}: the images differ:\n{}", c.name, detail.join("\n")));
    }
    let (ca, cb) = (image_config(e, &tag_a)?, image_config(e, &tag_b)?);
    for key in ["Entrypoint", "Cmd", "Env", "User", "WorkingDir", "ExposedPorts", "Labels"] {
        let norm = |v: &serde_json::Value| if v.is_null() || v == &serde_json::json!({}) || v == &serde_json::json!("") { serde_json::Value::Null } else { v.clone() };
        if norm(&ca[key]) != norm(&cb[key]) {
            return Err(format!("{}: config {key} differs: dockerfile {} spec {}", c.name, ca[key], cb[key]));
        }
    }
    // A one-line source edit: the spec re-executes no more than the
    // Dockerfile, as plan says.
    // Each side gets its own text: one engine caches both builds by
    // content, and the same edit on both sides would let the second build
    // reuse what the first made (a Go binary, a copied file).
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    edit(&original, c.edit, nonce)?;
    edit(&imported, c.edit, nonce + 1)?;
    let by_dockerfile = docker_build(e, &original, &tag_a)?;
    let planned = predicted(e, &imported, "buildspec.kdl", c.edit.0)?;
    let for_sure = predicted_for_sure(e, &imported, "buildspec.kdl", c.edit.0)?;
    let spec_log = text(&super::build(e, &imported, &["buildspec.kdl", "-t", &tag_b])?);
    let by_spec: std::collections::BTreeSet<(String, String)> = steps(&spec_log)
        .into_iter()
        .filter(|(_, cached)| !cached)
        .map(|(name, _)| {
            let (stage, instruction) = name.trim_start_matches('[').split_once("] ").unwrap_or(("", &name));
            (stage.split_whitespace().next().unwrap_or("").to_owned(), instruction.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .collect();
    let instructions = |s: &std::collections::BTreeSet<(String, String)>| s.iter().map(|(_, i)| i.clone()).collect::<std::collections::BTreeSet<_>>();
    // What plan says re-runs for sure did; what re-ran, plan said might.
    let done = instructions(&by_spec);
    if !instructions(&for_sure).is_subset(&done) || !done.is_subset(&instructions(&planned)) {
        let tail: Vec<&str> = spec_log.lines().filter(|l| l.starts_with('#') && !l.contains("[internal]")).collect();
        return Err(format!(
            "{}: plan predicted {for_sure:#?} for sure and {planned:#?} at most\nbut the engine re-executed {by_spec:#?}\n{}",
            c.name,
            tail.join("\n")
        ));
    }
    // The spec runs its tests and gates the image on them, which
    // `docker build` of the Dockerfile's default target never did: that
    // work is not counted against the spec.
    let spec = std::fs::read_to_string(imported.join("buildspec.kdl")).map_err(|e| e.to_string())?;
    let tests: Vec<String> = spec.lines().filter_map(|l| l.strip_prefix("test \"")).filter_map(|l| l.split('"').next()).map(str::to_owned).collect();
    let comparable: Vec<&(String, String)> = by_spec
        .iter()
        .filter(|(stage, instruction)| !tests.contains(stage) && !tests.iter().any(|t| instruction.contains(&format!("--from={t} /.buildspec-gate"))))
        .collect();
    if comparable.len() > by_dockerfile {
        return Err(format!("{}: after the edit the spec re-executed {} steps, the Dockerfile {by_dockerfile}: {by_spec:#?}", c.name, comparable.len()));
    }
    let tested = if by_spec.len() > comparable.len() { format!(" (and {} running and gating its tests)", by_spec.len() - comparable.len()) } else { String::new() };
    eprintln!("    {}: same files and config; {} edited → spec {} steps{tested}, Dockerfile {by_dockerfile}", c.name, c.edit.0, comparable.len());
    Ok(())
}

pub fn imported_dockerfiles_build_the_same_images(e: &Engine) -> Check {
    let problems: Vec<String> = CASES.iter().filter_map(|c| one(e, c).err()).collect();
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}
