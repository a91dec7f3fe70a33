//! `--all` of `compile` and `build`: every spec below a root, each parsed
//! and compiled once, every failure reported with its file before anything
//! is written; the outputs laid out as OUT/PATH/Dockerfile (PATH the
//! spec's directory below the root) with one `docker-bake.json`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::cli::{Failed, Ui};
use crate::CompileOpts;

/// One compiled spec of the tree.
pub struct CompiledSpec {
    /// The spec file.
    pub spec: PathBuf,
    /// The spec's directory relative to the root ("" for the root).
    pub dir: String,
    /// Its image and bake target name.
    pub name: String,
    pub context_dir: PathBuf,
    pub compiled: crate::Compiled,
}

/// Compiles every `buildspec.kdl` below `root` with `opts` (the context
/// facts are read per spec). Errors of every spec are shown, then one
/// summary line.
pub fn compile_all(root: &Path, opts: &CompileOpts, ui: &Ui) -> Result<Vec<CompiledSpec>, Failed> {
    let specs = crate::workspace::tree::find_specs(root).map_err(|e| ui.error(e))?;
    if specs.is_empty() {
        return Err(ui.error(format!("no buildspec.kdl below {}: write one, or run `buildspec generate {}`", root.display(), root.display())));
    }
    // Read and parse on every core; the context facts (shared by many
    // specs) in one pass, then compile on every core again.
    let parsed = crate::parallel::map(&specs, |spec| crate::workspace::read_spec(spec));
    let mut contexts = crate::workspace::Contexts::below(root);
    let mut jobs = Vec::new();
    let mut failed = Vec::new();
    for (spec, parsed) in specs.iter().zip(parsed) {
        match parsed {
            Ok(parsed) => {
                let opts = contexts.opts(spec, &parsed).with(opts);
                jobs.push((spec, parsed, opts));
            }
            Err(err) => {
                ui.error(err);
                failed.push(spec.display().to_string());
            }
        }
    }
    let compiled = crate::parallel::map(&jobs, |(_, parsed, opts)| crate::compile_parsed(parsed, opts));
    let mut res = Vec::new();
    for ((spec, _, _), compiled) in jobs.iter().zip(compiled) {
        match compiled {
            Ok(compiled) => {
                ui.diagnostics(&compiled.sources, &compiled.warnings);
                let context_dir = crate::workspace::context_dir(spec, &compiled.graph.context.dir.value);
                let dir = relative_dir(root, spec);
                res.push(CompiledSpec { spec: (*spec).clone(), dir, name: String::new(), context_dir, compiled });
            }
            Err(failure) => {
                ui.failure(&failure);
                failed.push(spec.display().to_string());
            }
        }
    }
    if !failed.is_empty() {
        return Err(ui.error(format!("{} of {} specs did not compile ({}); nothing was written", failed.len(), specs.len(), failed.join(", "))));
    }
    name_targets(root, &mut res);
    Ok(res)
}

impl CompileOpts {
    /// These context facts with `how`'s choices (frontend, optimize, gating).
    fn with(self, how: &CompileOpts) -> CompileOpts {
        CompileOpts { target: how.target.clone(), frontend: how.frontend.clone(), gate_tests: how.gate_tests, optimize: how.optimize, ..self }
    }
}

fn relative_dir(root: &Path, spec: &Path) -> String {
    let dir = spec.parent().unwrap_or(Path::new(""));
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    rel.components().filter_map(|c| match c {
        Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
        _ => None,
    }).collect::<Vec<_>>().join("/")
}

/// Each spec's name: its directory's last part, or its whole path below
/// the root when two would share one.
fn name_targets(root: &Path, specs: &mut [CompiledSpec]) {
    let root_name = std::fs::canonicalize(root).ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_default();
    let short = |dir: &str| crate::detect::image_name(dir.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or(&root_name));
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for s in specs.iter() {
        *count.entry(short(&s.dir)).or_default() += 1;
    }
    for s in specs.iter_mut() {
        let name = short(&s.dir);
        s.name = if count[&name] > 1 && !s.dir.is_empty() { crate::detect::image_name(&s.dir.replace('/', "-")) } else { name };
    }
}

/// The files `compile --all` writes: each spec's Dockerfile and its
/// ignore file under OUT, and OUT/docker-bake.json. Paths in the bake
/// file are relative to the current directory (where bake runs), the
/// Dockerfiles relative to their contexts, as bake reads them.
pub fn output_files(specs: &[CompiledSpec], out: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("reading the current directory: {e}"))?;
    let mut files = Vec::new();
    let mut targets = BTreeMap::new();
    for s in specs {
        let dir = if s.dir.is_empty() { out.to_path_buf() } else { out.join(&s.dir) };
        let dockerfile = dir.join("Dockerfile");
        files.push((dockerfile.clone(), s.compiled.dockerfile.clone()));
        files.push((dir.join("Dockerfile.dockerignore"), s.compiled.dockerignore.clone()));
        let context_abs = normalize(&cwd.join(&s.context_dir));
        let dockerfile_abs = normalize(&cwd.join(&dockerfile));
        let context = relative(&cwd, &context_abs).unwrap_or_else(|| context_abs.display().to_string());
        let dockerfile = relative(&context_abs, &dockerfile_abs).unwrap_or_else(|| dockerfile_abs.display().to_string());
        targets.insert(
            s.name.clone(),
            serde_json::json!({ "context": context, "dockerfile": dockerfile, "tags": [format!("{}:latest", s.name)] }),
        );
    }
    let names: Vec<&String> = targets.keys().collect();
    let bake = serde_json::json!({ "group": { "default": { "targets": names } }, "target": targets });
    files.push((out.join("docker-bake.json"), format!("{}\n", serde_json::to_string_pretty(&bake).expect("json"))));
    Ok(files)
}

/// A path with `.` and `dir/..` taken out, lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut res = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                res.pop();
            }
            Component::CurDir => {}
            other => res.push(other),
        }
    }
    res
}

/// `to` relative to the directory `from` (both absolute and normalized).
fn relative(from: &Path, to: &Path) -> Option<String> {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(to[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    Some(if parts.is_empty() { ".".to_owned() } else { parts.join("/") })
}
