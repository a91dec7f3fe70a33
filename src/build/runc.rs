//! Running one RUN step: an overlay mount of the stage's layers with a
//! fresh upper directory, and runc in new mount, pid, ipc, uts (and, unless
//! the step asks for the host's, network) namespaces. The upper directory
//! is what the step changed. No rlimit is set: the process keeps the
//! current ones (root here lacks CAP_SYS_RESOURCE to raise them).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A bind mount into the container.
#[derive(Debug, Clone)]
pub struct Bind {
    pub source: PathBuf,
    pub target: String,
    pub readonly: bool,
}

/// What to run and where.
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    /// Layer directories, topmost first (the base root file system last).
    pub lowers: &'a [PathBuf],
    pub upper: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub host_network: bool,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<(String, Option<String>)>,
}

/// Mounts `lowers` (read-only) at `at`; unmounted when dropped.
pub struct Mounted {
    at: PathBuf,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.at).stderr(Stdio::null()).status();
    }
}

fn mount_overlay(lowers: &[PathBuf], upper: Option<(&Path, &Path)>, at: &Path) -> std::io::Result<Mounted> {
    std::fs::create_dir_all(at)?;
    let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let mut options = format!("lowerdir={}", lower.join(":"));
    if let Some((upper, work)) = upper {
        options.push_str(&format!(",upperdir={},workdir={}", upper.display(), work.display()));
    }
    let lowers_only_one = lowers.len() == 1 && upper.is_none();
    let status = if lowers_only_one {
        Command::new("mount").args(["--bind", "-o", "ro"]).arg(&lowers[0]).arg(at).status()?
    } else {
        Command::new("mount").args(["-t", "overlay", "overlay", "-o", &options]).arg(at).status()?
    };
    if !status.success() {
        return Err(std::io::Error::other(format!("mounting the layers at {}", at.display())));
    }
    Ok(Mounted { at: at.to_path_buf() })
}

/// A read-only view of layers (for copying out of a stage).
pub fn view(lowers: &[PathBuf], at: &Path) -> std::io::Result<Mounted> {
    mount_overlay(lowers, None, at)
}

const CAPS: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

/// Runs the step; returns its exit code, with its output passed to stderr.
pub fn run(spec: &RunSpec<'_>, scratch: &Path, id: &str) -> std::io::Result<i32> {
    // runc reads relative paths in config.json against the bundle, not
    // against our working directory (a relative --cache-dir or context).
    let scratch = &std::path::absolute(scratch)?;
    let rootfs = scratch.join("rootfs");
    let work = scratch.join("work");
    std::fs::create_dir_all(&work)?;
    let _mounted = mount_overlay(spec.lowers, Some((spec.upper, &work)), &rootfs)?;
    let mut mounts = vec![
        serde_json::json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        serde_json::json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        serde_json::json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
        serde_json::json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        serde_json::json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
    ];
    if spec.host_network {
        for file in ["/etc/resolv.conf", "/etc/hosts"] {
            if Path::new(file).exists() {
                mounts.push(serde_json::json!({"destination": file, "type": "bind", "source": file, "options": ["rbind", "ro"]}));
            }
        }
    }
    for bind in &spec.binds {
        let mut options = vec!["rbind"];
        if bind.readonly {
            options.push("ro");
        }
        let source = std::path::absolute(&bind.source)?;
        mounts.push(serde_json::json!({"destination": bind.target, "type": "bind", "source": source, "options": options}));
    }
    for (target, size) in &spec.tmpfs {
        let mut options = vec!["nosuid".to_owned(), "nodev".to_owned()];
        if let Some(size) = size {
            options.push(format!("size={size}"));
        }
        mounts.push(serde_json::json!({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": options}));
    }
    let mut namespaces = vec![
        serde_json::json!({"type": "pid"}),
        serde_json::json!({"type": "ipc"}),
        serde_json::json!({"type": "uts"}),
        serde_json::json!({"type": "mount"}),
    ];
    if !spec.host_network {
        namespaces.push(serde_json::json!({"type": "network"}));
    }
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": spec.uid, "gid": spec.gid},
            "args": spec.args,
            "env": spec.env,
            "cwd": spec.cwd,
            "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
            "noNewPrivileges": false
        },
        "root": {"path": rootfs, "readonly": false},
        "hostname": "buildspec",
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    std::fs::write(scratch.join("config.json"), serde_json::to_vec_pretty(&config).expect("json"))?;
    let state = scratch.join("runc-state");
    // The step's output is progress: it goes to stderr, keeping stdout
    // for the build's result.
    let to_stderr = {
        use std::os::fd::AsFd;
        std::io::stderr().as_fd().try_clone_to_owned()?
    };
    let status = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(scratch)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::from(to_stderr))
        .stderr(Stdio::inherit())
        .status();
    let status = match status {
        Ok(s) => s,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(std::io::Error::other("runc was not found: install it (the runc package) to build RUN steps with --backend oci"));
        }
        Err(err) => return Err(err),
    };
    let _ = Command::new("runc").arg("--root").arg(&state).args(["delete", "--force", id]).stderr(Stdio::null()).status();
    Ok(status.code().unwrap_or(128))
}
