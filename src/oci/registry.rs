//! Images over the distribution API (the registry HTTP API v2).
//!
//! Pulling resolves a tag to a manifest (a manifest list or OCI index is
//! narrowed to this machine's platform), then fetches the config and the
//! layers the store lacks, each checked against its digest. Pushing sends
//! blobs first — each asked for with `HEAD` before anything is uploaded,
//! mounted from another repository of the same registry when we pulled it
//! from or pushed it to one, uploaded in one `PUT` otherwise — and the manifest
//! last, so a registry never holds a manifest whose blobs are missing.
//!
//! Auth follows the registry's challenge: anonymous first; on a `401`
//! with `Basic`, the credentials docker keeps in `config.json`; with
//! `Bearer`, a token from the realm the challenge names (with those
//! credentials when there are some). Loopback registries (and those in
//! `BUILDSPEC_INSECURE_REGISTRIES`) are spoken to over plain HTTP, as
//! docker does.
//!
//! Faults: every request (and every blob's whole download or upload) is
//! tried again with backoff when the fault is transient — a transport
//! error, a timeout, a body cut short, HTTP 408, 429 or 5xx — and fails
//! with one line naming what was asked for when it is not, or when the
//! retries (`BUILDSPEC_REGISTRY_RETRIES`, default 3) are used up. A
//! registry that sends nothing for `BUILDSPEC_REGISTRY_TIMEOUT` seconds
//! (default 300) has timed out. A blob is kept only when its bytes match
//! its digest.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;

use base64::Engine as _;

use crate::oci::digest::Digest;
use crate::oci::image::{self, ImageConfig, ImageIndex, ImageManifest, MEDIA_INDEX, MEDIA_MANIFEST};
use crate::oci::layout::Built;
use crate::oci::source::{Image, LayerRef};
use crate::oci::store::{parse_digest, Store};

const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The largest manifest or config we read into memory.
const MAX_DOCUMENT: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{0}` is not an image reference: use [HOST[:PORT]/]REPOSITORY[:TAG|@sha256:DIGEST]")]
    BadReference(String),
    #[error("{registry}: {message}")]
    Protocol { registry: String, message: String },
    #[error("{registry}: {what}: HTTP {status}{detail}")]
    Status { registry: String, what: String, status: u16, detail: String },
    /// The connection failed or broke (`retry`: asking again may work),
    /// or the exchange could not be made at all (a name that does not
    /// resolve, a bad URL or header, too many redirects).
    #[error("{registry}: {what}: {message}")]
    Transport { registry: String, what: String, message: String, retry: bool },
    #[error("{registry}: {what}: access denied (HTTP 401); log in with `docker login {registry}` (buildspec reads docker's config.json)")]
    Unauthorized { registry: String, what: String },
    #[error("{what}: {error}")]
    Io { what: String, error: io::Error },
    #[error("{last} (gave up after {attempts} attempts)")]
    Retried { attempts: u32, last: Box<Error> },
}

impl Error {
    /// The error itself, not the retries that ended in it.
    pub fn last(&self) -> &Error {
        match self {
            Error::Retried { last, .. } => last.last(),
            e => e,
        }
    }

    /// A fault that asking again may not meet.
    fn is_transient(&self) -> bool {
        match self {
            Error::Transport { retry, .. } => *retry,
            Error::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            _ => false,
        }
    }
}

/// Retries after the first failure, and the first wait (doubled each time).
const DEFAULT_RETRIES: u32 = 3;
const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(250);
/// Long: a registry on object storage may take minutes to answer the
/// `PUT` that ends a large upload.
const DEFAULT_TIMEOUT_SECONDS: u64 = 300;

/// A whole number from the environment; anything else is the default.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// Runs `op` until it succeeds, fails for good, or the retries are used up.
pub(super) fn retrying<T>(mut op: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
    let retries = setting("BUILDSPEC_REGISTRY_RETRIES", DEFAULT_RETRIES.into()).min(20) as u32;
    let mut attempt = 0;
    loop {
        match op() {
            Err(e) if e.is_transient() && attempt < retries => {
                std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt.min(6)));
                attempt += 1;
            }
            Err(e) if attempt > 0 => return Err(Error::Retried { attempts: attempt + 1, last: Box::new(e) }),
            done => return done,
        }
    }
}

/// `[HOST[:PORT]/]REPOSITORY[:TAG|@DIGEST]`, normalized as docker does:
/// no host means Docker Hub, and a one-part Hub name is in `library/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry as named (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, Error> {
        let bad = || Error::BadReference(s.to_owned());
        let (name, reference) = match s.split_once('@') {
            Some((name, digest)) => {
                parse_digest(digest).ok_or_else(bad)?;
                // `name:tag@digest` (what `--locked` writes): the digest wins.
                let name = match name.rsplit_once(':') {
                    Some((untagged, tag)) if !tag.contains('/') => untagged,
                    _ => name,
                };
                (name, digest.to_owned())
            }
            None => match s.rsplit_once(':') {
                Some((name, tag)) if !tag.contains('/') => (name, tag.to_owned()),
                _ => (s, "latest".to_owned()),
            },
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first.to_owned(), rest.to_owned()),
            _ => ("docker.io".to_owned(), if name.contains('/') { name.to_owned() } else { format!("library/{name}") }),
        };
        let component_ok = |c: &str| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        let tag_ok = reference.starts_with("sha256:")
            || (!reference.is_empty() && reference.len() <= 128 && reference.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
        if !repository.split('/').all(component_ok) || !tag_ok || registry.is_empty() {
            return Err(bad());
        }
        Ok(Reference { registry, repository, reference })
    }

    fn api_host(&self) -> &str {
        if self.registry == "docker.io" { "registry-1.docker.io" } else { &self.registry }
    }

    fn base_url(&self) -> String {
        let host = self.api_host();
        let bare = host.rsplit_once(':').map(|(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { host }).unwrap_or(host);
        let loopback = matches!(bare, "localhost" | "127.0.0.1" | "[::1]");
        let listed = std::env::var("BUILDSPEC_INSECURE_REGISTRIES").unwrap_or_default().split(',').any(|r| r.trim() == self.registry);
        format!("{}://{host}", if loopback || listed { "http" } else { "https" })
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.reference.starts_with("sha256:") { '@' } else { ':' };
        write!(f, "{}/{}{sep}{}", self.registry, self.repository, self.reference)
    }
}

/// What a push did with the blobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushStats {
    pub uploaded: usize,
    pub mounted: usize,
    pub existing: usize,
}

pub(super) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    File(PathBuf),
}

/// One registry session: the HTTP agent and the auth header won so far.
pub(super) struct Session {
    agent: ureq::Agent,
    pub(super) reference: Reference,
    base: String,
    /// Scopes asked for when a bearer token is needed.
    scopes: Vec<String>,
    authorization: Option<String>,
}

impl Session {
    pub(super) fn new(reference: &Reference, scopes: Vec<String>) -> Session {
        Session { agent: new_agent(), base: reference.base_url(), reference: reference.clone(), scopes, authorization: None }
    }

    /// The error for an answer ureq panicked on; the agent (whose pool the
    /// panic may have left in any state) is replaced.
    fn malformed(&mut self, what: &str) -> Error {
        self.agent = new_agent();
        Error::Protocol { registry: self.reference.registry.clone(), message: format!("{what}: the registry's answer is not valid HTTP") }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.reference.repository)
    }

    /// Sends a request, answering one auth challenge if the registry
    /// makes it. Statuses in `ok` are returned; others are errors.
    pub(super) fn send(&mut self, method: &str, url: &str, headers: &[(&str, &str)], body: &Body<'_>, ok: &[u16], what: &str) -> Result<ureq::Response, Error> {
        let mut challenged = false;
        loop {
            let mut req = self.agent.request(method, url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(auth) = &self.authorization {
                req = req.set("Authorization", auth);
            }
            let file = match body {
                Body::File(path) => Some(fs::File::open(path).map_err(|error| Error::Io { what: format!("reading {}", path.display()), error })?),
                _ => None,
            };
            // ureq 2.12 panics on some malformed answers (a header line
            // without a colon, found by fuzzing): that is a bad answer.
            let sent = catching_panics(|| {
                let res = match (body, file) {
                    (Body::Bytes(b), _) => req.send_bytes(b),
                    (_, Some(file)) => {
                        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                        req.set("Content-Length", &len.to_string()).send(io::BufReader::new(file))
                    }
                    _ => req.call(),
                };
                // Every header read once here: a later read cannot panic.
                if let Ok(r) | Err(ureq::Error::Status(_, r)) = &res {
                    for name in r.headers_names() {
                        let _ = r.header(&name);
                    }
                    let _ = r.content_type();
                }
                res
            });
            let Some(res) = sent else { return Err(self.malformed(what)) };
            let response = match res {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(ureq::Error::Transport(t)) => {
                    // The kind and its cause, without the URL (`what` names it).
                    let mut message = t.kind().to_string();
                    for part in [t.message().map(str::to_owned), std::error::Error::source(&t).map(|e| e.to_string())].into_iter().flatten() {
                        message = format!("{message}: {part}");
                    }
                    let retry = matches!(t.kind(), ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Io | ureq::ErrorKind::ProxyConnect);
                    return Err(Error::Transport { registry: self.reference.registry.clone(), what: what.to_owned(), message, retry });
                }
            };
            let status = response.status();
            if ok.contains(&status) {
                return Ok(response);
            }
            if status == 401 && !challenged {
                challenged = true;
                let challenge = response.header("WWW-Authenticate").unwrap_or_default().to_owned();
                self.authorization = Some(self.answer(&challenge, what)?);
                continue;
            }
            if status == 401 {
                return Err(Error::Unauthorized { registry: self.reference.registry.clone(), what: what.to_owned() });
            }
            let mut detail = String::new();
            let _ = response.into_reader().take(2048).read_to_string(&mut detail);
            let detail = registry_message(&detail).map(|m| format!(": {m}")).unwrap_or_default();
            return Err(Error::Status { registry: self.reference.registry.clone(), what: what.to_owned(), status, detail });
        }
    }

    /// The `Authorization` value that answers a `WWW-Authenticate` challenge.
    fn answer(&self, challenge: &str, what: &str) -> Result<String, Error> {
        let registry = &self.reference.registry;
        let creds = credentials(registry);
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        let unauthorized = || Error::Unauthorized { registry: registry.clone(), what: what.to_owned() };
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => creds.map(|c| format!("Basic {c}")).ok_or_else(unauthorized),
            "bearer" => {
                let params = challenge_params(params);
                let realm = params.get("realm").ok_or_else(|| Error::Protocol { registry: registry.clone(), message: "a bearer challenge without a realm".into() })?;
                let mut req = self.agent.get(realm);
                if let Some(service) = params.get("service") {
                    req = req.query("service", service);
                }
                for scope in &self.scopes {
                    req = req.query("scope", scope);
                }
                if let Some(c) = &creds {
                    req = req.set("Authorization", &format!("Basic {c}"));
                }
                let Some(called) = catching_panics(|| {
                    let res = req.call();
                    if let Ok(r) | Err(ureq::Error::Status(_, r)) = &res {
                        for name in r.headers_names() {
                            let _ = r.header(&name);
                        }
                    }
                    res
                }) else {
                    return Err(Error::Protocol { registry: registry.clone(), message: format!("getting a token from {realm}: the answer is not valid HTTP") });
                };
                let response = match called {
                    Ok(r) => r,
                    Err(ureq::Error::Status(401 | 403, _)) => return Err(unauthorized()),
                    Err(ureq::Error::Status(status, _)) => {
                        return Err(Error::Status { registry: registry.clone(), what: format!("getting a token from {realm}"), status, detail: String::new() });
                    }
                    Err(ureq::Error::Transport(t)) => {
                        let retry = matches!(t.kind(), ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Io);
                        return Err(Error::Transport { registry: registry.clone(), what: format!("getting a token from {realm}"), message: t.to_string(), retry });
                    }
                };
                let body = read_document(response, registry, "the token")?;
                let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| Error::Protocol { registry: registry.clone(), message: format!("token response: {e}") })?;
                let token = v["token"].as_str().or(v["access_token"].as_str()).ok_or_else(|| Error::Protocol { registry: registry.clone(), message: "token response has no token".into() })?;
                Ok(format!("Bearer {token}"))
            }
            _ => Err(unauthorized()),
        }
    }
}

fn new_agent() -> ureq::Agent {
    let timeout = std::time::Duration::from_secs(setting("BUILDSPEC_REGISTRY_TIMEOUT", DEFAULT_TIMEOUT_SECONDS).max(1));
    ureq::AgentBuilder::new()
        .timeout_connect(timeout.min(std::time::Duration::from_secs(15)))
        .timeout_read(timeout)
        .timeout_write(timeout)
        .user_agent(concat!("buildspec/", env!("CARGO_PKG_VERSION")))
        .build()
}

thread_local! {
    static CATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`; a panic in it is `None`, and is not reported by the panic
/// hook (the hook installed before stays in charge of every other panic).
fn catching_panics<T>(f: impl FnOnce() -> T) -> Option<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CATCHING.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    CATCHING.with(|c| c.set(true));
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(false));
    res.ok()
}

/// `key="value",key=value` pairs of a challenge.
fn challenge_params(s: &str) -> BTreeMap<String, String> {
    let mut res = BTreeMap::new();
    let mut rest = s.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        res.insert(key, value.to_owned());
        rest = tail.trim_start_matches(',').trim();
    }
    res
}

/// The `message` of a registry's JSON error body, if it has one.
fn registry_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let e = &v["errors"][0];
    Some(format!("{} {}", e["code"].as_str()?, e["message"].as_str().unwrap_or("")).trim().to_owned())
}

/// base64 `user:password` for a registry, from docker's config.json
/// (`$DOCKER_CONFIG`, else `~/.docker`) or the file `REGISTRY_AUTH_FILE`
/// names (the containers tools' auth.json has the same shape).
fn credentials(registry: &str) -> Option<String> {
    let mut files = Vec::new();
    if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(f));
    }
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => files.push(PathBuf::from(dir).join("config.json")),
        None => files.push(PathBuf::from(std::env::var_os("HOME")?).join(".docker/config.json")),
    }
    let keys: Vec<String> = if registry == "docker.io" {
        vec!["https://index.docker.io/v1/".into(), "docker.io".into(), "index.docker.io".into()]
    } else {
        vec![registry.to_owned(), format!("https://{registry}"), format!("http://{registry}")]
    };
    for file in files {
        let Ok(text) = fs::read(&file) else { continue };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) else { continue };
        for key in &keys {
            if let Some(auth) = v["auths"][key.as_str()]["auth"].as_str().filter(|a| !a.is_empty()) {
                return Some(auth.to_owned());
            }
        }
    }
    None
}

pub(super) fn read_document(response: ureq::Response, registry: &str, what: &str) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    let read = catching_panics(|| response.into_reader().take(MAX_DOCUMENT + 1).read_to_end(&mut body))
        .ok_or_else(|| Error::Protocol { registry: registry.to_owned(), message: format!("{what}: the registry's answer is not valid HTTP") })?;
    read.map_err(|e| Error::Transport { registry: registry.to_owned(), what: format!("reading {what}"), message: e.to_string(), retry: true })?;
    if body.len() as u64 > MAX_DOCUMENT {
        return Err(Error::Protocol { registry: registry.to_owned(), message: format!("{what} is larger than {MAX_DOCUMENT} bytes") });
    }
    Ok(body)
}

/// What a tag names now: the digest of the manifest or index the registry
/// serves for it (checked by hashing the bytes), and for an index the
/// digest of each platform's manifest, as `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub digest: Digest,
    pub platforms: Vec<(String, String)>,
}

/// Resolves `reference` to a digest without pulling the image.
pub fn resolve(reference: &Reference) -> Result<Resolved, Error> {
    let mut session = Session::new(reference, vec![format!("repository:{}:pull", reference.repository)]);
    let accept = [MEDIA_MANIFEST, MEDIA_INDEX, MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_LIST].join(", ");
    let what = format!("manifest {}", reference.repository);
    let url = session.url(&format!("manifests/{}", reference.reference));
    let body = retrying(|| read_document(session.send("GET", &url, &[("Accept", &accept)], &Body::Empty, &[200], &what)?, &reference.registry, &what))?;
    let digest = Digest::of(&body);
    let mut platforms = Vec::new();
    if let Ok(index) = serde_json::from_slice::<ImageIndex>(&body) {
        for m in index.manifests() {
            if let (Some(name), Some(digest)) = (image::platform_name(m), image::digest_of(m)) {
                platforms.push((name, digest.to_string()));
            }
        }
    }
    platforms.sort();
    Ok(Resolved { digest, platforms })
}

/// Pulls an image into the store for `arch` (GOARCH spelling).
pub fn pull(reference: &Reference, store: &Store, arch: &str) -> Result<Image, Error> {
    let registry = reference.registry.clone();
    let protocol = |message: String| Error::Protocol { registry: registry.clone(), message };
    let mut session = Session::new(reference, vec![format!("repository:{}:pull", reference.repository)]);
    let accept = [MEDIA_MANIFEST, MEDIA_INDEX, MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_LIST].join(", ");
    let fetch_manifest = |session: &mut Session, r: &str| -> Result<(Vec<u8>, String), Error> {
        let what = format!("manifest {}", reference.repository);
        let url = session.url(&format!("manifests/{r}"));
        let (body, media) = retrying(|| {
            let response = session.send("GET", &url, &[("Accept", &accept)], &Body::Empty, &[200], &what)?;
            let media = response.content_type().to_owned();
            Ok((read_document(response, &reference.registry, &what)?, media))
        })?;
        if let Some(expected) = parse_digest(r)
            && Digest::of(&body) != expected
        {
            return Err(Error::Protocol { registry: reference.registry.clone(), message: format!("manifest {r} does not match its digest") });
        }
        Ok((body, media))
    };
    let (mut body, media) = fetch_manifest(&mut session, &reference.reference)?;
    let declared = |body: &[u8]| serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| v["mediaType"].as_str().map(str::to_owned));
    let is_list = |media: &str, body: &[u8]| {
        let kind = declared(body).unwrap_or_else(|| media.to_owned());
        kind == MEDIA_INDEX || kind == MEDIA_DOCKER_LIST || (kind.is_empty() || kind == "application/json") && serde_json::from_slice::<ImageManifest>(body).is_err()
    };
    if is_list(&media, &body) {
        let list: ImageIndex = serde_json::from_slice(&body).map_err(|e| protocol(format!("manifest list: {e}")))?;
        let pick = image::linux_manifest(&list, arch).ok_or_else(|| protocol(format!("{reference} has no linux/{arch} image")))?;
        let digest = pick.digest().to_string();
        body = fetch_manifest(&mut session, &digest)?.0;
    }
    let manifest: ImageManifest = serde_json::from_slice(&body).map_err(|e| protocol(format!("manifest: {e}")))?;
    let config_digest = image::digest_of(manifest.config()).ok_or_else(|| protocol("manifest has a config digest that is not sha256".into()))?;
    fetch_blob(&mut session, store, &config_digest, Some(manifest.config().size()))?;
    let config: ImageConfig = serde_json::from_slice(&store.read(&config_digest).map_err(|error| Error::Io { what: "reading a pulled config".into(), error })?)
        .map_err(|e| protocol(format!("config: {e}")))?;
    if manifest.layers().len() != config.rootfs.diff_ids.len() {
        return Err(protocol(format!("{} layers but {} diff ids", manifest.layers().len(), config.rootfs.diff_ids.len())));
    }
    let mut layers = Vec::new();
    for (layer, diff_id) in manifest.layers().iter().zip(&config.rootfs.diff_ids) {
        let digest = image::digest_of(layer).ok_or_else(|| protocol(format!("layer digest {} is not sha256", layer.digest())))?;
        let diff_id = parse_digest(diff_id).ok_or_else(|| protocol(format!("bad diff id {diff_id}")))?;
        let size = fetch_blob(&mut session, store, &digest, Some(layer.size()))?;
        layers.push(LayerRef { digest, diff_id, size, media_type: layer.media_type().to_string() });
    }
    Ok(Image { config, layers })
}

/// Fetches a blob into the store unless it is there; returns its size.
/// `size` is the descriptor's: fewer bytes than that is a body cut short
/// (transient); the right number of other bytes is the wrong blob.
pub(super) fn fetch_blob(session: &mut Session, store: &Store, digest: &Digest, size: Option<u64>) -> Result<u64, Error> {
    let registry = session.reference.registry.clone();
    let io = |error| Error::Io { what: format!("storing blob {digest}"), error };
    if !store.has(digest) {
        let what = format!("blob {digest}");
        let url = session.url(&format!("blobs/{digest}"));
        retrying(|| {
            let response = session.send("GET", &url, &[], &Body::Empty, &[200], &what)?;
            let mut body = NetworkRead { inner: response.into_reader(), failed: None };
            match store.put_expected(&mut body, digest) {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((_, got_size))) if size.is_some_and(|expected| got_size < expected) => Err(Error::Transport {
                    registry: registry.clone(),
                    what: format!("reading {what}"),
                    message: format!("the body ended after {got_size} of {} bytes", size.unwrap_or_default()),
                    retry: true,
                }),
                Ok(Err((got, _))) => Err(Error::Protocol { registry: registry.clone(), message: format!("blob {digest} arrived as {got}: the registry serves other bytes under that digest") }),
                Err(error) => Err(match body.failed.take() {
                    Some(message) => Error::Transport { registry: registry.clone(), what: format!("reading {what}"), message, retry: true },
                    None => io(error),
                }),
            }
        })?;
    }
    store.note_origin(digest, &registry, &session.reference.repository).map_err(io)?;
    Ok(fs::metadata(store.path(digest)).map_err(io)?.len())
}

/// A response body that remembers its read error, so a body cut short is
/// told apart from a store that cannot be written.
struct NetworkRead<R> {
    inner: R,
    failed: Option<String>,
}

impl<R: Read> Read for NetworkRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // `Interrupted` is asked again by the copy itself: not a failure.
        let read = catching_panics(|| self.inner.read(buf)).unwrap_or_else(|| Err(io::Error::other("the registry's answer is not valid HTTP")));
        read.inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed = Some(e.to_string());
            }
        })
    }
}

/// Pushes a built image: blobs (checked, mounted or uploaded), then the
/// manifest under the reference's tag.
pub fn push(reference: &Reference, store: &Store, built: &Built) -> Result<PushStats, Error> {
    let mut blobs: Vec<Digest> = built.layers.iter().map(|l| l.digest.clone()).collect();
    blobs.push(built.config_digest.clone());
    let mut session = Session::new(reference, push_scopes(reference, store, &blobs));
    let stats = push_blobs(&mut session, store, &blobs)?;
    let manifest = store.read(&built.manifest_digest).map_err(|error| Error::Io { what: "reading the manifest".into(), error })?;
    put_manifest(&mut session, &reference.reference, &manifest)?;
    Ok(stats)
}

/// The scopes a push of `blobs` asks a token for: push to the reference's
/// repository, and pull from the ones of the same registry they can be
/// mounted from.
fn push_scopes(reference: &Reference, store: &Store, blobs: &[Digest]) -> Vec<String> {
    let mut scopes = vec![format!("repository:{}:pull,push", reference.repository)];
    for digest in blobs {
        if let Some(repo) = mount_source(reference, store, digest) {
            let scope = format!("repository:{repo}:pull");
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
    }
    scopes
}

/// Another repository of the reference's registry that holds `digest`.
fn mount_source(reference: &Reference, store: &Store, digest: &Digest) -> Option<String> {
    store.origins(digest).into_iter().find_map(|(reg, repo)| (reg == reference.registry && repo != reference.repository).then_some(repo))
}

/// Puts blobs in the session's repository unless they are there: each
/// asked for with `HEAD`, then mounted from another repository when one
/// is known to hold it, uploaded in one `PUT` otherwise.
pub(super) fn push_blobs(session: &mut Session, store: &Store, blobs: &[Digest]) -> Result<PushStats, Error> {
    let reference = session.reference.clone();
    let mut stats = PushStats::default();
    let note = |digest: &Digest| {
        // Pushed here: a later push to another repository can mount it.
        store.note_origin(digest, &reference.registry, &reference.repository).map_err(|error| Error::Io { what: format!("noting where {digest} is"), error })
    };
    for digest in blobs {
        match retrying(|| push_blob(session, store, digest))? {
            Pushed::Existing => stats.existing += 1,
            Pushed::Mounted => stats.mounted += 1,
            Pushed::Uploaded => stats.uploaded += 1,
        }
        note(digest)?;
    }
    Ok(stats)
}

enum Pushed {
    Existing,
    Mounted,
    Uploaded,
}

/// One blob's push, from its `HEAD` to its upload (tried again as a whole:
/// an upload cut short cannot be resumed where it was).
fn push_blob(session: &mut Session, store: &Store, digest: &Digest) -> Result<Pushed, Error> {
    let reference = session.reference.clone();
    let what = format!("blob {digest}");
    let head = session.send("HEAD", &session.url(&format!("blobs/{digest}")), &[], &Body::Empty, &[200, 404], &what)?;
    if head.status() == 200 {
        return Ok(Pushed::Existing);
    }
    let start = match mount_source(&reference, store, digest) {
        Some(from) => format!("blobs/uploads/?mount={digest}&from={from}"),
        None => "blobs/uploads/".to_owned(),
    };
    let started = session.send("POST", &session.url(&start), &[("Content-Length", "0")], &Body::Empty, &[201, 202], &what)?;
    if started.status() == 201 {
        return Ok(Pushed::Mounted);
    }
    let location = started.header("Location").ok_or_else(|| Error::Protocol { registry: reference.registry.clone(), message: "an upload without a Location".into() })?;
    let mut url = if location.starts_with("http://") || location.starts_with("https://") { location.to_owned() } else { format!("{}{location}", session.base) };
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!("digest={digest}"));
    session.send("PUT", &url, &[("Content-Type", "application/octet-stream")], &Body::File(store.path(digest)), &[201, 204], &what)?;
    Ok(Pushed::Uploaded)
}

/// Puts an OCI manifest under `tag` (its blobs must be there already).
pub(super) fn put_manifest(session: &mut Session, tag: &str, manifest: &[u8]) -> Result<(), Error> {
    let what = format!("manifest {}/{}:{tag}", session.reference.registry, session.reference.repository);
    let url = session.url(&format!("manifests/{tag}"));
    retrying(|| session.send("PUT", &url, &[("Content-Type", MEDIA_MANIFEST)], &Body::Bytes(manifest), &[201, 204], &what).map(drop))
}

/// base64 of `user:password`, for tests and callers building auth files.
pub fn basic_auth(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalize_as_docker_does() {
        let r = Reference::parse("debian:bookworm-slim").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.reference.as_str()), ("docker.io", "library/debian", "bookworm-slim"));
        let r = Reference::parse("127.0.0.1:5000/team/app").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.reference.as_str()), ("127.0.0.1:5000", "team/app", "latest"));
        assert_eq!(r.base_url(), "http://127.0.0.1:5000");
        let r = Reference::parse("gcr.io/distroless/cc-debian12").unwrap();
        assert_eq!(r.base_url(), "https://gcr.io");
        let d = format!("busybox@sha256:{}", "a".repeat(64));
        assert_eq!(Reference::parse(&d).unwrap().reference, format!("sha256:{}", "a".repeat(64)));
        for bad in ["", "UPPER/case", "a b", "x@sha256:12", "repo:", "host:5000/"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    /// A registry answering with a header line without a colon: ureq 2.12
    /// panics on it (found by fuzzing registry_pull); the pull gets an
    /// error, and no panic reaches the hook.
    #[test]
    fn an_answer_ureq_panics_on_is_an_error() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for _ in 0..1 {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                    line.clear();
                }
                let mut stream = stream;
                stream.write_all(b"HTTP/0.1 200 OK\r\nContent-Type: application/json\r\nContent-Length\n\n :M2\r{}").unwrap();
            }
        });
        let reference = Reference::parse(&format!("127.0.0.1:{port}/fuzz/app:1")).unwrap();
        let err = resolve(&reference).unwrap_err();
        assert!(err.to_string().contains("not valid HTTP"), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn challenges_parse() {
        let p = challenge_params(r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#);
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "registry.example");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        assert_eq!(challenge_params("realm=x, service=y")["service"], "y");
    }

    /// A registry in a thread that demands a bearer token, issued by its
    /// own realm for the right basic credentials: the whole auth dance.
    #[test]
    fn bearer_challenge_is_answered_with_a_token() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let creds = basic_auth("ann", "s3cret");
        let expected_creds = creds.clone();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..3 {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut auth = String::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Authorization: ").or(line.strip_prefix("authorization: ")) {
                        auth = v.trim().to_owned();
                    }
                }
                let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                let (status, headers, body) = if path.starts_with("/token") {
                    if auth == format!("Basic {expected_creds}") && path.contains("scope=repository%3Ateam%2Fapp%3Apull") {
                        ("200 OK", String::new(), r#"{"token":"T0K3N"}"#.to_owned())
                    } else {
                        ("401 Unauthorized", String::new(), String::new())
                    }
                } else if auth == "Bearer T0K3N" {
                    ("200 OK", "Docker-Content-Digest: x\r\n".to_owned(), String::new())
                } else {
                    let challenge = format!("WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test\"\r\n");
                    ("401 Unauthorized", challenge, String::new())
                };
                let mut stream = stream;
                write!(stream, "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
                seen.push(format!("{} {}", path, status));
            }
            seen
        });
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        fs::write(&config, format!(r#"{{"auths":{{"127.0.0.1:{port}":{{"auth":"{creds}"}}}}}}"#)).unwrap();
        // SAFETY: this test is the only one reading REGISTRY_AUTH_FILE.
        unsafe { std::env::set_var("REGISTRY_AUTH_FILE", &config) };
        let reference = Reference::parse(&format!("127.0.0.1:{port}/team/app:1")).unwrap();
        let mut session = Session::new(&reference, vec!["repository:team/app:pull".into()]);
        let url = session.url("blobs/sha256:00");
        let response = session.send("HEAD", &url, &[], &Body::Empty, &[200], "a blob").unwrap();
        assert_eq!(response.status(), 200);
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen[0].ends_with("401 Unauthorized") && seen[1].starts_with("/token") && seen[2].ends_with("200 OK"), "{seen:?}");
    }
}
