//! Where each test gate's empty directory is made.
//!
//! A runtime stage waits for a gating test through a last
//! `COPY --link --from=TEST /.buildspec-gate/passed/ /`: BuildKit must finish
//! the test to checksum the directory, and copying its (empty) contents adds
//! no file. The directory is best made early, by a `WORKDIR` placed right
//! before the first absolute `WORKDIR` of the test's chain (the test stage
//! and the stages it derives from): that step stays cached when only the
//! sources change, so a re-run test costs no extra step, and when only the
//! test's own files change the copy finds the same directory and the runtime
//! image stays the same. The next `WORKDIR` sets the working directory back,
//! so nothing but the empty directory differs in those stages.
//!
//! The directory must not reach a runtime image: no stage of the chain a
//! runtime derives from gets it, and nothing anchors while a copy or a bind
//! mount reads `/` (or `/.buildspec-gate`) out of another stage. Where no
//! stage of the chain qualifies, the test gets a stage of its own,
//! `TEST-gate` (`FROM TEST`, then the `WORKDIR`), as before.

use std::collections::{BTreeMap, BTreeSet};

use crate::graph::{Base, Graph, StageId};
use crate::spec::{Role, StepKind};

/// The empty directory a test gate copies the contents of. A plain path
/// one level below a directory of its own: to checksum a copy's source,
/// BuildKit walks the source's parent directory, so a wildcard or a
/// directory right under `/` would make it scan the test stage's whole
/// file system (0.2 s on a python image, more on a toolchain's).
pub const GATE_DIR: &str = "/.buildspec-gate/passed";

/// Where the gate directories of a graph's tests are made.
#[derive(Debug, Default)]
pub struct GatePlan {
    /// Tests some emitted stage waits for.
    gated: BTreeSet<StageId>,
    /// (stage, index of a top-level step): make the directory right before
    /// that step (an absolute WORKDIR); the first test it serves, whose
    /// spec line it is attributed to.
    anchors: BTreeMap<(StageId, usize), StageId>,
    /// Gated tests whose gate directory their own chain makes.
    anchored: BTreeSet<StageId>,
}

impl GatePlan {
    pub fn new(graph: &Graph) -> GatePlan {
        let mut plan = GatePlan::default();
        let in_order: BTreeSet<StageId> = graph.order.iter().copied().collect();
        let emitted = |id: &StageId| in_order.contains(id);
        plan.gated = graph.stages.iter().filter(|s| emitted(&s.id)).flat_map(|s| s.gates.iter().copied()).collect();
        if plan.gated.is_empty() || reads_root_of_a_stage(graph) {
            return plan;
        }
        // Stages a runtime image is built on (its own chain of `from=`).
        let mut shipped = BTreeSet::new();
        for runtime in graph.stages.iter().filter(|s| s.role == Role::Runtime && emitted(&s.id)) {
            let mut todo = vec![runtime.id];
            while let Some(id) = todo.pop() {
                if shipped.insert(id) {
                    todo.extend(graph.stage(id).base.stages());
                }
            }
        }
        for &test in &plan.gated {
            let Some(chain) = chain(graph, test) else { continue };
            let anchor = chain.iter().filter(|id| !shipped.contains(id)).find_map(|&id| {
                graph.stage(id).steps.iter().position(|step| match &step.kind {
                    StepKind::Workdir(path) => path.starts_with('/') && !path.contains('$'),
                    _ => false,
                }).map(|i| (id, i))
            });
            if let Some(anchor) = anchor {
                plan.anchors.entry(anchor).or_insert(test);
                plan.anchored.insert(test);
            }
        }
        plan
    }

    /// The test whose gate directory is made right before this step, if any.
    pub fn made_before(&self, stage: StageId, step: usize) -> Option<StageId> {
        self.anchors.get(&(stage, step)).copied()
    }

    /// Whether a gated test's own chain makes its gate directory.
    pub fn anchored(&self, test: StageId) -> bool {
        self.anchored.contains(&test)
    }

    /// Whether a test needs a `TEST-gate` stage: gated, and not anchored.
    pub fn needs_gate_stage(&self, test: StageId) -> bool {
        self.gated.contains(&test) && !self.anchored(test)
    }
}

/// The stages a test derives from, the first first, ending with the test;
/// `None` when one of them starts from a stage chosen by an arg.
fn chain(graph: &Graph, test: StageId) -> Option<Vec<StageId>> {
    let mut res = graph.base_chain(test);
    let first = *res.last().expect("one stage");
    if matches!(graph.stage(first).base, Base::Dynamic { .. }) {
        return None;
    }
    res.reverse();
    Some(res)
}

/// Whether some copy or bind mount reads `/` or `/.buildspec-gate` out of
/// another stage (where a gate directory would come along).
fn reads_root_of_a_stage(graph: &Graph) -> bool {
    let covers_gate = |path: &str| {
        let path = crate::passes::facts::normalize(&absolute(path));
        let top = path.trim_start_matches('/').split('/').next().unwrap_or("");
        path == "/" || path == GATE_DIR || GATE_DIR.starts_with(&format!("{path}/")) || top.contains(['*', '?', '[', '$'])
    };
    let mut found = false;
    for stage in &graph.stages {
        crate::graph::build::for_each_step(&stage.steps, &mut |step| match &step.kind {
            StepKind::Copy(copy) if copy.from.is_some() => {
                found |= copy.sources.iter().any(|s| covers_gate(s));
            }
            StepKind::Run(run) => {
                found |= run.binds.iter().any(|b| b.from.is_some() && covers_gate(&b.source));
            }
            _ => {}
        });
    }
    found
}

/// A path read out of a stage, absolute (a relative one is relative to `/`).
fn absolute(path: &str) -> String {
    if path.starts_with('/') { path.to_owned() } else { format!("/{path}") }
}

#[cfg(test)]
mod tests {
    use crate::passes::compiled_text as compile;

    const TEST_AND_APP: &str = r#"test "unit" from="build" { run "make test"; }
runtime "app" from="debian:bookworm-slim" { copy "/out/app" from="build" to="/app"; }
"#;

    #[test]
    fn the_first_absolute_workdir_of_the_tests_chain_makes_the_gate_directory() {
        let out = compile(&format!(
            r#"builder "build" from="debian:bookworm-slim" {{ workdir "/src"; copy "."; workdir "/src/sub"; run "make"; }}
{TEST_AND_APP}"#
        ));
        assert!(out.contains("FROM debian:bookworm-slim AS build\nWORKDIR /.buildspec-gate/passed\nWORKDIR /src\n"), "{out}");
        assert_eq!(out.matches("WORKDIR /.buildspec-gate/passed").count(), 1, "{out}");
        assert!(!out.contains("AS unit-gate"), "{out}");
        assert!(out.ends_with("COPY --link --from=unit /.buildspec-gate/passed/ /"), "{out}");
    }

    #[test]
    fn the_test_gets_a_gate_stage_when_its_chain_cannot_make_the_directory() {
        let cases = [
            // No workdir, or only a relative one.
            r#"builder "build" from="debian:bookworm-slim" { run "make"; }"#.to_owned(),
            r#"builder "build" from="debian:bookworm-slim" { workdir "src"; run "make"; }"#.to_owned(),
            // A runtime starts from the builder: its image would get the directory.
            format!(
                r#"builder "build" from="debian:bookworm-slim" {{ workdir "/src"; run "make"; }}
runtime "debug" from="build" {{ cmd "sh"; }}"#
            ),
            // A copy takes the builder's whole file system.
            format!(
                r#"builder "build" from="debian:bookworm-slim" {{ workdir "/src"; run "make"; }}
runtime "all" from="scratch" {{ copy "/" from="build" to="/"; }}"#
            ),
            format!(
                r#"builder "build" from="debian:bookworm-slim" {{ workdir "/src"; run "make"; }}
runtime "all" from="scratch" {{ copy "/src/.." from="build" to="/"; }}"#
            ),
        ];
        for builder in cases {
            let out = compile(&format!("{builder}\n{TEST_AND_APP}"));
            assert!(out.contains("FROM unit AS unit-gate\nWORKDIR /.buildspec-gate/passed"), "{out}");
            assert_eq!(out.matches("WORKDIR /.buildspec-gate/passed").count(), 1, "{out}");
            assert!(out.contains("COPY --link --from=unit-gate /.buildspec-gate/passed/ /"), "{out}");
        }
    }

    #[test]
    fn tests_sharing_a_chain_share_the_directory() {
        let out = compile(
            r#"builder "build" from="debian:bookworm-slim" { workdir "/src"; copy "."; run "make"; }
test "unit" from="build" { run "make test"; }
test "lint" from="build" { run "make lint"; }
runtime "app" from="debian:bookworm-slim" { copy "/out/app" from="build" to="/app"; }
"#,
        );
        assert_eq!(out.matches("WORKDIR /.buildspec-gate/passed").count(), 1, "{out}");
        assert!(out.contains("COPY --link --from=unit /.buildspec-gate/passed/ /"), "{out}");
        assert!(out.contains("COPY --link --from=lint /.buildspec-gate/passed/ /"), "{out}");
    }
}
