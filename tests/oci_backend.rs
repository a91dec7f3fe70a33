//! The daemonless backend without a docker engine: a busybox base image is
//! itself built by buildspec from scratch (Debian's busybox-static), then
//! RUN steps execute in runc over it. Checks what must hold when builds
//! are killed or run at once: no corrupt output or cache entry, ever.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{buildspec, stderr, stdout};

/// A context holding a busybox root file system and a spec making it an
/// image; returns the image source for `--base busybox:test=…`.
fn busybox_base(dir: &Path, cache: &Path) -> String {
    let ctx = dir.join("base");
    let bin = ctx.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static is installed (scripts/engine/install.sh)");
    for applet in ["sh", "sleep", "head", "cat", "mkdir", "echo", "ls", "rm", "true", "wc"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    std::fs::write(ctx.join("buildspec.kdl"), "buildspec 1\nruntime \"base\" from=\"scratch\" {\n    copy \"rootfs/\" to=\"/\"\n    env PATH=\"/bin\"\n}\n").unwrap();
    let layout = dir.join("base-layout");
    let out = buildspec(&["build", "--backend", "oci", "--cache-dir", cache.to_str().unwrap(), &format!("--output=oci:{}:base", layout.display())], &ctx);
    assert!(out.status.success(), "building the busybox base: {}", stderr(&out));
    format!("busybox:test=oci:{}:base", layout.display())
}

fn write_spec(dir: &Path, name: &str, body: &str) -> PathBuf {
    let ctx = dir.join(name);
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("file.txt"), "context file\n").unwrap();
    std::fs::write(ctx.join("buildspec.kdl"), format!("buildspec 1\nruntime \"app\" from=\"busybox:test\" {{\n{body}\n}}\n")).unwrap();
    ctx
}

fn build_command(ctx: &Path, cache: &Path, base: &str, output: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_buildspec"));
    cmd.args(["build", "--backend", "oci", "--format", "json", "--cache-dir", cache.to_str().unwrap(), "--base", base, "--output", output])
        .current_dir(ctx)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Every blob of the cache's store has the digest it is named by, and
/// every step record names a blob that is there.
fn check_cache(cache: &Path) {
    let blobs = cache.join("store/blobs/sha256");
    for entry in std::fs::read_dir(&blobs).into_iter().flatten() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(sha256_hex(&path), name, "a corrupt blob in the cache");
    }
    for entry in std::fs::read_dir(cache.join("steps")).into_iter().flatten() {
        let path = entry.unwrap().path();
        let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("a corrupt step record {}: {e}", path.display()));
        let digest = record["digest"].as_str().unwrap().trim_start_matches("sha256:");
        assert!(blobs.join(digest).exists(), "a step record names a missing blob");
    }
    // And the CLI's full check agrees (it also unpacks every step's layer).
    let out = buildspec(&["cache", "verify", "--format", "json", "--cache-dir", cache.to_str().unwrap()], cache.parent().unwrap());
    assert!(out.status.success(), "buildspec cache verify: {}{}", stdout(&out), stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let errors = support::schema_errors(&support::schema("cache-verify"), &report);
    assert!(errors.is_empty(), "cache verify's JSON breaks docs/schemas/cache-verify.schema.json: {errors:?}");
}

/// Waits until no runc of this cache is running (a killed build's
/// container runs on until its step ends).
fn wait_for_orphans(cache: &Path) {
    // Generous: on a loaded 2-core machine the orphans' steps run slowly.
    for _ in 0..300 {
        let out = Command::new("pgrep").args(["-f", &format!("runc --root {}", cache.display())]).output().unwrap();
        if out.stdout.is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("a killed build's container did not end");
}

#[test]
fn a_build_killed_at_any_point_leaves_no_corrupt_output_or_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let base = busybox_base(tmp.path(), &cache);
    // Each attempt builds a new step (never cached), killed later each time:
    // before the RUN, during it, while its layer is written, at the output.
    let spec_for = |i: usize| {
        write_spec(
            tmp.path(),
            &format!("killed{i}"),
            &format!("    copy \"file.txt\"\n    run \"echo attempt {i}; sleep 0.4; head -c 24000000 /dev/urandom > /big; wc -c /big\"\n    run \"cat /file.txt > /copy.txt\""),
        )
    };
    let mut interrupted = 0;
    for (i, delay_ms) in [50u64, 200, 350, 500, 650, 800, 1000, 1300, 1700].into_iter().enumerate() {
        let archive = tmp.path().join(format!("out{i}.tar"));
        let mut child = build_command(&spec_for(i), &cache, &base, &format!("oci-archive:{}", archive.display())).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        check_cache(&cache);
        if !finished {
            interrupted += 1;
            assert!(!archive.exists(), "a killed build left an output");
        }
    }
    assert!(interrupted >= 5, "only {interrupted} of the attempts were interrupted: the kill points miss the build");
    let ctx = spec_for(99);
    wait_for_orphans(&cache);
    // The next build completes, reaps what the killed ones left, and its
    // image is whole.
    let archive = tmp.path().join("final.tar");
    let out = build_command(&ctx, &cache, &base, &format!("oci-archive:{}", archive.display())).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    check_cache(&cache);
    let inspect = Command::new("skopeo").arg("inspect").arg(format!("oci-archive:{}", archive.display())).output().unwrap();
    assert!(inspect.status.success(), "skopeo reads the output: {}", String::from_utf8_lossy(&inspect.stderr));
    let left: Vec<_> = std::fs::read_dir(cache.join("scratch")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "dead builds' scratch directories were not reaped: {left:?}");
    // And it is still a cache: once more executes nothing.
    let again = build_command(&ctx, &cache, &base, &format!("oci-archive:{}", archive.display())).output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["executed_runs"], 0, "{}", stderr(&again));
}

#[test]
fn two_builds_at_once_share_a_cache_without_corrupting_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let base = busybox_base(tmp.path(), &cache);
    let body = "    run \"mkdir -p /data; i=0; while [ $i -lt 300 ]; do echo line$i >> /data/lines; i=$((i+1)); done\"\n    run \"head -c 3000000 /dev/zero > /data/zero\"\n    copy \"file.txt\" to=\"/data/\"";
    let (a, b) = (write_spec(tmp.path(), "a", body), write_spec(tmp.path(), "b", body));
    let (out_a, out_b) = (tmp.path().join("a.tar"), tmp.path().join("b.tar"));
    let first = build_command(&a, &cache, &base, &format!("oci-archive:{}", out_a.display())).stderr(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let second = build_command(&b, &cache, &base, &format!("oci-archive:{}", out_b.display())).stderr(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let (first, second) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(second.status.success(), "{}", stderr(&second));
    let (sa, sb): (serde_json::Value, serde_json::Value) = (serde_json::from_str(&stdout(&first)).unwrap(), serde_json::from_str(&stdout(&second)).unwrap());
    assert_eq!(sa["manifest"], sb["manifest"], "the same spec built at once gives one image");
    check_cache(&cache);
    let again = build_command(&a, &cache, &base, &format!("oci-archive:{}", out_a.display())).output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["executed_runs"], 0, "{}", stderr(&again));
    assert_eq!(summary["manifest"], sa["manifest"]);
}

#[test]
fn a_no_change_rebuild_answers_from_the_stat_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let base = busybox_base(tmp.path(), &cache);
    let ctx = write_spec(tmp.path(), "stat", "    copy \"file.txt\"\n    run \"cat /file.txt > /copy.txt\"");
    let output = format!("oci:{}", tmp.path().join("out").display());
    let build = || {
        let out = build_command(&ctx, &cache, &base, &output).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        (serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), stderr(&out))
    };
    let (first, _) = build();
    assert_eq!(first["executed_runs"], 1);
    let (second, log) = build();
    assert_eq!(second["executed_runs"], 0);
    assert_eq!(second["hashed_files"], 0, "a no-change rebuild re-hashed the context");
    assert!(log.contains("CACHED COPY"), "{log}");
    // Touching a file (same content) still hits; changing it does not.
    std::fs::write(ctx.join("file.txt"), "context file\n").unwrap();
    let (third, _) = build();
    assert_eq!((third["executed_runs"].clone(), third["manifest"].clone()), (serde_json::json!(0), first["manifest"].clone()));
    std::fs::write(ctx.join("file.txt"), "changed\n").unwrap();
    let (fourth, _) = build();
    assert_eq!(fourth["executed_runs"], 1);
    assert_ne!(fourth["manifest"], first["manifest"]);
}

#[test]
fn zstd_layers_are_written_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let base = busybox_base(tmp.path(), &cache);
    let ctx = write_spec(tmp.path(), "zstd", "    copy \"file.txt\"\n    run \"cat /file.txt > /copy.txt\"");
    let layout = tmp.path().join("zstd-layout");
    let out = build_command(&ctx, &cache, &base, &format!("oci:{}", layout.display())).args(["--compression", "zstd", "-t", "z"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest_path = layout.join("blobs/sha256").join(summary["manifest"].as_str().unwrap().trim_start_matches("sha256:"));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest_path).unwrap()).unwrap();
    let types: Vec<&str> = manifest["layers"].as_array().unwrap().iter().map(|l| l["mediaType"].as_str().unwrap()).collect();
    // The busybox base keeps its gzip layer; ours are zstd.
    assert!(types.iter().filter(|t| t.ends_with("+zstd")).count() == 2, "{types:?}");
    // A build on top of it reads the zstd layers back (its RUN needs the
    // busybox of the base and the files of ours).
    let next = write_spec(tmp.path(), "on-zstd", "    run \"cat /copy.txt > /again.txt\"");
    std::fs::write(next.join("buildspec.kdl"), "buildspec 1\nruntime \"app\" from=\"zstd:1\" {\n    run \"cat /copy.txt > /again.txt && cat /again.txt\"\n}\n").unwrap();
    let out = build_command(&next, &cache, &format!("zstd:1=oci:{}:z", layout.display()), &format!("oci:{}", tmp.path().join("next").display())).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("context file"), "{}", stderr(&out));
}

/// A base image whose layer blob does not hash to its digest is refused,
/// naming the layer, and nothing of it reaches the cache.
#[test]
fn a_base_layer_that_does_not_match_its_digest_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let base = busybox_base(tmp.path(), &tmp.path().join("base-cache"));
    let layout = tmp.path().join("base-layout");
    let blobs = layout.join("blobs/sha256");
    let largest = std::fs::read_dir(&blobs).unwrap().map(|e| e.unwrap().path()).max_by_key(|p| std::fs::metadata(p).unwrap().len()).unwrap();
    let mut bytes = std::fs::read(&largest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    // A new file, not a write in place: layout blobs are hard links into
    // the cache that built them.
    std::fs::remove_file(&largest).unwrap();
    std::fs::write(&largest, bytes).unwrap();
    let ctx = write_spec(tmp.path(), "tampered", "    run \"true\"");
    let cache = tmp.path().join("cache");
    let out = build_command(&ctx, &cache, &base, &format!("oci:{}", tmp.path().join("out").display())).output().unwrap();
    assert!(!out.status.success(), "a tampered base layer was used");
    let name = largest.file_name().unwrap().to_string_lossy().into_owned();
    assert!(stderr(&out).contains("does not match its digest") && stderr(&out).contains(&name[..12]), "{}", stderr(&out));
    check_cache(&cache);
}

/// Cache, secret (file and env), ssh, bind and tmpfs mounts reach the
/// RUN as BuildKit's do, and none of them ends up in a layer.
#[test]
fn run_mounts_behave_and_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let base = busybox_base(tmp.path(), &cache);
    let secret = tmp.path().join("token");
    std::fs::write(&secret, "TOPSECRET-123").unwrap();
    let agent = tmp.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&agent).unwrap();
    let fill = write_spec(tmp.path(), "fill", "    run \"mkdir -p /c && echo cached-data > /c/data\" {\n        cache \"/c\" id=\"shared\"\n    }");
    let body = r#"    run "test \"$(cat /run/secrets/tok)\" = TOPSECRET-123 && echo ok > /secret-file-ok" {
        secret "tok"
    }
    run "test \"$TOKEN\" = TOPSECRET-123 && test ! -e /run/secrets/tok && echo ok > /secret-env-ok" {
        secret "tok" env="TOKEN"
    }
    run "test -S \"$SSH_AUTH_SOCK\" && echo ok > /ssh-ok" {
        ssh
    }
    run "cat /c/data > /from-cache" {
        cache "/c" id="shared"
    }
    run "cat /ctx/file.txt > /from-bind" {
        bind "." target="/ctx"
    }
    run "echo t > /scratch/x && test -f /scratch/x && echo ok > /tmpfs-ok" {
        tmpfs "/scratch"
    }"#;
    let ctx = write_spec(tmp.path(), "mounts", body);
    let filled = build_command(&fill, &cache, &base, &format!("oci:{}", tmp.path().join("fill-out").display())).output().unwrap();
    assert!(filled.status.success(), "{}", stderr(&filled));
    let layout = tmp.path().join("out");
    let secret_arg = format!("id=tok,src={}", secret.display());
    let ssh_arg = format!("default={}", agent.display());
    let out = build_command(&ctx, &cache, &base, &format!("oci:{}", layout.display())).args(["--secret", &secret_arg, "--ssh", &ssh_arg, "-t", "m"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let bundle = tmp.path().join("bundle");
    let unpack = Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:m", layout.display())).arg(&bundle).output().unwrap();
    assert!(unpack.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&unpack.stderr));
    let rootfs = bundle.join("rootfs");
    let read = |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap_or_else(|e| panic!("/{p}: {e}"));
    for ok in ["secret-file-ok", "secret-env-ok", "ssh-ok", "tmpfs-ok"] {
        assert_eq!(read(ok), "ok\n", "/{ok}");
    }
    assert_eq!(read("from-cache"), "cached-data\n");
    assert_eq!(read("from-bind"), "context file\n");
    for gone in ["scratch/x", "run/secrets/tok", "c/data", "ctx/file.txt", "run/buildkit"] {
        assert!(!rootfs.join(gone).exists(), "/{gone} is in the image");
    }
    // The secret's bytes are in no layer.
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let mut plain = Vec::new();
        if std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(bytes.as_slice()), &mut plain).is_err() {
            plain = bytes;
        }
        assert!(!plain.windows(13).any(|w| w == b"TOPSECRET-123"), "the secret is in a blob");
    }
}

/// A RUN sees the files of the layers under it with the owner and time
/// those layers give them (Python trusts its `__pycache__` by the source's
/// time), and a relative `--cache-dir` works for a RUN with mounts.
#[test]
fn a_run_sees_owners_and_times_as_the_layers_give_them() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let base = busybox_base(tmp.path(), &cache);
    let body = r#"    copy "file.txt" to="/owned.txt" chown="1000:1001"
    run "busybox stat -c '%n %u:%g %Y' /owned.txt /bin/busybox > /stat" {
        cache "/c" id="c"
    }"#;
    let ctx = write_spec(tmp.path(), "owners", body);
    let layout = tmp.path().join("out");
    // The cache directory as the user may give it: relative to where the command runs.
    let out = build_command(&ctx, Path::new("../cache"), &base, &format!("oci:{}:m", layout.display())).env("SOURCE_DATE_EPOCH", "1600000000").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let bundle = tmp.path().join("bundle");
    let unpack = Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:m", layout.display())).arg(&bundle).output().unwrap();
    assert!(unpack.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&unpack.stderr));
    let stat = std::fs::read_to_string(bundle.join("rootfs/stat")).unwrap();
    // The base was built at epoch 0, the copy at 1600000000 (SOURCE_DATE_EPOCH).
    assert_eq!(stat, "/owned.txt 1000:1001 1600000000\n/bin/busybox 0:0 0\n");
}

/// An output names its tag as skopeo does; its JSON summary follows
/// docs/schemas/build-oci.schema.json.
#[test]
fn an_output_names_its_tag_as_skopeo_does() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let base = busybox_base(tmp.path(), &cache);
    let ctx = write_spec(tmp.path(), "tagged", r#"    copy "file.txt" to="/file.txt""#);
    let layout = tmp.path().join("layout");
    let archive = tmp.path().join("image.tar");
    let schema = support::schema("build-oci");
    for output in [format!("oci:{}:v1", layout.display()), format!("oci-archive:{}:v2", archive.display())] {
        let out = build_command(&ctx, &cache, &base, &output).output().unwrap();
        assert!(out.status.success(), "{output}: {}", stderr(&out));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let errors = support::schema_errors(&schema, &summary);
        assert!(errors.is_empty(), "the --format json summary breaks docs/schemas/build-oci.schema.json: {errors:?}");
        let inspect = Command::new("skopeo").args(["inspect", &output]).output().unwrap();
        assert!(inspect.status.success(), "skopeo inspect {output}: {}", String::from_utf8_lossy(&inspect.stderr));
        assert!(String::from_utf8_lossy(&inspect.stdout).contains(summary["manifest"].as_str().unwrap()), "skopeo sees another image under {output}");
    }
    assert!(layout.is_dir() && archive.is_file(), "the TAG is not part of the path");
    assert!(!tmp.path().join("layout:v1").exists());
    // A tag given in the output and by -t is an error, before any build.
    let out = build_command(&ctx, &cache, &base, &format!("oci:{}:v1", layout.display())).args(["-t", "v3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("the tag is given twice, `v1` in --output and `v3` by -t: give it once"), "{}", stderr(&out));
}

/// `lock` against a loopback registry: lock, pin on compile and build,
/// move the tag, `lock --check` fails naming it, `lock` again.
#[test]
fn lock_pins_images_and_check_sees_a_moved_tag() {
    let registry = support::registry::Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let run = |args: &[&str], dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_buildspec")).args(args).current_dir(dir).env("NO_COLOR", "1").env("REGISTRY_AUTH_FILE", &registry.auth_file).stdin(Stdio::null()).output().unwrap()
    };
    // The base image: busybox and a file saying which version it is.
    let base = tmp.path().join("base");
    let bin = base.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", bin.join("sh")).unwrap();
    std::fs::write(base.join("buildspec.kdl"), "buildspec 1\nruntime \"base\" from=\"scratch\" {\n    copy \"rootfs/\" to=\"/\"\n    copy \"version\" to=\"/version\"\n}\n").unwrap();
    let tag = format!("{}/team/base:1", registry.host);
    let push = |version: &str| -> String {
        std::fs::write(base.join("version"), version).unwrap();
        let out = run(&["build", "--backend", "oci", "--format", "json", "--cache-dir", cache.to_str().unwrap(), &format!("--output=registry:{tag}")], &base);
        assert!(out.status.success(), "push: {}", stderr(&out));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        summary["manifest"].as_str().unwrap().to_owned()
    };
    let first = push("1\n");
    // A spec that starts from it and copies out of it.
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("buildspec.kdl"), format!("buildspec 1\nruntime \"app\" from=\"{tag}\" {{\n    copy \"/version\" from=\"{tag}\" to=\"/base-version\"\n    run \"cat /version /base-version > /both\"\n}}\n")).unwrap();
    let out = run(&["compile", "--locked"], &app);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("buildspec.lock") && stderr(&out).contains("buildspec lock"), "{}", stderr(&out));
    let out = run(&["lock"], &app);
    assert!(out.status.success(), "lock: {}", stderr(&out));
    let lock = std::fs::read_to_string(app.join("buildspec.lock")).unwrap();
    assert!(lock.contains(&format!("image \"{tag}\" digest=\"{first}\"")), "{lock}");
    let out = run(&["compile", "--locked"], &app);
    assert!(out.status.success(), "{}", stderr(&out));
    let dockerfile = stdout(&out);
    assert!(dockerfile.contains(&format!("FROM {tag}@{first} AS app")), "{dockerfile}");
    assert!(dockerfile.contains(&format!("--from={tag}@{first}")), "{dockerfile}");
    // The locked build pulls by digest.
    let layout = tmp.path().join("layout");
    let out = run(&["build", "--backend", "oci", "--locked", "--cache-dir", cache.to_str().unwrap(), &format!("--output=oci:{}:app", layout.display())], &app);
    assert!(out.status.success(), "locked build: {}", stderr(&out));
    let out = run(&["lock", "--check"], &app);
    assert!(out.status.success(), "{}", stderr(&out));
    // Move the tag: check fails naming the image and both digests.
    let second = push("2\n");
    assert_ne!(first, second);
    let out = run(&["lock", "--check"], &app);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("{tag} moved: locked {first}, now {second}")), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(app.join("buildspec.lock")).unwrap(), lock, "--check wrote the lock");
    // Still locked to the first: the locked build does not move with the tag.
    let out = run(&["compile", "--locked"], &app);
    assert!(stdout(&out).contains(&format!("FROM {tag}@{first} AS app")));
    let out = run(&["lock"], &app);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["lock", "--check"], &app);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run(&["compile", "--locked"], &app).stdout.windows(second.len()).any(|w| w == second.as_bytes()));
}

/// The RUN markers (`ran-…`) of the steps a build's progress shows
/// executing (not answered from a cache).
fn ran_markers(log: &str) -> std::collections::BTreeSet<String> {
    log.lines()
        .filter(|l| l.starts_with('[') && !l.contains("] CACHED ") && l.contains("] RUN "))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("ran-")).map(str::to_owned))
        .collect()
}

/// Two CI runners, one registry cache, `--backend oci`: runner A exports
/// its steps; runner B, with an empty cache directory, builds after a
/// one-line edit and runs only the RUNs `plan --changed` names, to the
/// image a cold build makes. A corrupted blob in the cache is detected
/// and its step runs; a registry that is down is a warning.
#[test]
fn a_registry_cache_is_shared_by_two_runners() {
    let mut registry = support::registry::Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let base = busybox_base(tmp.path(), &tmp.path().join("base-cache"));
    let ctx = tmp.path().join("app");
    std::fs::create_dir_all(ctx.join("src")).unwrap();
    std::fs::write(ctx.join("src/main.txt"), "version 1\n").unwrap();
    std::fs::write(
        ctx.join("buildspec.kdl"),
        "buildspec 1\nruntime \"app\" from=\"busybox:test\" {\n    workdir \"/app\"\n    run \"echo ran-deps && echo fetched dependencies > /deps.txt\"\n    copy \"src\" to=\"/app/src\"\n    run \"echo ran-out && cat /deps.txt /app/src/main.txt > /app/out.txt\"\n}\n",
    )
    .unwrap();
    let cache = format!("registry:{}/cache/app", registry.host);
    let schema = support::schema("build-oci");
    let auth_file = registry.auth_file.clone();
    let build = |runner: &str, flags: &[&str]| -> (serde_json::Value, String) {
        let layout = tmp.path().join(format!("{runner}-layout"));
        let out = build_command(&ctx, &tmp.path().join(format!("{runner}-cache")), &base, &format!("oci:{}:app", layout.display()))
            .args(flags)
            .env("REGISTRY_AUTH_FILE", &auth_file)
            .output()
            .unwrap();
        let log = stderr(&out);
        assert!(out.status.success(), "runner {runner}: {log}");
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let errors = support::schema_errors(&schema, &summary);
        assert!(errors.is_empty(), "runner {runner}: the summary breaks build-oci.schema.json: {errors:?}");
        (summary, log)
    };
    let (a, log) = build("a", &["--cache-to", &cache]);
    assert_eq!(ran_markers(&log).len(), 2, "runner A runs both RUNs:\n{log}");
    let entries = a["cache_exported"].as_u64().unwrap();
    assert!(entries >= 3, "runner A exports its RUN and COPY steps, exported {entries}");
    assert_eq!(registry.tagged_manifests("cache/app").len() as u64, entries);

    std::fs::write(ctx.join("src/main.txt"), "version 2\n").unwrap();
    let (b, log) = build("b", &["--cache-from", &cache]);
    let plan = buildspec(&["plan", "--format", "json", "--changed", "src/main.txt"], &ctx);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let planned: std::collections::BTreeSet<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["rebuild"] == true && s["instruction"].as_str().unwrap().starts_with("RUN"))
        .filter_map(|s| s["instruction"].as_str().unwrap().split_whitespace().find(|w| w.starts_with("ran-")).map(str::to_owned))
        .collect();
    assert_eq!(ran_markers(&log), planned, "runner B runs what plan --changed names:\n{log}");
    assert_eq!(planned.len(), 1);
    assert!(b["cache_hits_remote"].as_u64().unwrap() >= 1, "{b}");
    // Runner C, without --cache-from, runs every RUN, to the same image.
    let (c, log) = build("c", &[]);
    assert_eq!(ran_markers(&log).len(), 2, "a cold runner runs both RUNs:\n{log}");
    assert_eq!(b["manifest"], c["manifest"], "the image from the registry cache differs from a cold build's");

    // Corrupt every cached layer blob (same length, other bytes): each is
    // detected, warned about, and its step runs.
    for manifest in registry.tagged_manifests("cache/app") {
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(registry.blob_path(&manifest)).unwrap()).unwrap();
        let blob = registry.blob_path(doc["layers"][0]["digest"].as_str().unwrap());
        let flipped: Vec<u8> = std::fs::read(&blob).unwrap().iter().map(|b| !b).collect();
        std::fs::write(&blob, flipped).unwrap();
    }
    let (d, log) = build("d", &["--cache-from", &cache]);
    assert_eq!(ran_markers(&log).len(), 2, "corrupt entries are not used:\n{log}");
    assert!(log.contains("warning: --cache-from") && log.contains("the step runs"), "{log}");
    assert_eq!(d["cache_hits_remote"], 0);
    assert_eq!(d["manifest"], c["manifest"]);
    check_cache(&tmp.path().join("d-cache"));

    // A registry that is down: a warning, and the build goes on.
    registry.stop();
    let (e, log) = build("e", &["--cache-from", &cache]);
    assert!(log.contains("is not used for the rest of this build"), "{log}");
    assert_eq!(log.matches("warning:").count(), 1, "one warning, not one per step:\n{log}");
    assert_eq!(e["manifest"], c["manifest"]);
}

/// `--format json` says where the build's time went, per phase: a RUN that
/// sleeps shows in `runc`, nothing is counted twice, and a rebuild that
/// runs nothing spends nothing in runc.
#[test]
fn the_json_summary_breaks_the_time_down_by_phase() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let base = busybox_base(tmp.path(), &cache);
    let ctx = write_spec(tmp.path(), "timed", "    copy \"file.txt\" to=\"/file.txt\"\n    run \"sleep 0.4; head -c 2000000 /dev/zero > /zeros\"");
    let timings = |label: &str| -> serde_json::Map<String, serde_json::Value> {
        let out = build_command(&ctx, &cache, &base, &format!("oci:{}", tmp.path().join(label).display())).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        summary["timings_ms"].as_object().unwrap_or_else(|| panic!("no timings_ms: {summary}")).clone()
    };
    let first = timings("first");
    let ms = |t: &serde_json::Map<String, serde_json::Value>, k: &str| t[k].as_u64().unwrap_or_else(|| panic!("{k}: {t:?}"));
    assert!(ms(&first, "runc") >= 400, "the RUN's sleep is not in runc: {first:?}");
    let phases: u64 = first.iter().filter(|(k, _)| *k != "total").map(|(_, v)| v.as_u64().unwrap()).sum();
    assert!(phases <= ms(&first, "total") + 1, "the phases overlap: {first:?}");
    let again = timings("again");
    assert_eq!(ms(&again, "runc"), 0, "a rebuild that runs nothing: {again:?}");
    assert_eq!(ms(&again, "layer_write"), 0, "{again:?}");
}

/// The layer directories in the cache (one per unpacked layer).
fn unpacked_layers(cache: &Path) -> usize {
    std::fs::read_dir(cache.join("diffs")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_layer_is_unpacked_only_when_a_step_runs_on_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let base = busybox_base(tmp.path(), &cache);
    assert_eq!(unpacked_layers(&cache), 0, "the base's own copy (a runtime's) was unpacked");
    let ctx = tmp.path().join("lazy");
    std::fs::create_dir_all(&ctx).unwrap();
    let spec = |app_run: &str| {
        let text = format!(
            "buildspec 1\nbuilder \"b\" from=\"busybox:test\" {{\n    run \"head -c 3000000 /dev/zero > /big\"\n}}\nruntime \"app\" from=\"busybox:test\" {{\n    copy \"/big\" from=\"b\" to=\"/copied\"\n{app_run}    env X=\"1\"\n}}\n"
        );
        std::fs::write(ctx.join("buildspec.kdl"), text).unwrap();
    };
    let build = |label: &str| -> serde_json::Value {
        let out = build_command(&ctx, &cache, &base, &format!("oci:{}", tmp.path().join(label).display())).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    spec("");
    let first = build("first");
    assert_eq!(first["executed_runs"], 1, "{first}");
    assert_eq!(unpacked_layers(&cache), 1, "only the builder's RUN layer is a directory: the runtime's copy is never run on");
    let again = build("again");
    assert_eq!(again["executed_runs"], 0, "a cached copy needs no directory to be reused: {again}");
    assert_eq!(again["manifest"], first["manifest"]);
    // A RUN after the (cached) copy: its layer is unpacked then, and the
    // RUN sees the file.
    spec("    run \"test $(wc -c < /copied) -eq 3000000\"\n");
    let with_run = build("with-run");
    assert_eq!(with_run["executed_runs"], 1, "{with_run}");
    let dirs: Vec<_> = std::fs::read_dir(cache.join("diffs")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(unpacked_layers(&cache), 3, "the copy's layer is unpacked for the RUN, and the RUN's layer kept: {dirs:?}");
    check_cache(&cache);
}

/// Stages that need nothing from each other are built at once, as BuildKit
/// builds them: each of two builders' RUN waits (a minute at most) for the
/// other's to have started, which a one-stage-at-a-time build never lets
/// happen. They meet in a cache mount an earlier build used (one no build
/// had used would have them run one after the other: the next test). The
/// image is the same from a cache without its steps each time.
#[test]
fn independent_stages_are_built_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let base = busybox_base(tmp.path(), &tmp.path().join("base-cache"));
    let ctx = tmp.path().join("meet");
    std::fs::create_dir_all(&ctx).unwrap();
    let builder = |me: &str, other: &str| {
        format!(
            "builder \"{me}\" from=\"busybox:test\" {{\n    run \"touch /meet/{me}; i=0; while [ ! -e /meet/{other} ]; do i=$((i+1)); [ $i -lt 600 ] || exit 7; sleep 0.1; done; echo {me} > /{me}\" {{\n        cache \"/meet\" id=\"meet\"\n    }}\n}}\n"
        )
    };
    let spec = format!(
        "buildspec 1\n{}{}runtime \"app\" from=\"busybox:test\" {{\n    copy \"/left\" from=\"left\" to=\"/left\"\n    copy \"/right\" from=\"right\" to=\"/right\"\n}}\n",
        builder("left", "right"),
        builder("right", "left")
    );
    std::fs::write(ctx.join("buildspec.kdl"), spec).unwrap();
    let fill = tmp.path().join("fill");
    std::fs::create_dir_all(&fill).unwrap();
    std::fs::write(fill.join("buildspec.kdl"), "buildspec 1\nruntime \"fill\" from=\"busybox:test\" {\n    run \"touch /meet/.filled\" {\n        cache \"/meet\" id=\"meet\"\n    }\n}\n").unwrap();
    let manifest = |label: &str| -> serde_json::Value {
        let cache = tmp.path().join(format!("cache-{label}"));
        let filled = build_command(&fill, &cache, &base, &format!("oci:{}", tmp.path().join(format!("fill-{label}")).display())).output().unwrap();
        assert!(filled.status.success(), "{}", stderr(&filled));
        let out = build_command(&ctx, &cache, &base, &format!("oci:{}", tmp.path().join(label).display())).output().unwrap();
        assert!(out.status.success(), "the builders did not run at once:\n{}", stderr(&out));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["executed_runs"], 2, "{summary}");
        summary["manifest"].clone()
    };
    assert_eq!(manifest("first"), manifest("second"), "two cold builds of the same inputs");
}

/// Stages that share a cache mount no build had used are built one
/// after another, in build order, so the later find what the first left
/// there (go-static's `go vet` the standard library `go build` compiled):
/// `second`'s RUN needs the file `first`'s writes after a second's sleep.
#[test]
fn stages_sharing_an_unused_cache_are_built_one_after_another() {
    let tmp = tempfile::tempdir().unwrap();
    let base = busybox_base(tmp.path(), &tmp.path().join("base-cache"));
    let ctx = tmp.path().join("fill-first");
    std::fs::create_dir_all(&ctx).unwrap();
    let spec = r#"buildspec 1
builder "first" from="busybox:test" {
    run "sleep 1; touch /c/first-done; echo first > /first" {
        cache "/c" id="c"
    }
}
builder "second" from="busybox:test" {
    run "test -e /c/first-done && echo second > /second" {
        cache "/c" id="c"
    }
}
runtime "app" from="busybox:test" {
    copy "/first" from="first" to="/first"
    copy "/second" from="second" to="/second"
}
"#;
    std::fs::write(ctx.join("buildspec.kdl"), spec).unwrap();
    let out = build_command(&ctx, &tmp.path().join("cache"), &base, &format!("oci:{}", tmp.path().join("out").display())).output().unwrap();
    assert!(out.status.success(), "`second` ran before `first` had filled the cache:\n{}", stderr(&out));
}
