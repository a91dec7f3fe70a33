//! A private docker engine for tests: installed, started and given base
//! images by scripts/engine/*.sh, on a socket in a temporary directory,
//! and stopped by its pid when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::root;

pub struct Engine {
    state: tempfile::TempDir,
    env: Vec<(String, String)>,
}

fn script(name: &str) -> PathBuf {
    root().join("scripts/engine").join(name)
}

fn run_script(cmd: &mut Command, what: &str) -> String {
    let out = cmd.stdin(Stdio::null()).stderr(Stdio::inherit()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed");
    String::from_utf8(out.stdout).expect("utf-8")
}

impl Engine {
    /// Installs (cached on the machine) and starts an engine holding the
    /// named stand-in base images (`all`, or `name:tag,…`); with `tcp`, it
    /// also listens on 127.0.0.1:PORT and DOCKER_HOST names that.
    pub fn start(images: &str, tcp: Option<u16>) -> Engine {
        Engine::start_with(&["--images", images], tcp)
    }

    /// An empty engine whose images live in containerd: the setup under
    /// which BuildKit exports a build cache.
    pub fn start_containerd_store() -> Engine {
        Engine::start_with(&["--containerd-store"], None)
    }

    fn start_with(args: &[&str], tcp: Option<u16>) -> Engine {
        run_script(Command::new("bash").arg(script("install.sh")), "installing the engine");
        let state = tempfile::Builder::new().prefix("bs-engine-").tempdir_in("/tmp").expect("state dir");
        let mut cmd = Command::new("bash");
        cmd.arg(script("start.sh")).arg(state.path()).args(args);
        if let Some(port) = tcp {
            cmd.arg("--tcp").arg(port.to_string());
        }
        let exports = run_script(&mut cmd, "starting the engine");
        let env = exports
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                let path = std::env::var("PATH").unwrap_or_default();
                (k.to_owned(), unquote(&v.replace("\"$PATH\"", &path).replace("$PATH", &path)))
            })
            .collect();
        Engine { state, env }
    }

    /// A command with this engine's DOCKER_HOST, DOCKER_CONFIG and PATH.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_remove("DOCKER_CONTEXT");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.env("NO_COLOR", "1").stdin(Stdio::null());
        cmd
    }

    pub fn var(&self, key: &str) -> &str {
        self.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.command("docker").args(args).output().expect("run docker")
    }

    pub fn buildspec(&self, args: &[&str], cwd: &Path) -> Output {
        self.command(env!("CARGO_BIN_EXE_buildspec")).args(args).current_dir(cwd).output().expect("run buildspec")
    }
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && ((v.starts_with('\'') && v.ends_with('\'')) || (v.starts_with('"') && v.ends_with('"'))) {
        v[1..v.len() - 1].to_owned()
    } else {
        v.to_owned()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script("stop.sh"))
            .arg(self.state.path())
            .arg("--purge")
            .stdin(Stdio::null())
            .status();
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
