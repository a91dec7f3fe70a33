//! A private registry for tests: Debian's `docker-registry`
//! (distribution 2.8) on a free loopback port, storing in a temporary
//! directory, with htpasswd (basic) auth for one user, and stopped by its
//! pid when dropped.

use std::process::{Child, Command, Stdio};

pub struct Registry {
    child: Child,
    _dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`
    pub host: String,
    /// An auth file (docker's config.json shape) holding the credentials.
    pub auth_file: std::path::PathBuf,
    pub user: &'static str,
    pub password: &'static str,
    /// The storage root (`docker/registry/v2/…` below it), for tests that
    /// tamper with what the registry holds.
    pub data: std::path::PathBuf,
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().expect("registry dir");
        let (user, password) = ("builder", "s3cret-pass");
        let htpasswd = Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("htpasswd (apache2-utils)");
        assert!(htpasswd.status.success(), "htpasswd failed");
        std::fs::write(dir.path().join("htpasswd"), &htpasswd.stdout).unwrap();
        let port = super::engine::free_port();
        let host = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\nauth:\n  htpasswd:\n    realm: buildspec-test\n    path: {root}/../htpasswd\n",
            root = dir.path().join("data").display()
        );
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let auth = base64_auth(user, password);
        let auth_file = dir.path().join("auth.json");
        std::fs::write(&auth_file, format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#)).unwrap();
        let data = dir.path().join("data");
        let registry = Registry { child, _dir: dir, host, auth_file, user, password, data };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&registry.host).is_ok() {
                return registry;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("docker-registry did not listen on {}", registry.host);
    }
}

fn base64_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

impl Registry {
    /// Stops the registry now (a test of a registry that is down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The file holding a blob of the registry's storage.
    pub fn blob_path(&self, digest: &str) -> std::path::PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.data.join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    /// The digests of the manifests the tags of `repository` name.
    pub fn tagged_manifests(&self, repository: &str) -> Vec<String> {
        let tags = self.data.join("docker/registry/v2/repositories").join(repository).join("_manifests/tags");
        let mut res: Vec<String> = std::fs::read_dir(tags)
            .into_iter()
            .flatten()
            .map(|t| std::fs::read_to_string(t.unwrap().path().join("current/link")).expect("a tag link"))
            .collect();
        res.sort();
        res
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
