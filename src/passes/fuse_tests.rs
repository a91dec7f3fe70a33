//! A test that would start only when its builder's last RUN ends runs in
//! that RUN's container, after its script: one container instead of two,
//! and no gate stage.
//!
//! ```text
//! builder "build" from="rust" { workdir "/src"; copy "."; run "cargo build --release" }
//! test "unit" from="build" { run "cargo test --release" outputs="" }
//! runtime "app" from="debian" { copy "/src/target/release/app" from="build" }
//! ⇒ builder "build" from="rust" {
//!       workdir "/src"; copy "."
//!       run "(\ncargo build --release\n)\ncargo test --release"
//!   }
//!   runtime "app" from="debian" { copy "/src/target/release/app" from="build" }
//! ```
//!
//! Sound when what the test writes cannot reach any image, and the test
//! still runs whenever the target is built:
//! - the test's RUNs declare what they write (`outputs=`), and no stage
//!   copies or binds those paths out of the builder; nothing but the test
//!   builds on the builder, and every other reader is a runtime stage the
//!   test gates (which waits for the test anyway, so the fusion delays
//!   nothing it would not wait for);
//! - the test would be gated into the target, and every runtime stage it
//!   would gate needs the builder (so building any of them runs it);
//! - the test runs as it would in a stage of its own: the same shell,
//!   environment, user, workdir (it has only RUN steps, the builder
//!   declares no `arg`, which a stage built on it would not see), network
//!   and security mode, and mounts that agree with the builder's RUN.
//!
//! Each script keeps its own shell semantics: every part but the last runs
//! in a subshell (a `cd` or a variable of the build does not leak into the
//! test), a multi-line part under the `set -e` a multi-line RUN has, a
//! one-line part under `set +e`, as `sh -c` would run it, and a failing
//! part stops the step with its status.
//!
//! Cost: O(fusions × (stages + steps)): each fusion rescans the graph
//! (`rewrite_until_done`), at most one per test.

use crate::graph::{reachable, Base, EdgeKind, Graph, Rewrite, StageId};
use crate::source::Spanned;
use crate::spec::{Role, Run, StepKind};

use super::facts::PathKey;

pub fn fuse_tests(graph: Graph) -> Graph {
    super::rewrite_until_done(graph, find_fusion, apply)
}

/// Test `test` can run at the end of the last RUN of `builder`.
struct Fusion {
    test: StageId,
    builder: StageId,
}

fn find_fusion(graph: &Graph) -> Option<Fusion> {
    let target = graph.stage(graph.target);
    if target.role != Role::Runtime {
        return None;
    }
    let needed = reachable(graph, &[graph.target]);
    graph.order.iter().find_map(|&test| {
        let Base::Stage(builder) = graph.stage(test).base else { return None };
        fusable(graph, test, builder, &needed).then_some(Fusion { test, builder })
    })
}

fn fusable(graph: &Graph, test: StageId, builder: StageId, needed: &std::collections::BTreeSet<StageId>) -> bool {
    let (t, b) = (graph.stage(test), graph.stage(builder));
    if t.role != Role::Test || !t.gate || t.platform.is_some() || test == graph.target || t.steps.is_empty() {
        return false;
    }
    if b.role != Role::Builder || b.platform.is_some() || !needed.contains(&builder) {
        return false;
    }
    if b.steps.iter().any(|s| matches!(s.kind, StepKind::Arg(_))) || sets_shell(graph, builder) {
        return false;
    }
    let Some(StepKind::Run(last)) = b.steps.last().map(|s| &s.kind) else { return false };
    let runs: Option<Vec<&Run>> = t
        .steps
        .iter()
        .map(|s| match &s.kind {
            StepKind::Run(run) => Some(run),
            _ => None,
        })
        .collect();
    let Some(runs) = runs else { return false };
    if !fusable_script(&last.script.value) || !runs.iter().all(|run| joins(last, run)) {
        return false;
    }
    let workdir = super::facts::workdirs(graph, builder).pop().flatten();
    let writes: Vec<PathKey> = runs
        .iter()
        .flat_map(|run| run.outputs.iter().flatten())
        .map(|p| PathKey::resolve(p, workdir.as_deref()))
        .collect();
    readers_are_gated_and_miss(graph, test, builder, &writes) && every_gated_runtime_needs(graph, test, builder)
}

/// Whether every runtime stage the test would gate needs the builder, so
/// that building any of them (`docker build --target` on the emitted
/// file) still runs the test.
fn every_gated_runtime_needs(graph: &Graph, test: StageId, builder: StageId) -> bool {
    let test_needs = reachable(graph, &[test]);
    graph
        .stages
        .iter()
        .filter(|s| s.role == Role::Runtime && graph.order.contains(&s.id) && !test_needs.contains(&s.id))
        .all(|runtime| reachable(graph, &[runtime.id]).contains(&builder))
}

/// Whether every stage but the test that needs the builder is a runtime
/// stage the test will gate, copying or binding none of `writes` out of it.
fn readers_are_gated_and_miss(graph: &Graph, test: StageId, builder: StageId, writes: &[PathKey]) -> bool {
    let builder_name = &graph.stage(builder).name.value;
    let reads_written = |from: &Option<Spanned<String>>, source: &str| {
        from.as_ref().is_some_and(|f| &f.value == builder_name)
            && writes.iter().any(|w| w.overlaps(&PathKey::resolve(source, Some("/"))))
    };
    graph.stages.iter().filter(|s| s.id != test && s.deps.iter().any(|d| d.on == builder)).all(|reader| {
        let only_copies = reader.deps.iter().filter(|d| d.on == builder).all(|d| d.kind != EdgeKind::From);
        let mut misses = true;
        crate::graph::build::for_each_step(&reader.steps, &mut |step| match &step.kind {
            StepKind::Copy(copy) => misses &= !copy.sources.iter().any(|s| reads_written(&copy.from, &s.value)),
            StepKind::Run(run) => misses &= !run.binds.iter().any(|b| reads_written(&b.from, &b.source.value)),
            _ => {}
        });
        reader.role == Role::Runtime && only_copies && misses && !reachable(graph, &[test]).contains(&reader.id)
    })
}

/// Whether a `shell` step in the stage or a stage it builds on changed the
/// shell RUN scripts run in.
fn sets_shell(graph: &Graph, id: StageId) -> bool {
    let mut id = id;
    for _ in 0..graph.stages.len() {
        let stage = graph.stage(id);
        if stage.steps.iter().any(|s| matches!(s.kind, StepKind::Shell(_))) {
            return true;
        }
        match stage.base {
            Base::Stage(up) => id = up,
            Base::Dynamic { .. } => return true,
            Base::Image(_) | Base::Scratch => return false,
        }
    }
    true
}

/// Whether a test's RUN can run in the builder's last RUN: it declares
/// what it writes, runs with the same network and security mode, needs no
/// mount but caches, and its caches agree with the builder's at the same
/// targets.
fn joins(last: &Run, run: &Run) -> bool {
    let value = |v: &Option<Spanned<String>>| v.as_ref().map(|v| v.value.clone());
    run.outputs.is_some()
        && fusable_script(&run.script.value)
        && value(&run.network) == value(&last.network)
        && value(&run.security) == value(&last.security)
        && run.secrets.is_empty()
        && run.ssh.is_empty()
        && run.binds.is_empty()
        && run.tmpfs.is_empty()
        && run.caches.iter().all(|cache| {
            last.caches.iter().filter(|c| c.target.value == cache.target.value).all(|c| {
                value(&c.id) == value(&cache.id) && c.sharing == cache.sharing
            })
        })
}

/// Scripts this pass can put into a larger one unchanged: shell scripts
/// (no `#!`) that do not end inside a line continuation or a here-document.
fn fusable_script(script: &str) -> bool {
    let script = script.trim_end();
    !script.is_empty() && !script.starts_with("#!") && !script.ends_with('\\') && !script.contains("<<")
}

/// The script of one part of a fused RUN, as it would run on its own. The
/// fused script is multi-line, so it runs under `set -e`.
fn part(script: &str, last: bool) -> String {
    let script = script.trim_end_matches('\n');
    let one_line = !script.contains('\n');
    // One command without lists or pipes fails alike with and without -e.
    let simple = one_line && !script.contains([';', '&', '|']);
    let body = if one_line && !simple { format!("set +e\n{script}") } else { script.to_owned() };
    if last {
        body
    } else {
        format!("(\n{body}\n)")
    }
}

fn apply(mut graph: Graph, found: Fusion) -> Graph {
    let Fusion { test, builder } = found;
    let test_stage = graph.stage(test).clone();
    let runs: Vec<&Run> = test_stage
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Run(run) => Some(run),
            _ => None,
        })
        .collect();
    let builder_name = graph.stage(builder).name.value.clone();
    let last_step = graph.stages[builder.0].steps.last_mut().expect("checked");
    let StepKind::Run(last) = &mut last_step.kind else { unreachable!("checked") };

    let mut parts = vec![part(&last.script.value, false)];
    for (i, run) in runs.iter().enumerate() {
        parts.push(part(&run.script.value, i + 1 == runs.len()));
    }
    last.script = Spanned::new(parts.join("\n"), last.script.span);
    for run in &runs {
        for cache in &run.caches {
            if !last.caches.iter().any(|c| c.target.value == cache.target.value) {
                last.caches.push(cache.clone());
            }
        }
        last.inputs = match (last.inputs.take(), &run.inputs) {
            (Some(mut mine), Some(theirs)) => {
                mine.extend(theirs.iter().cloned());
                Some(mine)
            }
            _ => None,
        };
        if let (Some(mine), Some(theirs)) = (&mut last.outputs, &run.outputs) {
            mine.extend(theirs.iter().cloned());
        }
    }
    last.fused_tests.push(Spanned::new(test_stage.name.value.clone(), test_stage.steps[0].span));

    let stage = &mut graph.stages[test.0];
    stage.gate = false;
    graph.order.retain(|id| *id != test);
    let message = format!(
        "runs in `{builder_name}`'s last RUN, after its script: the test would start only when that RUN ends; nothing but runtime stages that wait for the test read `{builder_name}`, and none of them reads what the test writes (its `outputs=`), so one container instead of two, and no gate stage"
    );
    graph.rewrites.push(Rewrite { pass: "fuse_tests", stage: test, message, span: test_stage.steps[0].span });
    graph
}

#[cfg(test)]
mod tests {
    use crate::passes::compiled_text as compile;

    const RUST: &str = r#"builder "build" from="rust:1.82" { workdir "/src"; copy "."; run "cargo build --release\ncp target/release/app /usr/local/bin/app"; }
runtime "app" from="debian:bookworm-slim" { copy "/usr/local/bin/app" from="build"; }
"#;

    #[test]
    fn a_test_that_declares_its_writes_runs_in_the_builds_container() {
        let out = compile(&format!(r#"{RUST}test "unit" from="build" {{ run "cargo test --release" outputs=""; }}"#));
        assert!(!out.contains("AS unit"), "{out}");
        assert!(!out.contains("gate"), "{out}");
        assert!(
            out.contains("<<'EOF'\nset -e\n(\ncargo build --release\ncp target/release/app /usr/local/bin/app\n)\ncargo test --release\nEOF"),
            "{out}"
        );
    }

    #[test]
    fn a_one_line_list_keeps_its_own_failure_rules() {
        let out = compile(&format!(r#"{RUST}test "unit" from="build" {{ run "cargo test; cargo clippy" outputs=""; }}"#));
        assert!(out.contains(")\nset +e\ncargo test; cargo clippy\nEOF"), "{out}");
    }

    #[test]
    fn the_test_keeps_its_stage_when_fusing_could_change_an_image_or_a_run() {
        for (test, extra) in [
            // No declaration of what the test writes.
            (r#"run "cargo test --release""#, ""),
            // It writes what the runtime copies.
            (r#"run "cargo test --release" outputs="/usr/local/bin""#, ""),
            // Its own environment.
            (r#"env RUST_LOG="debug"; run "cargo test --release" outputs="""#, ""),
            // Another stage builds on the builder.
            (r#"run "cargo test --release" outputs="""#, r#"builder "docs" from="build" { run "cargo doc"; }"#),
            // A second runtime that would no longer wait for the test.
            (r#"run "cargo test --release" outputs="""#, r#"runtime "debug" from="debian:bookworm-slim" { run "true"; }"#),
            // A mount that disagrees with the builder's.
            (r#"run "cargo test --release" outputs="" { cache "/src/target" id="other"; }"#, ""),
            (r#"run "cargo test --release" outputs="" network="none""#, ""),
            (r##"run "#!/usr/bin/env python3\nprint(1)" outputs="""##, ""),
        ] {
            let out = compile(&format!(
                r#"{RUST}test "unit" from="build" {{ {test}; }}
{extra}"#
            ));
            assert!(out.contains("FROM build AS unit"), "{test} / {extra}:\n{out}");
        }
        let ungated = compile(&format!(r#"{RUST}test "unit" from="build" gate=#false {{ run "cargo test" outputs=""; }}"#));
        assert!(!ungated.contains("(\ncargo build"), "{ungated}");
    }
}
