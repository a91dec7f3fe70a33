//! Engine checks of the monorepo half: the images `generate` writes specs
//! for build on the real engine (their test stages run, and each image
//! answers), `build --all` goes through bake, and an edit to one package
//! re-executes no step of another's image, as `plan --changed` says.


use super::{copy_tree, executed, ok, predicted, root, run, text, Check, Engine};

/// The fixture workspace with its specs generated, in a temporary directory.
fn generated_workspace(e: &Engine) -> Result<tempfile::TempDir, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    copy_tree(&root().join("tests/fixtures/monorepo"), tmp.path());
    ok(e.buildspec(&["generate"], tmp.path()), "buildspec generate")?;
    // The static templates serve from busybox:1.36; the stand-in is busybox:latest.
    ok(e.docker(&["tag", "busybox:latest", "busybox:1.36"]), "docker tag")?;
    Ok(tmp)
}

/// An HTTP GET on loopback, retried while the server starts.
fn http_get(port: u16) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut last = String::new();
    for _ in 0..50 {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut s) => {
                s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
                let mut body = String::new();
                s.read_to_string(&mut body).map_err(|e| e.to_string())?;
                return Ok(body);
            }
            Err(err) => last = err.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("nothing answered on port {port}: {last}"))
}

/// Starts `image` on the host network with `env`, asks it over HTTP, stops it.
fn serve(e: &Engine, image: &str, env: &[&str], port: u16) -> Result<String, String> {
    let mut args = vec!["run", "-d", "--network", "host"];
    for kv in env {
        args.extend(["-e", kv]);
    }
    args.push(image);
    let id = super::stdout(&ok(e.docker(&args), &format!("docker run {image}"))?).trim().to_owned();
    let res = http_get(port);
    let _ = e.docker(&["rm", "-f", &id]);
    res
}

/// Every generated image builds (one per language, through `build --all`),
/// its test stage runs, and the image answers.
pub fn generated_images_build_and_answer(e: &Engine) -> Check {
    let ws = generated_workspace(e)?;
    let all = ok(e.buildspec(&["build", "--all", "--network", "host", "--progress", "plain"], ws.path()), "buildspec build --all")?;
    let log = text(&all);
    // What each test stage prints (cargo's may run inside the build's RUN).
    for output in ["test tests::replies_with_a_length ... ok", "ok  \texample.com/hello", "Ran 1 test", "# pass 1"] {
        super::expect_contains(&log, output, "the test stages run")?;
    }
    let port = super::free_port();
    super::expect_contains(&serve(e, "crates-api:latest", &[&format!("PORT={port}")], port)?, "hello, api", "the rust service")?;
    super::expect_contains(&run(e, &["worker:latest"])?, "worker: 3 jobs done", "the rust worker")?;
    super::expect_contains(&run(e, &["hello:latest"])?, "hello, go", "the go command")?;
    super::expect_contains(&run(e, &["greeter:latest"])?, "hello, python", "the python command")?;
    let port = super::free_port();
    super::expect_contains(&serve(e, "web-packages-api:latest", &[&format!("PORT={port}")], port)?, "hello, node", "the node service")?;
    // The front end and the site are served by busybox httpd on 8080 as nobody.
    super::expect_contains(&serve(e, "site:latest", &[], 8080)?, "<h1>hello, site</h1>", "the node front end")?;
    super::expect_contains(&serve(e, "docs-site:latest", &[], 8080)?, "<h1>hello, docs</h1>", "the static site")?;
    let user = super::stdout(&ok(e.docker(&["image", "inspect", "-f", "{{.Config.User}}", "crates-api:latest"]), "inspect")?);
    if user.trim() != "65532" {
        return Err(format!("the rust runtime runs as {user:?}, not 65532"));
    }
    // Without --network, build --all is one bake (the site has no RUN, so it
    // builds on this bridge-less engine).
    let baked = ok(e.buildspec(&["build", "--all", "docs-site", "--progress", "plain"], ws.path()), "buildspec build --all (bake)")?;
    super::expect_contains(&text(&baked), "load local bake definitions", "bake")?;
    super::expect_contains(&super::stdout(&baked), "docs-site:latest", "bake's image")?;
    Ok(())
}

/// An edit to one package's sources re-executes no step of another
/// package's image; an edit to a shared library re-executes its dependents
/// and nothing of the others; `plan --changed` says the same each time.
pub fn an_edit_rebuilds_only_its_dependents(e: &Engine) -> Check {
    let ws = generated_workspace(e)?;
    let dir = ws.path();
    let specs = ["crates/api/buildspec.kdl", "crates/worker/buildspec.kdl", "web/packages/api/buildspec.kdl", "web/packages/site/buildspec.kdl"];
    for spec in specs {
        executed(e, dir, spec, "isolation-check")?;
    }
    // (edited file relative to the root, its path in each spec's context,
    // the specs that use it, the edit: a change of what the program says)
    type Edit<'a> = (&'a str, &'a str, &'a [&'a str], (&'a str, &'a str));
    let edits: &[Edit] = &[
        ("crates/worker/src/main.rs", "crates/worker/src/main.rs", &["crates/worker/buildspec.kdl"], ("3 jobs", "4 jobs")),
        ("crates/shared/src/lib.rs", "crates/shared/src/lib.rs", &["crates/api/buildspec.kdl"], ("hello, ", "hi, ")),
        ("web/packages/api/server.js", "packages/api/server.js", &["web/packages/api/buildspec.kdl"], ("greeting(\"node\")", "greeting(\"nodejs\")")),
        ("web/packages/shared/index.js", "packages/shared/index.js", &["web/packages/api/buildspec.kdl"], ("exports.greeting", "exports.version = 2;\nexports.greeting")),
    ];
    for (file, in_context, users, (from, to)) in edits {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        if !text.contains(from) {
            return Err(format!("{file} has no {from:?}"));
        }
        std::fs::write(&path, text.replace(from, to)).map_err(|e| e.to_string())?;
        let same_workspace: Vec<&str> = specs.iter().copied().filter(|s| s.split('/').next() == file.split('/').next()).collect();
        for spec in same_workspace {
            let planned = predicted(e, dir, spec, in_context)?;
            let done = executed(e, dir, spec, "isolation-check")?;
            if planned != done {
                return Err(format!("{file} edited, {spec}: plan predicted {planned:#?}\nbut the engine re-executed {done:#?}"));
            }
            let uses = users.contains(&spec);
            if uses == done.is_empty() {
                return Err(format!("{file} edited: {spec} re-executed {done:#?} (it {} the file)", if uses { "uses" } else { "does not use" }));
            }
            eprintln!("    {file} edited → {spec}: {} steps re-executed, as planned", done.len());
        }
    }
    Ok(())
}
