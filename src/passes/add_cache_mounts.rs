//! Automatic cache mounts: RUNs of known toolchains get their download
//! (and, for Go, build) caches as cache mounts with ids shared across
//! stages, and `packages` keeps apt's lists and downloads in cache mounts.
//! Caches hold what the tools can fetch or rebuild again, so the image's
//! files do not change: download caches, and cargo's `target/` when no
//! runtime derives from the stage and nothing copies `target/` out of it
//! (the spec copies its binaries elsewhere, as it must for them to ship).
//!
//! ```text
//! run "npm ci"  ⇒  RUN --mount=type=cache,target=/root/.npm,id=buildspec-npm npm ci
//! ```
//!
//! Cost: O(stages + steps); the question whether cargo's `target/` is read
//! elsewhere walks the graph once per cargo RUN's workdir.

use crate::graph::{Graph, Rewrite, StageId};
use crate::passes::split_dependencies::detect;
use crate::source::Spanned;
use crate::spec::{Cache, PackageManager, Run, Step, StepKind};

/// Cache directories per toolchain (as root, in the official images).
fn caches_for(preset: &str, script: &str) -> &'static [(&'static str, &'static str)] {
    match preset {
        "cargo" => &[("/usr/local/cargo/registry", "buildspec-cargo-registry"), ("/usr/local/cargo/git", "buildspec-cargo-git")],
        "go" => &[("/root/.cache/go-build", "buildspec-go-build"), ("/go/pkg/mod", "buildspec-go-mod")],
        "npm" => &[("/root/.npm", "buildspec-npm")],
        "pnpm" => &[("/root/.local/share/pnpm/store", "buildspec-pnpm")],
        "yarn" => &[("/usr/local/share/.cache/yarn", "buildspec-yarn")],
        "pip" if script.contains("--no-cache-dir") => &[],
        "pip" => &[("/root/.cache/pip", "buildspec-pip")],
        "poetry" => &[("/root/.cache/pypoetry", "buildspec-poetry")],
        "uv" => &[("/root/.cache/uv", "buildspec-uv")],
        "maven" => &[("/root/.m2", "buildspec-maven")],
        "gradle" => &[("/root/.gradle", "buildspec-gradle")],
        _ => &[],
    }
}

pub fn add_cache_mounts(mut graph: Graph) -> Graph {
    // A cache the spec names at a path keeps its id wherever it is added.
    let mut named: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for stage in &graph.stages {
        crate::graph::build::for_each_step(&stage.steps, &mut |step| {
            if let StepKind::Run(run) = &step.kind {
                for cache in &run.caches {
                    // Without an id, BuildKit's id is the target path.
                    let target = cache.target.value.trim_end_matches('/').to_owned();
                    let id = cache.id.as_ref().map(|i| i.value.clone()).unwrap_or_else(|| target.clone());
                    named.entry(target).or_insert(id);
                }
            }
        });
    }
    // Mounts change no workdir and no base: both are found once.
    let finals = crate::passes::facts::final_workdirs(&graph);
    let managers = graph.package_managers();
    for i in 0..graph.stages.len() {
        let id = StageId(i);
        let apt = managers[id.0] == Some(PackageManager::Apt);
        let mut rewrites = Vec::new();
        let mut as_root = true;
        let workdirs = crate::passes::facts::workdirs_from(&graph, id, crate::passes::facts::initial_workdir_given(&graph, id, &finals));
        // cargo's target directory (build outputs) may live in a cache mount
        // when nothing ships or copies it out of this stage.
        let cargo_target = |wd: Option<&String>| {
            let path = format!("{}/target", wd?.trim_end_matches('/'));
            outputs_unused(&graph, id, &path).then_some(path)
        };
        // Asked only for cargo's RUNs, once per workdir: the answer reads
        // the whole graph.
        let mut targets: std::collections::HashMap<Option<String>, Option<String>> = std::collections::HashMap::new();
        // A copy, not taken out: the cargo question reads this stage too.
        let mut steps = graph.stages[i].steps.clone();
        let mut index = 0;
        visit(&mut steps, &mut |step: &mut Step, top: bool| {
            if top {
                index += 1;
            }
            let span = step.span;
            match &mut step.kind {
                StepKind::User(user) => {
                    as_root = matches!(&user.value, crate::spec::User::Id(0))
                        || matches!(&user.value, crate::spec::User::Name(n) if n == "root" || n.starts_with("root:") || n == "0" || n.starts_with("0:"));
                }
                StepKind::Run(run) if as_root => {
                    let target_dir = match detect(&run.script) {
                        Some(preset) if preset.name == "cargo" => {
                            let wd = workdirs.get(index - 1).cloned().flatten();
                            targets.entry(wd.clone()).or_insert_with(|| cargo_target(wd.as_ref())).clone()
                        }
                        _ => None,
                    };
                    if let Some(added) = add_to_run(run, &named, target_dir.as_deref()) {
                        rewrites.push(Rewrite { pass: "add_cache_mounts", stage: id, message: added, span });
                    }
                }
                StepKind::Packages(pkgs) if as_root && !pkgs.cached && (apt || pkgs.manager.as_ref().is_some_and(|m| m.value == PackageManager::Apt)) => {
                    pkgs.cached = true;
                    rewrites.push(Rewrite {
                        pass: "add_cache_mounts",
                        stage: id,
                        message: "apt's package lists and downloads kept in cache mounts: a package change downloads only what is new".to_owned(),
                        span,
                    });
                }
                _ => {}
            }
        });
        graph.stages[i].steps = steps;
        graph.rewrites.extend(rewrites);
    }
    graph
}

/// Calls `f` on every step, inner `deps` steps included; `top` says the
/// step is one of the stage's own (not inside a `deps` block).
fn visit(steps: &mut [Step], f: &mut impl FnMut(&mut Step, bool)) {
    for step in steps {
        f(step, true);
        if let StepKind::Deps(inner) = &mut step.kind {
            for inner_step in inner {
                f(inner_step, false);
            }
        }
    }
}

/// Whether files under `path` in stage `id` are never shipped or read
/// out: no runtime stage derives from it, and no copy or bind takes a
/// path overlapping it from it or from a stage derived from it.
fn outputs_unused(graph: &Graph, id: StageId, path: &str) -> bool {
    fn derives(graph: &Graph, x: StageId, from: StageId) -> bool {
        x == from || graph.stage(x).base.stages().iter().any(|c| derives(graph, *c, from))
    }
    let overlaps = |src: &str| {
        use crate::passes::facts::PathKey;
        // Sources in another stage are relative to its root.
        let src = PathKey::resolve(src, Some("/"));
        src.overlaps(&PathKey::Absolute(path.to_owned())) || matches!(&src, PathKey::Absolute(s) if super::facts::has_glob(s))
    };
    let mut unused = true;
    for stage in &graph.stages {
        if stage.role == crate::spec::Role::Runtime && derives(graph, stage.id, id) {
            return false;
        }
        let derived = derives(graph, stage.id, id);
        crate::graph::build::for_each_step(&stage.steps, &mut |step| {
            // A RUN that is not cargo's (so gets no mount) may read it.
            if let StepKind::Run(run) = &step.kind
                && derived
                && run.script.contains("target")
                && detect(&run.script).is_none_or(|p| p.name != "cargo")
            {
                unused = false;
            }
            let reads: Vec<(&str, Vec<&str>)> = match &step.kind {
                StepKind::Copy(copy) => copy.from.iter().map(|f| (f.value.as_str(), copy.sources.iter().map(|s| s.value.as_str()).collect())).collect(),
                StepKind::Run(run) => run.binds.iter().filter_map(|b| b.from.as_ref().map(|f| (f.value.as_str(), vec![b.source.value.as_str()]))).collect(),
                _ => Vec::new(),
            };
            for (from, sources) in reads {
                if graph.find(from).is_some_and(|s| derives(graph, s, id)) && sources.iter().any(|s| overlaps(s)) {
                    unused = false;
                }
            }
        });
    }
    unused
}

/// Adds the toolchain's caches that the RUN does not mount already, and
/// for cargo its target directory when `cargo_target` says where it is.
fn add_to_run(run: &mut Run, named: &std::collections::HashMap<String, String>, cargo_target: Option<&str>) -> Option<String> {
    let preset = detect(&run.script)?;
    fn taken(run: &Run, target: &str) -> bool {
        run.caches.iter().any(|c| c.target.value.trim_end_matches('/') == target)
            || run.binds.iter().any(|b| b.target.value.trim_end_matches('/') == target)
            || run.tmpfs.iter().any(|t| t.target.value.trim_end_matches('/') == target)
    }
    let span = run.script.span;
    let mut added = Vec::new();
    for (target, id) in caches_for(preset.name, &run.script) {
        if !taken(run, target) {
            run.caches.push(Cache {
                target: Spanned::new((*target).to_owned(), span),
                id: Some(Spanned::new(named.get(*target).cloned().unwrap_or_else(|| (*id).to_owned()), span)),
                sharing: None,
            });
            added.push(*target);
        }
    }
    let mut message = (!added.is_empty())
        .then(|| format!("{} caches {} mounted: downloads survive rebuilds and are shared by every stage", preset.name, added.join(", ")));
    if let Some(target) = cargo_target.filter(|t| preset.name == "cargo" && !taken(run, t)) {
        let id = named.get(target).cloned().unwrap_or_else(|| format!("buildspec-cargo-target{}", target.replace('/', "-")));
        run.caches.push(Cache { target: Spanned::new(target.to_owned(), span), id: Some(Spanned::new(id, span)), sharing: Some(crate::spec::Sharing::Locked) });
        let note = format!(
            "{target} (cargo's build outputs) in a cache mount: a change recompiles only what it touches; nothing ships or copies {target} out of this stage"
        );
        message = Some(match message {
            Some(m) => format!("{m}; {note}"),
            None => note,
        });
    }
    message
}
