//! Which stages of one wave (`Graph::waves`) the daemonless backend builds
//! at once. Stages that need nothing from each other run side by side, as
//! BuildKit runs them, except where that doubles the work: stages that
//! share a cache mount no build had used yet run one after another, in
//! build order, so the later ones find what the first put there. In
//! `specs/go-static` the `go build` and the branched `go vet` share the Go
//! build cache: from a cold cache, side by side, both compile the standard
//! library on the same two cores; one after the other, `go vet` reuses it.
//! With the cache filled (a rebuild) they run side by side again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::graph::{Graph, StageId};
use crate::oci::digest::Digest;
use crate::spec::{Cache, StepKind};

/// The directory in `cache_dir` holding a cache mount's files: one per id
/// (the target when the mount names no id), shared by every build.
pub fn cache_mount_dir(cache_dir: &Path, cache: &Cache) -> PathBuf {
    mount_dir(cache_dir, cache_mount_id(cache))
}

fn mount_dir(cache_dir: &Path, id: &str) -> PathBuf {
    cache_dir.join("mounts").join(Digest::of(id.as_bytes()).hex())
}

fn cache_mount_id(cache: &Cache) -> &str {
    cache.id.as_ref().map_or(cache.target.value.as_str(), |id| id.value.as_str())
}

/// The ids of the cache mounts the RUN steps of `stage` use.
pub fn cache_ids(graph: &Graph, stage: StageId) -> BTreeSet<&str> {
    let mut ids = BTreeSet::new();
    crate::graph::build::for_each_step(&graph.stage(stage).steps, &mut |step| {
        if let StepKind::Run(run) = &step.kind {
            ids.extend(run.caches.iter().map(cache_mount_id));
        }
    });
    ids
}

/// `wave` cut into groups: the groups run at once, each group's stages one
/// after another in build order. Two stages are in one group when they
/// share a cache mount for which `cold` is true (unused when the build
/// started).
pub fn groups(graph: &Graph, wave: &[StageId], cold: impl Fn(&str) -> bool) -> Vec<Vec<StageId>> {
    let mut groups: Vec<(Vec<StageId>, BTreeSet<&str>)> = Vec::new();
    for &stage in wave {
        let ids: BTreeSet<&str> = cache_ids(graph, stage).into_iter().filter(|id| cold(id)).collect();
        // Every group this stage shares a cold cache with joins it.
        let (mut joined, rest): (Vec<_>, Vec<_>) = groups.into_iter().partition(|(_, theirs)| !theirs.is_disjoint(&ids));
        let mut group = (Vec::new(), ids);
        for (stages, theirs) in joined.drain(..) {
            group.0.extend(stages);
            group.1.extend(theirs);
        }
        group.0.push(stage);
        groups = rest;
        groups.push(group);
    }
    let mut groups: Vec<Vec<StageId>> = groups.into_iter().map(|(mut stages, _)| {
        stages.sort_by_key(|s| wave.iter().position(|w| w == s));
        stages
    }).collect();
    groups.sort_by_key(|g| wave.iter().position(|w| *w == g[0]));
    groups
}

/// Whether no build has used the cache mount `id` in `cache_dir` yet (its
/// directory is not there). Not whether it is empty: a cache that stays
/// empty, as Go's module cache for a module without requirements, would
/// keep every later build one stage at a time for nothing.
pub fn is_unused(cache_dir: &Path, id: &str) -> bool {
    !mount_dir(cache_dir, id).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(spec: &str) -> Graph {
        let source = crate::source::SourceFile::new("buildspec.kdl", spec);
        crate::compile(&source, &crate::CompileOpts::new()).expect("compiles").graph
    }

    fn names(graph: &Graph, groups: &[Vec<StageId>]) -> Vec<Vec<String>> {
        groups.iter().map(|g| g.iter().map(|s| graph.stage(*s).name.value.clone()).collect()).collect()
    }

    const SPEC: &str = r#"buildspec 1
builder "a" from="base:1" {
    run "a" { cache "/c" id="shared" }
}
builder "b" from="base:1" {
    run "b" { cache "/c" id="shared" }
}
builder "c" from="base:1" {
    run "c" { cache "/other" }
}
runtime "app" from="base:1" {
    copy "/a" from="a"
    copy "/b" from="b"
    copy "/c" from="c"
}
"#;

    #[test]
    fn stages_sharing_a_cold_cache_run_one_after_another() {
        let g = graph(SPEC);
        let wave = g.waves().into_iter().find(|w| w.len() > 1).expect("a wave of several");
        assert_eq!(names(&g, &groups(&g, &wave, |_| true)), [vec!["a", "b"], vec!["c"]]);
    }

    #[test]
    fn with_the_cache_filled_they_run_at_once() {
        let g = graph(SPEC);
        let wave = g.waves().into_iter().find(|w| w.len() > 1).expect("a wave of several");
        assert_eq!(names(&g, &groups(&g, &wave, |_| false)), [vec!["a"], vec!["b"], vec!["c"]]);
        assert_eq!(names(&g, &groups(&g, &wave, |id| id == "/other")), [vec!["a"], vec!["b"], vec!["c"]]);
    }
}
