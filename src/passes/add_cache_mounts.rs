//! Automatic cache mounts: RUNs of known toolchains get their download
//! (and, for Go, build) caches as cache mounts with ids shared across
//! stages, and `packages` keeps apt's lists and downloads in cache mounts.
//! Caches only hold what the tools can fetch or rebuild again, never build
//! outputs, so the image's files do not change.
//!
//! ```text
//! run "npm ci"  ⇒  RUN --mount=type=cache,target=/root/.npm,id=buildspec-npm npm ci
//! ```

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
                    if let Some(id) = &cache.id {
                        named.entry(cache.target.value.trim_end_matches('/').to_owned()).or_insert_with(|| id.value.clone());
                    }
                }
            }
        });
    }
    for i in 0..graph.stages.len() {
        let id = StageId(i);
        let apt = graph.package_manager(id) == Some(PackageManager::Apt);
        let mut rewrites = Vec::new();
        let mut as_root = true;
        let mut steps = std::mem::take(&mut graph.stages[i].steps);
        visit(&mut steps, &mut |step: &mut Step| {
            let span = step.span;
            match &mut step.kind {
                StepKind::User(user) => {
                    as_root = matches!(&user.value, crate::spec::User::Id(0))
                        || matches!(&user.value, crate::spec::User::Name(n) if n == "root" || n.starts_with("root:") || n == "0" || n.starts_with("0:"));
                }
                StepKind::Run(run) if as_root => {
                    if let Some(added) = add_to_run(run, &named) {
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

fn visit(steps: &mut [Step], f: &mut impl FnMut(&mut Step)) {
    for step in steps {
        f(step);
        if let StepKind::Deps(inner) = &mut step.kind {
            visit(inner, f);
        }
    }
}

/// Adds the toolchain's caches that the RUN does not mount already.
fn add_to_run(run: &mut Run, named: &std::collections::HashMap<String, String>) -> Option<String> {
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
    (!added.is_empty()).then(|| {
        format!("{} caches {} mounted: downloads survive rebuilds and are shared by every stage", preset.name, added.join(", "))
    })
}
