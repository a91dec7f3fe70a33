//! The daemonless backend: builds the optimized stage graph straight into
//! an OCI image, without a docker engine. Each filesystem step becomes one
//! layer: COPY layers are written from the context (or another stage)
//! without a container; RUN steps execute in runc over an overlay of the
//! stage's layers, and the overlay's upper directory becomes the layer.
//! RUN results are cached by a key of the parent state, the step and its
//! environment, so a no-change rebuild executes nothing. Layers are
//! deterministic (sorted, times clamped to SOURCE_DATE_EPOCH), so the same
//! inputs give the same digests.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::build::schedule;
use crate::graph::{Base, Graph, StageId};
use crate::oci::digest::Digest;
use crate::oci::image::ImageConfig;
use crate::oci::layer::{write_layer, Compression, Content, Entry, EntryKind};
use crate::oci::layout::{self, Built};
use crate::oci::source::{self, Image, LayerRef};
use crate::oci::store::Store;
use crate::spec::{AddSource, Copy, Run, Step, StepKind, User};

/// Where the built image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An OCI image layout; the tag from `oci:DIR:TAG`, as skopeo and
    /// buildah write it.
    OciDir { dir: PathBuf, tag: Option<String> },
    /// An OCI layout in a tar file: `oci-archive:FILE[:TAG]`.
    OciArchive { file: PathBuf, tag: Option<String> },
    DockerArchive(PathBuf),
    /// Pushed to a registry: `HOST/REPO:TAG`.
    Registry(String),
}

impl Output {
    pub fn parse(s: &str) -> Result<Output, String> {
        let split = |rest: &str| {
            let (path, tag) = crate::oci::source::split_tag(rest);
            (PathBuf::from(path), tag.map(str::to_owned))
        };
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = split(rest);
            Ok(Output::OciDir { dir, tag })
        } else if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (file, tag) = split(rest);
            Ok(Output::OciArchive { file, tag })
        } else if let Some(p) = s.strip_prefix("docker-archive:") {
            Ok(Output::DockerArchive(p.into()))
        } else if let Some(r) = s.strip_prefix("registry:") {
            crate::oci::registry::Reference::parse(r).map_err(|e| e.to_string())?;
            Ok(Output::Registry(r.to_owned()))
        } else {
            Err(format!("`{s}` is not an output: use oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE or registry:HOST/REPO:TAG"))
        }
    }

    /// The tag the output names itself (`oci:DIR:TAG`), if any.
    pub fn tag(&self) -> Option<&str> {
        match self {
            Output::OciDir { tag, .. } | Output::OciArchive { tag, .. } => tag.as_deref(),
            Output::DockerArchive(_) | Output::Registry(_) => None,
        }
    }
}

/// Everything the oci backend needs.
#[derive(Debug, Clone)]
pub struct OciRequest<'a> {
    pub graph: &'a Graph,
    /// The spec's files, to turn spans into `file:line`.
    pub sources: &'a crate::source::Sources,
    pub context_dir: PathBuf,
    /// Image reference (as written in the spec, args expanded) → source.
    pub bases: HashMap<String, String>,
    pub build_args: BTreeMap<String, String>,
    /// Secret id → file.
    pub secrets: HashMap<String, PathBuf>,
    /// SSH mount id → agent socket.
    pub ssh: HashMap<String, PathBuf>,
    pub host_network: bool,
    pub cache_dir: PathBuf,
    pub epoch: u64,
    pub output: Output,
    pub tag: String,
    /// No step list on stderr.
    pub quiet: bool,
    pub compression: Compression,
    /// Registry caches consulted, in order, for a step the local cache
    /// lacks (`--cache-from registry:HOST/REPO`).
    pub cache_from: Vec<crate::oci::registry::Reference>,
    /// Registry caches every step the build used is written to.
    pub cache_to: Vec<crate::oci::registry::Reference>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("base image `{image}` (stage `{stage}`): {error}\n  pass --base {image}=SOURCE to take it from docker-archive:FILE, oci:DIR, oci-archive:FILE or registry:HOST/REPO:TAG")]
    NoBase { image: String, stage: String, error: source::Error },
    #[error("stage `{stage}` failed at {at}{also}: {message}")]
    StepFailed { stage: String, at: crate::source::Location, also: String, message: String },
    #[error("stage `{stage}` at {at}: {what} is not supported by the oci backend yet; use --backend docker")]
    Unsupported { stage: String, at: crate::source::Location, what: String },
    #[error(transparent)]
    Source(#[from] source::Error),
    #[error("pushing {reference}: {error}")]
    Push { reference: String, error: crate::oci::registry::Error },
    #[error("the image is written, but exporting the cache to {cache} failed: {error}")]
    CacheExport { cache: String, error: crate::oci::registry::Error },
    #[error("{doing}: {error}")]
    Io { doing: String, error: io::Error },
}

fn io_ctx(doing: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let doing = doing.into();
    move |error| Error::Io { doing, error }
}

/// A stage being built: its config, layers and their directories.
#[derive(Debug, Clone)]
struct State {
    config: ImageConfig,
    layers: Vec<LayerRef>,
    /// Layer directories, bottom first.
    dirs: Vec<PathBuf>,
    /// Layers whose directory in `dirs` is not unpacked yet: a layer is
    /// unpacked only when a later step runs on it or reads from it (a
    /// runtime stage's copies never are).
    pending: Vec<LayerRef>,
    key: Digest,
    args: BTreeMap<String, String>,
    posix_shell: bool,
    /// The steps this stage (and the stages it is built on) took from
    /// the cache or recorded in it, by key, in order.
    used: Vec<(Digest, LayerRef)>,
}

impl State {
    fn lowers(&self, empty: &Path) -> Vec<PathBuf> {
        let mut res: Vec<PathBuf> = self.dirs.iter().rev().cloned().collect();
        if res.is_empty() {
            res.push(empty.to_path_buf());
        }
        res
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name: &str| self.config.config.env_var(name).map(str::to_owned).or_else(|| self.args.get(name).cloned())
    }
}

struct Builder<'a> {
    req: &'a OciRequest<'a>,
    store: Store,
    empty: PathBuf,
    scratch: crate::build::scratch::Scratch,
    stat: Mutex<crate::oci::stat_cache::StatCache>,
    /// The rules the emitted .dockerignore gives BuildKit, applied to
    /// every copy from the context.
    ignore: crate::passes::facts::ContextIgnore,
    /// The `--cache-from` caches still answering (one that fails to
    /// answer is warned about once and asked no more).
    remotes: Mutex<Vec<crate::oci::registry_cache::RegistryCache>>,
    /// Steps answered by a `--cache-from` cache.
    remote_hits: AtomicUsize,
    /// RUN steps executed.
    executed: AtomicUsize,
    timings: crate::build::timings::Timings,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct OciOutput {
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub layers: usize,
    pub executed_runs: usize,
    /// Context files read and hashed (not answered by the stat cache).
    pub hashed_files: usize,
    /// What a registry output did with the blobs.
    pub pushed: Option<crate::oci::registry::PushStats>,
    /// Steps taken from a `--cache-from` registry cache.
    pub cache_hits_remote: usize,
    /// Cache entries written to the `--cache-to` caches (those they had
    /// already are not written again).
    pub cache_exported: usize,
    /// Milliseconds per phase (`build::timings::PHASES`) and `total`.
    pub timings_ms: BTreeMap<String, u64>,
}

pub fn build(req: &OciRequest<'_>) -> Result<OciOutput, Error> {
    let started = std::time::Instant::now();
    let store = Store::open(&req.cache_dir.join("store")).map_err(io_ctx("opening the cache"))?;
    for dir in ["rootfs", "diffs", "steps", "mounts", "scratch"] {
        fs::create_dir_all(req.cache_dir.join(dir)).map_err(io_ctx("making the cache directories"))?;
    }
    let empty = req.cache_dir.join("empty");
    fs::create_dir_all(&empty).map_err(io_ctx("making the cache directories"))?;
    let scratch = crate::build::scratch::Scratch::create(&req.cache_dir.join("scratch")).map_err(io_ctx("making a scratch directory"))?;
    let stat = Mutex::new(crate::oci::stat_cache::StatCache::load(&req.cache_dir.join("stat"), &req.context_dir));
    let ignore = crate::passes::facts::ContextIgnore::new(req.graph);
    let remotes = Mutex::new(req.cache_from.iter().map(|r| crate::oci::registry_cache::RegistryCache::open(r, false)).collect());
    let b = Builder { req, store, empty, scratch, stat, ignore, remotes, remote_hits: AtomicUsize::new(0), executed: AtomicUsize::new(0), timings: Default::default() };
    let mut states: HashMap<StageId, State> = HashMap::new();
    let cold: std::collections::BTreeSet<&str> = req.graph.order.iter().flat_map(|id| schedule::cache_ids(req.graph, *id)).filter(|id| schedule::is_unused(&req.cache_dir, id)).collect();
    for wave in req.graph.waves() {
        // As BuildKit does, stages that need nothing from each other are
        // built at once, but those sharing a cache no build had used one
        // after another (build::schedule); a group stops at its first failure,
        // and the first failure in build order is the one told.
        let groups = schedule::groups(req.graph, &wave, |id| cold.contains(id));
        let build_group = |group: &[StageId]| -> Vec<(StageId, Result<State, Error>)> {
            let mut built = Vec::new();
            for id in group {
                let state = b.stage(*id, &states);
                let failed = state.is_err();
                built.push((*id, state));
                if failed {
                    break;
                }
            }
            built
        };
        let mut built: Vec<(StageId, Result<State, Error>)> = match groups.as_slice() {
            [group] => build_group(group),
            _ => std::thread::scope(|scope| {
                let running: Vec<_> = groups.iter().map(|group| scope.spawn(|| build_group(group))).collect();
                running.into_iter().flat_map(|r| r.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
            }),
        };
        built.sort_by_key(|(id, _)| wave.iter().position(|w| w == id));
        for (id, state) in built {
            states.insert(id, state?);
        }
    }
    let stat = b.stat.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Losing the stat cache only costs re-hashing next time.
    let _ = stat.save();
    let target = &states[&req.graph.target];
    let mut config = target.config.clone();
    config.created = Some(epoch_time(req.epoch));
    config.history.clear();
    let (built, pushed) = b.timings.time("output", || -> Result<_, Error> {
        let built = layout::finish(&b.store, config, target.layers.clone()).map_err(io_ctx("writing the image config"))?;
        let pushed = write_output(&b.store, &built, &req.output, &req.tag)?;
        Ok((built, pushed))
    })?;
    // Every step the build used, by key, in build order: what
    // `--cache-to` exports.
    let mut used: indexmap::IndexMap<Digest, LayerRef> = indexmap::IndexMap::new();
    for id in &req.graph.order {
        for (key, layer) in &states[id].used {
            used.entry(key.clone()).or_insert_with(|| layer.clone());
        }
    }
    let entries: Vec<(Digest, LayerRef)> = used.into_iter().collect();
    let mut cache_exported = 0;
    for reference in &req.cache_to {
        let mut cache = crate::oci::registry_cache::RegistryCache::open(reference, true);
        let (written, _) = b.timings.time("cache_export", || cache.publish(&b.store, &entries)).map_err(|error| Error::CacheExport { cache: cache.name.clone(), error })?;
        cache_exported += written;
    }
    Ok(OciOutput {
        manifest_digest: built.manifest_digest.clone(),
        config_digest: built.config_digest.clone(),
        layers: built.layers.len(),
        executed_runs: b.executed.into_inner(),
        hashed_files: stat.hashed,
        pushed,
        cache_hits_remote: b.remote_hits.into_inner(),
        cache_exported,
        timings_ms: b.timings.millis(started.elapsed()),
    })
}

fn write_output(store: &Store, built: &Built, output: &Output, tag: &str) -> Result<Option<crate::oci::registry::PushStats>, Error> {
    let res = match output {
        Output::OciDir { dir, .. } => layout::write_oci_dir(store, built, dir, tag),
        Output::OciArchive { file, .. } => layout::write_archive(store, built, file, tag, false),
        Output::DockerArchive(file) => layout::write_archive(store, built, file, tag, true),
        Output::Registry(name) => {
            let push_err = |error| Error::Push { reference: name.clone(), error };
            let reference = crate::oci::registry::Reference::parse(name).map_err(push_err)?;
            return crate::oci::registry::push(&reference, store, built).map(Some).map_err(push_err);
        }
    };
    res.map_err(io_ctx("writing the output")).map(|()| None)
}

/// `1970-01-01T00:00:00Z` plus `epoch` seconds, in RFC 3339.
fn epoch_time(epoch: u64) -> String {
    let days = epoch / 86_400;
    let secs = epoch % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn key_of(parts: &[&str]) -> Digest {
    Digest::of(parts.join("\u{0}").as_bytes())
}

impl Builder<'_> {
    fn locate(&self, span: crate::source::Span) -> crate::source::Location {
        self.req.sources.locate(span.offset)
    }

    fn fail(&self, stage: &str, span: crate::source::Span, message: impl Into<String>) -> Error {
        Error::StepFailed { stage: stage.to_owned(), at: self.locate(span), also: String::new(), message: message.into() }
    }

    fn base_image(&self, stage: &str, image: &str) -> Result<State, Error> {
        // Without a --base, the image comes from its registry.
        // A `--locked` reference (`NAME@DIGEST`) still takes NAME's --base.
        let given = self.req.bases.get(image).or_else(|| image.split_once('@').and_then(|(name, _)| self.req.bases.get(name)));
        let img = match given {
            Some(source) => self.timings.time("base_fetch", || source::load(source, &self.store))?,
            None => self
                .timings
                .time("base_fetch", || source::load(&format!("registry:{image}"), &self.store))
                .map_err(|error| Error::NoBase { image: image.to_owned(), stage: stage.to_owned(), error })?,
        };
        let rootfs = self.timings.time("base_extract", || self.rootfs(&img))?;
        let chain: Vec<&str> = img.layers.iter().map(|l| l.diff_id.as_str()).collect();
        Ok(State {
            // Compression is part of every key: it changes every digest.
            key: key_of(&[&["image", self.req.compression.name()], chain.as_slice()].concat()),
            config: img.config.clone(),
            layers: img.layers.clone(),
            dirs: vec![rootfs],
            pending: Vec::new(),
            args: BTreeMap::new(),
            posix_shell: true,
            used: Vec::new(),
        })
    }

    /// The base image's layers extracted once into one directory.
    fn rootfs(&self, img: &Image) -> Result<PathBuf, Error> {
        let chain: Vec<&str> = img.layers.iter().map(|l| l.diff_id.as_str()).collect();
        let key = key_of(&chain);
        let dir = self.req.cache_dir.join("rootfs").join(&key.hex()[..32]);
        if dir.exists() {
            return Ok(dir);
        }
        let tmp = tempfile::Builder::new().prefix("x").tempdir_in(self.scratch.path()).map_err(io_ctx("extracting a base image"))?;
        for layer in &img.layers {
            let file = fs::File::open(self.store.path(&layer.digest)).map_err(io_ctx("reading a base layer"))?;
            let tar = crate::oci::layer::decompress(&layer.media_type, file).map_err(io_ctx("reading a base layer"))?;
            crate::oci::extract::extract(tar, tmp.path()).map_err(|e| Error::Io { doing: format!("extracting base layer {}", layer.digest), error: io::Error::other(e.to_string()) })?;
        }
        let staged = tmp.keep();
        if fs::rename(&staged, &dir).is_err() {
            // Another build extracted it meanwhile.
            let _ = fs::remove_dir_all(&staged);
        }
        Ok(dir)
    }

    fn stage(&self, id: StageId, states: &HashMap<StageId, State>) -> Result<State, Error> {
        let graph = self.req.graph;
        let stage = graph.stage(id);
        let name = stage.name.value.clone();
        let global = |n: &str| self.req.build_args.get(n).cloned().or_else(|| graph.args.iter().find(|a| a.name.value == n).and_then(|a| a.default.as_ref().map(|d| d.value.clone())));
        let mut state = match &stage.base {
            Base::Scratch => State {
                config: ImageConfig::scratch(),
                layers: Vec::new(),
                dirs: Vec::new(),
                pending: Vec::new(),
                key: key_of(&["scratch", self.req.compression.name()]),
                args: BTreeMap::new(),
                posix_shell: true,
                used: Vec::new(),
            },
            Base::Stage(on) => states[on].clone(),
            Base::Image(image) => {
                let expanded = crate::emit::quote::expand(image, &global);
                self.base_image(&name, &expanded)?
            }
            Base::Dynamic { pattern, .. } => {
                let expanded = crate::emit::quote::expand(pattern, &global);
                match graph.find(&expanded) {
                    Some(on) => states.get(&on).cloned().ok_or_else(|| self.fail(&name, stage.from.span, format!("stage `{expanded}` is not built")))?,
                    None => self.base_image(&name, &expanded)?,
                }
            }
        };
        state.args.clear();
        // As BuildKit does: a stage whose base sets no PATH gets the default.
        if state.config.config.env_var("PATH").is_none() {
            state.config.config.set_env("PATH", DEFAULT_PATH);
        }
        // …and BuildKit's empty image works in `/`.
        if matches!(stage.base, Base::Scratch) {
            state.config.config.working_dir = "/".to_owned();
        }
        let mut steps: Vec<&Step> = Vec::new();
        crate::graph::build::for_each_step(&stage.steps, &mut |s| {
            if !matches!(s.kind, StepKind::Deps(_)) {
                steps.push(s);
            }
        });
        for step in steps {
            self.step(&name, id, step, &mut state, states)?;
        }
        Ok(state)
    }

    fn workdir(&self, state: &State) -> String {
        match state.config.config.working_dir.as_str() {
            "" => "/".to_owned(),
            wd => wd.to_owned(),
        }
    }

    fn resolve(&self, state: &State, path: &str) -> String {
        let path = crate::emit::quote::expand(path, &state.lookup());
        if path.starts_with('/') {
            crate::passes::facts::normalize(&path)
        } else {
            crate::passes::facts::normalize(&format!("{}/{path}", self.workdir(state)))
        }
    }

    fn step(&self, stage: &str, id: StageId, step: &Step, state: &mut State, states: &HashMap<StageId, State>) -> Result<(), Error> {
        let cfg = &mut state.config.config;
        let lookup_owned = |state: &State, v: &str| crate::emit::quote::expand(v, &state.lookup());
        match &step.kind {
            StepKind::Workdir(path) => {
                let dir = self.resolve(state, path);
                state.config.config.working_dir = dir.clone();
                if !exists_in(&self.lowers(state)?, &dir) {
                    let entries = vec![Entry { path: dir.trim_start_matches('/').to_owned(), kind: EntryKind::Dir, mode: 0o755, uid: 0, gid: 0, mtime: 0 }];
                    self.add_layer(state, entries, &format!("WORKDIR {dir}"))?;
                }
            }
            StepKind::User(user) => {
                let value = match &user.value {
                    User::Name(n) => crate::emit::quote::expand(n, &state.lookup()),
                    User::Id(n) => n.to_string(),
                };
                state.config.config.user = value;
            }
            StepKind::Env(pairs) => {
                for (k, v) in pairs {
                    let value = lookup_owned(state, v);
                    state.config.config.set_env(k, &value);
                }
            }
            StepKind::Arg(arg) => {
                let value = self.req.build_args.get(&arg.name.value).cloned().or_else(|| arg.default.as_ref().map(|d| lookup_owned(state, d)));
                if let Some(value) = value {
                    state.args.insert(arg.name.value.clone(), value);
                }
            }
            StepKind::Shell(items) => {
                state.posix_shell = items.first().is_some_and(|s| matches!(s.rsplit('/').next(), Some("sh" | "bash" | "ash" | "dash" | "zsh" | "ksh")));
                cfg.shell = Some(items.iter().map(|s| s.value.clone()).collect());
            }
            StepKind::Expose(ports) => {
                for p in ports {
                    let proto = match p.protocol {
                        crate::spec::Protocol::Tcp => "tcp",
                        crate::spec::Protocol::Udp => "udp",
                        crate::spec::Protocol::Sctp => "sctp",
                    };
                    for port in p.first..=p.last.unwrap_or(p.first) {
                        cfg.exposed_ports.insert(format!("{port}/{proto}"), serde_json::json!({}));
                    }
                }
            }
            StepKind::Volume(paths) => {
                for p in paths {
                    let v = lookup_owned(state, p);
                    state.config.config.volumes.insert(v, serde_json::json!({}));
                }
            }
            StepKind::Label(pairs) => {
                for (k, v) in pairs {
                    let (k, v) = (lookup_owned(state, k), lookup_owned(state, v));
                    state.config.config.labels.insert(k, v);
                }
            }
            StepKind::StopSignal(sig) => cfg.stop_signal = sig.value.clone(),
            StepKind::Entrypoint(args) => {
                cfg.entrypoint = Some(args.iter().map(|a| a.value.clone()).collect());
                // Docker resets CMD when ENTRYPOINT is set in the same image.
                cfg.cmd = None;
            }
            StepKind::Cmd(args) => cfg.cmd = Some(args.iter().map(|a| a.value.clone()).collect()),
            StepKind::Healthcheck(hc) => {
                cfg.healthcheck = Some(if hc.none {
                    serde_json::json!({"Test": ["NONE"]})
                } else {
                    let nanos = |d: &Option<crate::source::Spanned<String>>| d.as_ref().map(|d| go_duration_nanos(d));
                    let mut v = serde_json::json!({"Test": std::iter::once("CMD".to_owned()).chain(hc.command.iter().map(|c| c.value.clone())).collect::<Vec<_>>()});
                    for (key, value) in [("Interval", nanos(&hc.interval)), ("Timeout", nanos(&hc.timeout)), ("StartPeriod", nanos(&hc.start_period))] {
                        if let Some(n) = value {
                            v[key] = serde_json::json!(n);
                        }
                    }
                    if let Some(r) = &hc.retries {
                        v["Retries"] = serde_json::json!(r.value);
                    }
                    v
                });
            }
            StepKind::Copy(copy) => {
                self.copy_step(stage, step, copy, &crate::emit::step_text(step), state, states)?;
            }
            StepKind::Add(add) => match &add.source {
                AddSource::Paths(paths) if paths.iter().all(|p| !p.contains("://")) => {
                    let copy = Copy { sources: paths.clone(), to: add.to.clone(), chown: add.chown.clone(), chmod: add.chmod.clone(), ..Copy::default() };
                    self.copy_step(stage, step, &copy, &crate::emit::step_text(step), state, states)?;
                }
                _ => {
                    return Err(Error::Unsupported { stage: stage.to_owned(), at: self.locate(step.span), what: "`add` of a URL or git repository".to_owned() });
                }
            },
            StepKind::Run(run) => self.run(stage, step, run, &run.script.value, state, states)?,
            StepKind::Packages(pkgs) => {
                let script = crate::emit::packages_script(pkgs, self.req.graph.package_manager(id));
                self.run(stage, step, &Run::default(), &script, state, states)?
            }
            StepKind::Deps(_) => {}
        }
        Ok(())
    }

    /// A COPY (or local ADD), answered from the step cache when its key —
    /// the parent state, the instruction, and the source stage's state or
    /// every context file's content digest (from the stat cache) — is known.
    fn copy_step(&self, stage: &str, step: &Step, copy: &Copy, what: &str, state: &mut State, states: &HashMap<StageId, State>) -> Result<(), Error> {
        // The stage or image copied from, loaded once.
        let source = match &copy.from {
            Some(from) => Some(match self.req.graph.find(from) {
                Some(on) => states[&on].clone(),
                None => self.base_image(stage, from)?,
            }),
            None => None,
        };
        // From the context the key needs the files' digests, so they are
        // listed first; from a stage, its state is the key.
        let (key, listed) = match &source {
            Some(source) => (key_of(&[state.key.as_str(), what, "from", source.key.as_str()]), None),
            None => {
                let started = std::time::Instant::now();
                let listed = self.copy_entries(stage, step, copy, state, None)?;
                let content = self.entries_digest(&listed.0)?;
                // Timed by hand: the listing and the hashing are one phase.
                self.timings.add("context_hash", started.elapsed());
                (key_of(&[state.key.as_str(), what, content.as_str()]), Some(listed))
            }
        };
        if self.reuse(&key, state, what) {
            self.progress(stage, what, true);
            return Ok(());
        }
        let (entries, _view) = match listed {
            Some(listed) => listed,
            None => self.copy_entries(stage, step, copy, state, source.as_ref())?,
        };
        self.progress(stage, what, false);
        let layer = self.add_layer(state, entries, what)?;
        self.record_step(&key, &layer, state)
    }

    /// A digest of what a list of entries would write, file contents by
    /// their stat-cached digests.
    fn entries_digest(&self, entries: &[Entry]) -> Result<Digest, Error> {
        let mut stat = self.stat.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut text = String::new();
        for e in entries {
            let kind = match &e.kind {
                EntryKind::File(Content::Disk { path, .. }) => format!("f{}", stat.digest(path).map_err(io_ctx(format!("reading {}", path.display())))?),
                EntryKind::File(Content::Bytes(b)) => format!("f{}", Digest::of(b)),
                EntryKind::Dir => "d".to_owned(),
                EntryKind::Symlink(t) => format!("l{t}"),
                EntryKind::Hardlink(t) => format!("h{t}"),
                EntryKind::Whiteout => "w".to_owned(),
                EntryKind::Opaque => "o".to_owned(),
            };
            text.push_str(&format!("{}\0{kind}\0{:o}\0{}\0{}\0{}\n", e.path, e.mode, e.uid, e.gid, e.mtime.min(self.req.epoch)));
        }
        Ok(Digest::of(text.as_bytes()))
    }

    /// Takes a step's layer from the cache when its record and layer are
    /// there, else from the first `--cache-from` cache that has it.
    fn reuse(&self, key: &Digest, state: &mut State, what: &str) -> bool {
        let record = self.req.cache_dir.join("steps").join(key.hex());
        let local = fs::read(&record).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).and_then(|v| LayerRef::from_json(&v));
        if let Some(layer) = local {
            // The directory is made from the blob when a step needs it.
            let dir = self.layer_dir(&layer.diff_id);
            if self.store.has(&layer.digest) {
                state.used.push((key.clone(), layer.clone()));
                self.push_layer(state, what, layer, dir);
                return true;
            }
        }
        if self.remotes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_empty() {
            return false;
        }
        let started = std::time::Instant::now();
        let remote = self.reuse_remote(key, what);
        self.timings.add("remote_cache", started.elapsed());
        let Some((layer, dir)) = remote else {
            return false;
        };
        self.remote_hits.fetch_add(1, Ordering::Relaxed);
        // Recorded locally too, so the next build here needs no registry
        // (if the record cannot be written, it fetches again).
        let _ = self.record_step(key, &layer, state);
        self.push_layer(state, what, layer, dir);
        true
    }

    /// A step's layer from the `--cache-from` caches, fetched, checked
    /// (blob digest and size by the fetch, the uncompressed digest here)
    /// and unpacked. A cache that cannot be reached is warned about and
    /// dropped; an entry that does not check out is warned about and the
    /// step runs.
    fn reuse_remote(&self, key: &Digest, what: &str) -> Option<(LayerRef, PathBuf)> {
        use crate::oci::registry::Error as RegistryError;
        // Held throughout: stages built at once ask the caches in turn.
        let mut remotes = self.remotes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut i = 0;
        while i < remotes.len() {
            let step = what.lines().next().unwrap_or("");
            let problem = match remotes[i].fetch(key, &self.store) {
                Ok(None) => None,
                Ok(Some(layer)) => match self.unpack_checked(&layer) {
                    Ok(dir) => return Some((layer, dir)),
                    Err(e) => Some(e.to_string()),
                },
                // Unreachable, refused, or still failing after its retries:
                // asking again for the next step would only wait as long.
                Err(e) if matches!(e.last(), RegistryError::Transport { .. } | RegistryError::Unauthorized { .. }) || matches!(e, RegistryError::Retried { .. }) => {
                    eprintln!("warning: --cache-from {} is not used for the rest of this build: {e}", remotes[i].name);
                    remotes.remove(i);
                    continue;
                }
                Err(e) => Some(e.to_string()),
            };
            if let Some(problem) = problem {
                eprintln!("warning: --cache-from {}: the entry for `{step}` is not used, the step runs: {problem}", remotes[i].name);
            }
            i += 1;
        }
        None
    }

    /// Records a step's layer under its key, atomically.
    fn record_step(&self, key: &Digest, layer: &LayerRef, state: &mut State) -> Result<(), Error> {
        state.used.push((key.clone(), layer.clone()));
        let record = self.req.cache_dir.join("steps").join(key.hex());
        let doc = serde_json::to_vec(&layer.to_json()).expect("json");
        crate::oci::store::write_atomic(&record, &doc).map_err(io_ctx("recording the step in the cache"))
    }

    /// The directory holding a stored layer's files, unpacked once.
    fn unpack(&self, layer: &LayerRef) -> Result<PathBuf, Error> {
        self.unpack_into_cache(layer, false)
    }

    /// As `unpack`, for a layer from elsewhere: its decompressed bytes
    /// are hashed as they are read and must match its diff id, even when
    /// that diff id's directory exists already.
    fn unpack_checked(&self, layer: &LayerRef) -> Result<PathBuf, Error> {
        self.unpack_into_cache(layer, true)
    }

    fn unpack_into_cache(&self, layer: &LayerRef, check: bool) -> Result<PathBuf, Error> {
        let dir = self.layer_dir(&layer.diff_id);
        if dir.exists() && !check {
            return Ok(dir);
        }
        let file = fs::File::open(self.store.path(&layer.digest)).map_err(io_ctx("unpacking a layer"))?;
        let tar = crate::oci::layer::decompress(&layer.media_type, file).map_err(io_ctx("unpacking a layer"))?;
        // Bounded here too: hashing reads what follows the tar's end, and
        // the whole stream when the directory exists already.
        let max_bytes = crate::oci::extract::Limits::default().max_bytes;
        let mut tar = crate::oci::digest::HashingReader::new(io::Read::take(tar, max_bytes + 1));
        let staged = if dir.exists() {
            None
        } else {
            let tmp = tempfile::Builder::new().prefix("x").tempdir_in(self.scratch.path()).map_err(io_ctx("unpacking a layer"))?;
            crate::oci::extract::extract(&mut tar, tmp.path())
                .map_err(|e| Error::Io { doing: format!("unpacking layer {}", layer.digest), error: io::Error::other(e.to_string()) })?;
            Some(tmp)
        };
        let (diff_id, size) = tar.finish().map_err(io_ctx("decompressing a layer"))?;
        if size > max_bytes {
            return Err(Error::Io { doing: format!("unpacking layer {}", layer.digest), error: io::Error::other(crate::oci::extract::Error::TooLarge { limit: max_bytes }.to_string()) });
        }
        if check && diff_id != layer.diff_id {
            return Err(Error::Io { doing: "checking a cached layer".into(), error: io::Error::other(format!("it decompresses to {diff_id}, not {}", layer.diff_id)) });
        }
        if let Some(tmp) = staged {
            let staged = tmp.keep();
            if fs::rename(&staged, &dir).is_err() {
                let _ = fs::remove_dir_all(&staged);
            }
        }
        Ok(dir)
    }

    fn push_layer(&self, state: &mut State, what: &str, layer: LayerRef, dir: PathBuf) {
        state.key = key_of(&[state.key.as_str(), what, layer.diff_id.as_str()]);
        state.config.rootfs.diff_ids.push(layer.diff_id.to_string());
        if !dir.exists() {
            state.pending.push(layer.clone());
        }
        state.layers.push(layer);
        state.dirs.push(dir);
    }

    /// Where a layer's files are unpacked in the cache, by its diff id.
    fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.req.cache_dir.join("diffs").join(diff_id.hex())
    }

    /// A stage's layer directories, topmost first, for a step to run on
    /// or read from: the layers not unpacked yet are unpacked now.
    fn lowers(&self, state: &State) -> Result<Vec<PathBuf>, Error> {
        for layer in &state.pending {
            self.timings.time("unpack", || self.unpack(layer))?;
        }
        Ok(state.lowers(&self.empty))
    }

    /// Writes a layer of `entries` and its directory, and adds both.
    fn add_layer(&self, state: &mut State, entries: Vec<Entry>, what: &str) -> Result<LayerRef, Error> {
        let (epoch, compression) = (self.req.epoch, self.req.compression);
        let (digest, size, layer) = self
            .timings
            .time("layer_write", || self.store.put_with(|w| write_layer(entries, epoch, compression, w).map(|(_, l)| l)))
            .map_err(io_ctx("writing a layer"))?;
        debug_assert_eq!(digest, layer.digest);
        let layer = LayerRef { digest, diff_id: layer.diff_id, size, media_type: self.req.compression.media_type().to_owned() };
        let dir = self.layer_dir(&layer.diff_id);
        self.push_layer(state, what, layer.clone(), dir);
        Ok(layer)
    }

    /// The entries a copy writes, and the mounted view of the stage they
    /// are read from (kept mounted until the layer is written).
    fn copy_entries(&self, stage: &str, step: &Step, copy: &Copy, state: &State, from: Option<&State>) -> Result<(Vec<Entry>, Option<crate::build::runc::Mounted>), Error> {
        // Where the sources are read from: the context, or a view of the
        // stage or image copied from.
        let mut view = None;
        let root: PathBuf = match from {
            None => self.req.context_dir.clone(),
            Some(from) => {
                let at = self.scratch.path().join(format!("view{}", step.span.offset));
                view = Some(crate::build::runc::view(&self.lowers(from)?, &at).map_err(io_ctx("mounting a stage to copy from"))?);
                at
            }
        };
        let (uid, gid) = match &copy.chown {
            Some(owner) => resolve_owner(&self.lowers(state)?, &crate::emit::quote::expand(owner, &state.lookup())),
            None => (0, 0),
        };
        let chmod = copy.chmod.as_ref().and_then(|m| u32::from_str_radix(m, 8).ok());
        let many = copy.sources.len() > 1 || copy.sources.iter().any(|s| crate::passes::facts::has_glob(s));
        let mut entries = Vec::new();
        for src in &copy.sources {
            let dest = match &copy.to {
                Some(to) => {
                    let mut d = self.resolve(state, to);
                    if (many || to.ends_with('/')) && !d.ends_with('/') {
                        d.push('/');
                    }
                    d
                }
                None => {
                    let d = crate::spec::default_destination(src);
                    let mut r = self.resolve(state, &d);
                    if d.ends_with('/') {
                        r.push('/');
                    }
                    r
                }
            };
            let expanded = crate::passes::facts::normalize(&crate::emit::quote::expand(src, &state.lookup()));
            // Sources are inside the context or the stage: never a host path.
            let rel = expanded.trim_start_matches('/').to_owned();
            let matches = expand_glob(&root, &rel).map_err(io_ctx(format!("reading copy source {rel}")))?;
            if matches.is_empty() {
                return Err(self.fail(stage, step.span, format!("copy source `{}` matches no file", src.value)));
            }
            // From the context, what the .dockerignore leaves out is not there.
            let keep = |path: &str| from.is_some() || path.is_empty() || !self.ignore.excludes(path);
            let exceptions = from.is_none() && self.ignore.has_exceptions();
            let matches: Vec<String> = matches.into_iter().filter(|m| keep(m) || exceptions).collect();
            if matches.is_empty() {
                return Err(self.fail(stage, step.span, format!("copy source `{}` matches only files the context leaves out", src.value)));
            }
            for m in matches {
                let full = root.join(&m);
                let meta = fs::symlink_metadata(&full).map_err(io_ctx(format!("reading {}", m)))?;
                let target = if meta.is_dir() {
                    dest.trim_end_matches('/').to_owned()
                } else if dest.ends_with('/') {
                    format!("{dest}{}", m.rsplit('/').next().unwrap_or(&m))
                } else {
                    dest.clone()
                };
                let tree = Tree { uid, gid, chmod, keep: &keep, exceptions };
                tree.collect(&full, &m, target.trim_start_matches('/'), meta.is_dir(), &mut entries).map_err(io_ctx(format!("reading {m}")))?;
            }
        }
        Ok((entries, view))
    }

    fn run(&self, stage: &str, step: &Step, run: &Run, script: &str, state: &mut State, states: &HashMap<StageId, State>) -> Result<(), Error> {
        let cfg = &state.config.config;
        let mut env: Vec<String> = cfg.env.clone();
        if cfg.env_var("PATH").is_none() {
            env.push(format!("PATH={DEFAULT_PATH}"));
        }
        for (k, v) in &state.args {
            if cfg.env_var(k).is_none() {
                env.push(format!("{k}={v}"));
            }
        }
        let shell = cfg.shell.clone().unwrap_or_else(|| vec!["/bin/sh".to_owned(), "-c".to_owned()]);
        let script = crate::emit::quote::shell_script(script, state.posix_shell).into_owned();
        let mut args = shell;
        args.push(script.clone());
        let cwd = self.workdir(state);
        let host_network = match run.network.as_ref().map(|n| n.value.as_str()) {
            Some("host") => true,
            Some("none") => false,
            _ => self.req.host_network,
        };
        let mounts_desc: Vec<String> = run.caches.iter().map(|c| format!("cache:{}", c.target.value)).chain(run.binds.iter().map(|b| format!("bind:{}:{}", b.source.value, b.target.value))).collect();
        let key = key_of(&[state.key.as_str(), "RUN", &args.join("\u{1}"), &env.join("\u{1}"), &cwd, &cfg.user, &mounts_desc.join(","), if host_network { "host" } else { "none" }]);
        let what = format!("RUN {}", script.lines().find(|l| !l.trim().is_empty() && l.trim() != "set -e").unwrap_or(""));
        if self.reuse(&key, state, &what) {
            self.progress(stage, &what, true);
            return Ok(());
        }
        // Execute.
        let lowers = self.lowers(state)?;
        let user = state.config.config.user.clone();
        let (uid, gid) = resolve_owner(&lowers, if user.is_empty() { "0" } else { &user });
        // Unique within the build: stages built at once share the scratch.
        let n = self.executed.fetch_add(1, Ordering::Relaxed);
        let work = self.scratch.path().join(format!("run{n}"));
        // The upper directory is this build's until it is renamed into
        // the cache, so two builds running the same step never share one.
        let upper = self.scratch.path().join(format!("upper{n}"));
        fs::create_dir_all(&upper).map_err(io_ctx("preparing a RUN"))?;
        let mut binds = Vec::new();
        let mut skip: Vec<String> = ["proc", "dev", "sys", "etc/resolv.conf", "etc/hosts"].iter().map(|s| s.to_string()).collect();
        for cache in &run.caches {
            let dir = crate::build::schedule::cache_mount_dir(&self.req.cache_dir, cache);
            fs::create_dir_all(&dir).map_err(io_ctx("preparing a cache mount"))?;
            let target = self.resolve(state, &cache.target);
            skip.push(target.trim_start_matches('/').to_owned());
            binds.push(crate::build::runc::Bind { source: dir, target, readonly: false });
        }
        // Secrets and agent sockets reach the process only: they are not
        // part of the step's key, and never of its layer.
        let mut process_env = env;
        for secret in &run.secrets {
            let id = &secret.id.value;
            let file = match self.req.secrets.get(id) {
                Some(file) => file,
                None if secret.required => return Err(self.fail(stage, step.span, format!("secret `{id}` is required: pass --secret id={id},src=FILE"))),
                None => continue,
            };
            if let Some(name) = &secret.env {
                let value = fs::read_to_string(file).map_err(io_ctx(format!("reading secret `{id}` from {}", file.display())))?;
                process_env.push(format!("{}={value}", name.value));
            }
            // As BuildKit: `env=` alone exposes it as a variable only.
            if secret.env.is_none() || secret.target.is_some() {
                let target = secret.target.as_ref().map(|t| self.resolve(state, t)).unwrap_or_else(|| format!("/run/secrets/{id}"));
                skip.push(target.trim_start_matches('/').to_owned());
                skip.push("run/secrets".to_owned());
                binds.push(crate::build::runc::Bind { source: file.clone(), target, readonly: true });
            }
        }
        for (i, ssh) in run.ssh.iter().enumerate() {
            let id = ssh.id.as_ref().map(|s| s.value.as_str()).unwrap_or("default");
            let socket = self.req.ssh.get(id).ok_or_else(|| {
                self.fail(stage, step.span, format!("ssh `{id}` is not given: pass --ssh {id} (the agent at $SSH_AUTH_SOCK) or --ssh {id}=SOCKET"))
            })?;
            let target = format!("/run/buildkit/ssh_agent.{i}");
            skip.push(target.trim_start_matches('/').to_owned());
            skip.push("run/buildkit".to_owned());
            binds.push(crate::build::runc::Bind { source: socket.clone(), target: target.clone(), readonly: false });
            if i == 0 {
                process_env.push(format!("SSH_AUTH_SOCK={target}"));
            }
        }
        let mut _views = Vec::new();
        for (i, bind) in run.binds.iter().enumerate() {
            let source = match &bind.from {
                None => self.req.context_dir.join(crate::passes::facts::normalize(&bind.source)),
                Some(from) => {
                    let lowers = match self.req.graph.find(from) {
                        Some(on) => self.lowers(&states[&on])?,
                        None => self.lowers(&self.base_image(stage, from)?)?,
                    };
                    let at = work.join(format!("bind{i}"));
                    _views.push(crate::build::runc::view(&lowers, &at).map_err(io_ctx("mounting a stage to bind"))?);
                    at.join(crate::passes::facts::normalize(&bind.source).trim_start_matches('/'))
                }
            };
            let target = self.resolve(state, &bind.target);
            skip.push(target.trim_start_matches('/').to_owned());
            binds.push(crate::build::runc::Bind { source, target, readonly: !bind.rw });
        }
        let tmpfs: Vec<(String, Option<String>)> = run.tmpfs.iter().map(|t| (self.resolve(state, &t.target), t.size.as_ref().map(|s| s.value.clone()))).collect();
        skip.extend(tmpfs.iter().map(|(t, _)| t.trim_start_matches('/').to_owned()));
        // The parents runc creates for mount points are stubs too.
        let parents: Vec<String> = skip.iter().flat_map(|s| s.match_indices('/').map(move |(i, _)| s[..i].to_owned())).collect();
        skip.extend(parents);
        let spec = crate::build::runc::RunSpec { lowers: &lowers, upper: &upper, args, env: process_env, cwd, uid, gid, host_network, binds, tmpfs };
        self.progress(stage, &what, false);
        // The id names the container's cgroup too: unique per run, or two
        // builds of one step at once would share (and tear down) one.
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nth = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("buildspec-{}-{}-{nth}", &key.hex()[..12], std::process::id());
        let code = self.timings.time("runc", || crate::build::runc::run(&spec, &work, &id)).map_err(io_ctx("running a RUN step in runc"))?;
        if code != 0 {
            let _ = fs::remove_dir_all(&upper);
            let also = crate::build::fused_tests_note(&run.fused_tests, self.req.sources);
            return Err(Error::StepFailed {
                stage: stage.to_owned(),
                at: self.locate(step.span),
                also,
                message: format!("the script exited with code {code}"),
            });
        }
        // Mount points are not the step's output: not in the layer, and
        // not in the directory later steps see.
        let entries = self
            .timings
            .time("diff_walk", || {
                crate::oci::diff::remove_mount_stubs(&upper, &skip)?;
                crate::oci::diff::entries(&upper)
            })
            .map_err(io_ctx("reading what the RUN changed"))?;
        let epoch = self.req.epoch;
        let compression = self.req.compression;
        let (digest, size, layer) = self
            .timings
            .time("layer_write", || self.store.put_with(|w| write_layer(entries, epoch, compression, w).map(|(_, l)| l)))
            .map_err(io_ctx("writing a layer"))?;
        let dir = self.layer_dir(&layer.diff_id);
        if dir.exists() || fs::rename(&upper, &dir).is_err() {
            let _ = fs::remove_dir_all(&upper);
        }
        let layer = LayerRef { digest, diff_id: layer.diff_id, size, media_type: self.req.compression.media_type().to_owned() };
        self.record_step(&key, &layer, state)?;
        self.push_layer(state, &what, layer, dir);
        Ok(())
    }

    /// One line per step on stderr: the step list a build shows.
    fn progress(&self, stage: &str, what: &str, cached: bool) {
        if self.req.quiet {
            return;
        }
        let first = what.lines().next().unwrap_or("");
        let first = if first.chars().count() > 100 { format!("{}…", first.chars().take(99).collect::<String>()) } else { first.to_owned() };
        eprintln!("[{stage}] {}{first}", if cached { "CACHED " } else { "" });
    }
}

/// Go's duration string in nanoseconds (the spec checked the format).
fn go_duration_nanos(s: &str) -> u64 {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if matches!(c, 'm' | 'u' | 'µ' | 'n') && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: f64 = num.parse().unwrap_or(0.0);
        num.clear();
        total += n * match unit.as_str() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => 0.0,
        };
    }
    total as u64
}

/// Whether `path` exists in the union of `lowers` (topmost first).
fn exists_in(lowers: &[PathBuf], path: &str) -> bool {
    read_in(lowers, path, |p| fs::symlink_metadata(p).is_ok()).unwrap_or(false)
}

fn read_in<T>(lowers: &[PathBuf], path: &str, f: impl Fn(&Path) -> T) -> Option<T> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let rel = path.trim_start_matches('/');
    for lower in lowers {
        let p = lower.join(rel);
        if let Ok(meta) = fs::symlink_metadata(&p) {
            if meta.file_type().is_char_device() && meta.rdev() == 0 {
                return None;
            }
            return Some(f(&p));
        }
    }
    None
}

/// `user[:group]` (names or numbers) → (uid, gid), names from the image's
/// /etc/passwd and /etc/group; unknown names give 0.
fn resolve_owner(lowers: &[PathBuf], owner: &str) -> (u32, u32) {
    let (user, group) = match owner.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (owner, None),
    };
    let table = |file: &str| read_in(lowers, file, |p| fs::read_to_string(p).unwrap_or_default()).unwrap_or_default();
    let lookup = |text: &str, name: &str, field: usize| -> Option<u32> {
        text.lines().find(|l| l.split(':').next() == Some(name)).and_then(|l| l.split(':').nth(field)).and_then(|v| v.parse().ok())
    };
    let passwd = table("etc/passwd");
    let uid = user.parse().ok().or_else(|| lookup(&passwd, user, 2)).unwrap_or(0);
    let gid = match group {
        Some(g) => g.parse().ok().or_else(|| lookup(&table("etc/group"), g, 2)).unwrap_or(0),
        None => passwd.lines().find(|l| l.split(':').nth(2).and_then(|v| v.parse::<u32>().ok()) == Some(uid)).and_then(|l| l.split(':').nth(3)).and_then(|v| v.parse().ok()).unwrap_or(uid),
    };
    (uid, gid)
}

/// Paths under `root` that a copy source names (a path or a glob).
fn expand_glob(root: &Path, rel: &str) -> io::Result<Vec<String>> {
    if !crate::passes::facts::has_glob(rel) {
        return Ok(if fs::symlink_metadata(root.join(rel)).is_ok() { vec![rel.to_owned()] } else { Vec::new() });
    }
    let (dir, pattern) = match rel.rsplit_once('/') {
        Some((d, p)) => (d.to_owned(), p.to_owned()),
        None => (String::new(), rel.to_owned()),
    };
    let glob = globset::Glob::new(&pattern).map_err(io::Error::other)?.compile_matcher();
    let mut res: Vec<String> = fs::read_dir(root.join(&dir))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| glob.is_match(n))
        .map(|n| if dir.is_empty() { n } else { format!("{dir}/{n}") })
        .collect();
    res.sort();
    Ok(res)
}

/// How a copied tree becomes entries: its owner and mode, and which of
/// its paths (relative to where it is copied from) are there.
struct Tree<'k> {
    uid: u32,
    gid: u32,
    chmod: Option<u32>,
    keep: &'k dyn Fn(&str) -> bool,
    /// Whether a path left out may hold paths that are in.
    exceptions: bool,
}

impl Tree<'_> {
    /// Entries for the file or directory `src` (at `rel` where it is copied
    /// from) at `target`; whether any was kept. A directory left out is
    /// still there when something below it is taken back in (`!PATH`), as
    /// BuildKit does.
    fn collect(&self, src: &Path, rel: &str, target: &str, is_dir: bool, out: &mut Vec<Entry>) -> io::Result<bool> {
        use std::os::unix::fs::MetadataExt;
        let kept = (self.keep)(rel);
        let meta = fs::symlink_metadata(src)?;
        let mode = self.chmod.unwrap_or(meta.mode() & 0o7777);
        let base = |path: &str, kind| Entry { path: path.to_owned(), kind, mode, uid: self.uid.into(), gid: self.gid.into(), mtime: meta.mtime().max(0) as u64 };
        if is_dir && !kept && !self.exceptions {
            return Ok(false);
        }
        if is_dir {
            let at = out.len();
            let mut children: Vec<_> = fs::read_dir(src)?.collect::<Result<_, _>>()?;
            children.sort_by_key(|c| c.file_name());
            let mut any = false;
            for child in children {
                let name = child.file_name().to_string_lossy().into_owned();
                let path = if target.is_empty() { name.clone() } else { format!("{target}/{name}") };
                let child_rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
                any |= self.collect(&child.path(), &child_rel, &path, child.file_type()?.is_dir(), out)?;
            }
            if (kept || any) && !target.is_empty() {
                out.insert(at, base(target, EntryKind::Dir));
            }
            return Ok(kept || any);
        }
        if !kept {
            return Ok(false);
        }
        if meta.file_type().is_symlink() {
            out.push(base(target, EntryKind::Symlink(fs::read_link(src)?.to_string_lossy().into_owned())));
        } else if meta.is_file() {
            out.push(base(target, EntryKind::File(Content::Disk { path: src.to_path_buf(), size: meta.len() })));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(epoch_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(epoch_time(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(go_duration_nanos("1m30s"), 90_000_000_000);
        assert_eq!(go_duration_nanos("500ms"), 500_000_000);
    }
}
