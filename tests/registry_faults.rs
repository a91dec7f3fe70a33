//! Registry faults, through the real CLI: a test registry (distribution
//! 2.8) behind a fault-injecting loopback proxy. Transient faults (5xx, a
//! connection closed without an answer, a body cut short, a response past
//! the timeout, a 401 in the middle of a push) are retried and the build
//! ends with the image it would have made without them; faults that are not
//! transient (a blob with the wrong digest, a registry that keeps failing)
//! end in one line naming what was asked for. A push never leaves a
//! manifest naming a missing blob, and a push killed with SIGKILL completes
//! when run again. No docker engine and no runc: the images are COPY-only.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::fault_proxy::{Fault, FaultProxy, ALWAYS};
use support::registry::Registry;
use support::stderr;

struct Setup {
    registry: Registry,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
    proxy_auth: PathBuf,
}

impl Setup {
    fn start() -> Setup {
        let registry = Registry::start();
        let proxy = FaultProxy::start(&registry.host);
        let dir = tempfile::tempdir().unwrap();
        let proxy_auth = proxy.auth_file(dir.path(), registry.user, registry.password);
        Setup { registry, proxy, dir, proxy_auth }
    }

    /// A context whose spec copies two files onto `from`, in two layers.
    fn context(&self, name: &str, from: &str) -> PathBuf {
        let ctx = self.dir.path().join(name);
        std::fs::create_dir_all(&ctx).unwrap();
        // Some size, so a body cut in half is a real cut.
        std::fs::write(ctx.join("a.txt"), format!("{name}\n").repeat(4096)).unwrap();
        std::fs::write(ctx.join("b.txt"), format!("{name} b\n")).unwrap();
        std::fs::write(
            ctx.join("buildspec.kdl"),
            format!("buildspec 1\nruntime \"{name}\" from=\"{from}\" {{\n    copy \"a.txt\" to=\"/{name}/a.txt\"\n    copy \"b.txt\" to=\"/{name}/b.txt\"\n}}\n"),
        )
        .unwrap();
        ctx
    }

    /// `buildspec build --backend oci` of `ctx` into `output`, with its own
    /// cache (`cache` under the temp dir), speaking to registries with the
    /// proxy's credentials or the registry's.
    fn build(&self, ctx: &Path, cache: &str, output: &str, via_proxy: bool, env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_buildspec"));
        cmd.args(["build", "--backend", "oci", "--format", "json", "--cache-dir"])
            .arg(self.dir.path().join(cache))
            .arg(format!("--output={output}"))
            .current_dir(ctx)
            .env("NO_COLOR", "1")
            .env("REGISTRY_AUTH_FILE", if via_proxy { &self.proxy_auth } else { &self.registry.auth_file })
            .env("BUILDSPEC_REGISTRY_TIMEOUT", "2")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Pushes a two-layer base straight to the registry, as team/base:1.
    fn push_base(&self) {
        let base = self.context("base", "scratch");
        let out = self.build(&base, "cache-base", &format!("registry:{}/team/base:1", self.registry.host), false, &[]).output().unwrap();
        assert!(out.status.success(), "pushing the base: {}", stderr(&out));
    }

    /// The app built on the base pulled through the proxy, into an OCI layout.
    fn build_app(&self, cache: &str, env: &[(&str, &str)]) -> Output {
        let app = self.context("app", &format!("{}/team/base:1", self.proxy.host));
        let out = self.dir.path().join(format!("{cache}-out"));
        self.build(&app, cache, &format!("oci:{}", out.display()), true, env).output().unwrap()
    }

    fn verify_cache(&self, cache: &str) {
        let out = support::buildspec(&["cache", "verify", "--cache-dir", self.dir.path().join(cache).to_str().unwrap()], self.dir.path());
        assert!(out.status.success(), "cache verify: {}{}", support::stdout(&out), stderr(&out));
    }
}

fn manifest_of(out: &Output) -> String {
    assert!(out.status.success(), "the build failed: {}", stderr(out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON summary");
    summary["manifest"].as_str().expect("a manifest digest").to_owned()
}

/// The error lines of a failed run (the warnings are not errors).
fn error_lines(out: &Output) -> Vec<String> {
    stderr(out).lines().filter(|l| l.starts_with("error")).map(str::to_owned).collect()
}

#[test]
fn transient_pull_faults_are_retried_and_change_nothing() {
    let s = Setup::start();
    s.push_base();
    let clean = manifest_of(&s.build_app("clean", &[]));
    let clean_requests = s.proxy.log().len();
    s.proxy.fault("GET", "/manifests/", 1, Fault::Status(500));
    s.proxy.fault("GET", "/manifests/", 1, Fault::Stall(Duration::from_secs(6)));
    s.proxy.fault("GET", "/blobs/", 1, Fault::Reset);
    s.proxy.fault("GET", "/blobs/", 1, Fault::Truncate);
    s.proxy.fault("GET", "/blobs/", 1, Fault::Status(503));
    let faulty = s.build_app("faulty", &[]);
    let log = s.proxy.log()[clean_requests..].to_vec();
    assert_eq!(manifest_of(&faulty), clean, "the image differs after retried faults: {log:#?}");
    for fault in ["Status(500)", "Stall", "Reset", "Truncate", "Status(503)"] {
        assert_eq!(log.iter().filter(|l| l.contains(fault)).count(), 1, "{fault} was not met once: {log:#?}");
    }
    s.verify_cache("faulty");
}

#[test]
fn a_blob_with_the_wrong_digest_fails_at_once_and_is_not_kept() {
    let s = Setup::start();
    s.push_base();
    s.proxy.fault("GET", "/blobs/", ALWAYS, Fault::CorruptBody);
    let out = s.build_app("corrupt", &[]);
    assert!(!out.status.success(), "a build on corrupt blobs succeeded");
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{}", stderr(&out));
    assert!(errors[0].contains("arrived as") && errors[0].contains("other bytes"), "{}", errors[0]);
    // Not transient: asked for once.
    assert_eq!(s.proxy.count("CorruptBody"), 1, "{:#?}", s.proxy.log());
    // And nothing of it is kept: the cache holds only whole, true blobs.
    s.verify_cache("corrupt");
    let blobs = s.dir.path().join("corrupt/store/blobs/sha256");
    let kept: Vec<_> = std::fs::read_dir(&blobs).unwrap().collect();
    assert_eq!(kept.len(), 0, "the wrong blob was stored (under its own digest)");
}

#[test]
fn a_registry_that_keeps_failing_fails_with_one_line() {
    let s = Setup::start();
    s.push_base();
    s.proxy.fault("GET", "/blobs/", ALWAYS, Fault::Status(500));
    let out = s.build_app("failing", &[("BUILDSPEC_REGISTRY_RETRIES", "2")]);
    assert!(!out.status.success());
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{}", stderr(&out));
    assert!(errors[0].contains("HTTP 500") && errors[0].contains("gave up after 3 attempts") && errors[0].contains(&s.proxy.host), "{}", errors[0]);
    assert_eq!(s.proxy.count("Status(500)"), 3, "{:#?}", s.proxy.log());
    // A registry that never answers in time: the same, naming the timeout.
    s.proxy.clear();
    s.proxy.fault("GET", "/manifests/", ALWAYS, Fault::Stall(Duration::from_secs(5)));
    let out = s.build_app("silent", &[("BUILDSPEC_REGISTRY_RETRIES", "1")]);
    let errors = error_lines(&out);
    assert!(!out.status.success() && errors.len() == 1, "{}", stderr(&out));
    assert!(errors[0].contains("timed out") && errors[0].contains("gave up after 2 attempts"), "{}", errors[0]);
}

#[test]
fn push_faults_are_retried_and_the_pushed_image_is_whole() {
    let s = Setup::start();
    let ctx = s.context("pushed", "scratch");
    let to = format!("registry:{}/team/pushed:1", s.proxy.host);
    // The login "expires" after the first upload starts; an upload start
    // fails; an upload's answer is lost after the registry took the blob.
    s.proxy.fault("PUT", "/blobs/uploads/", 1, Fault::Unauthorized);
    s.proxy.fault("POST", "/blobs/uploads/", 1, Fault::Status(502));
    s.proxy.fault("PUT", "/blobs/uploads/", 1, Fault::Reset);
    s.proxy.fault("PUT", "/manifests/", 1, Fault::Status(503));
    let out = s.build(&ctx, "cache", &to, true, &[]).output().unwrap();
    let manifest = manifest_of(&out);
    for fault in ["Unauthorized", "Status(502)", "Reset", "Status(503)"] {
        assert_eq!(s.proxy.count(fault), 1, "{fault}: {:#?}", s.proxy.log());
    }
    assert_eq!(s.registry.tagged_manifests("team/pushed"), vec![manifest.clone()]);
    assert_whole(&s.registry, &manifest);
}

#[test]
fn a_push_that_fails_leaves_no_manifest() {
    let s = Setup::start();
    let ctx = s.context("pushed", "scratch");
    let to = format!("registry:{}/team/pushed:1", s.proxy.host);
    // The first blob goes up; every upload after it fails.
    s.proxy.fault("PUT", "/blobs/uploads/", 1, Fault::Pass);
    s.proxy.fault("PUT", "/blobs/uploads/", ALWAYS, Fault::Status(500));
    let out = s.build(&ctx, "cache", &to, true, &[("BUILDSPEC_REGISTRY_RETRIES", "1")]).output().unwrap();
    assert!(!out.status.success(), "the push succeeded");
    assert!(error_lines(&out)[0].contains("gave up after 2 attempts"), "{}", stderr(&out));
    assert_eq!(s.proxy.count("Pass"), 1, "{:#?}", s.proxy.log());
    assert_eq!(s.proxy.count("PUT /v2/team/pushed/manifests"), 0, "a manifest was sent: {:#?}", s.proxy.log());
    assert!(s.registry.tagged_manifests("team/pushed").is_empty());
}

#[test]
fn a_push_killed_mid_upload_completes_when_run_again() {
    let s = Setup::start();
    let ctx = s.context("pushed", "scratch");
    let to = format!("registry:{}/team/pushed:1", s.proxy.host);
    // The first upload hangs; the push is killed while it waits.
    s.proxy.fault("PUT", "/blobs/uploads/", 1, Fault::Stall(Duration::from_secs(30)));
    let mut child = s.build(&ctx, "cache", &to, true, &[("BUILDSPEC_REGISTRY_TIMEOUT", "60")]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let waited = std::time::Instant::now();
    while s.proxy.count("Stall") == 0 {
        assert!(waited.elapsed() < Duration::from_secs(120), "the push never reached its upload: {:#?}", s.proxy.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(s.registry.tagged_manifests("team/pushed").is_empty(), "a killed push left a manifest");
    let out = s.build(&ctx, "cache", &to, true, &[]).output().unwrap();
    let manifest = manifest_of(&out);
    assert_eq!(s.registry.tagged_manifests("team/pushed"), vec![manifest.clone()]);
    assert_whole(&s.registry, &manifest);
    s.verify_cache("cache");
}

/// Every blob the manifest names is in the registry and has its digest.
fn assert_whole(registry: &Registry, manifest: &str) {
    let text = std::fs::read(registry.blob_path(manifest)).expect("the manifest is in the registry");
    let doc: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let mut digests = vec![doc["config"]["digest"].as_str().unwrap().to_owned()];
    digests.extend(doc["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_owned()));
    assert!(digests.len() >= 3, "{doc}");
    for digest in digests {
        let bytes = std::fs::read(registry.blob_path(&digest)).unwrap_or_else(|_| panic!("{digest} is missing"));
        use sha2::Digest as _;
        let hex: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(format!("sha256:{hex}"), digest, "a blob in the registry does not match its digest");
    }
}

