//! Test gating: every runtime stage waits for every gating test stage, so a
//! plain `docker build` of the default target runs the tests and fails when
//! one fails, while the runtime image gains no file.
//!
//! ```text
//! test "unit" from="build" { run "make test" }
//! runtime "app" from="debian" { copy "/app" from="build" }
//! ```
//! becomes, in the emitted file, a last
//! `COPY --link --from=unit /.buildspec-gate/passed/ /` in `app`: BuildKit
//! must finish `unit` first, and the layer the copy adds is empty. Where
//! that empty directory is made is the emitter's business
//! ([`crate::emit::gate`]).
//!
//! A test the runtime already needs (the runtime copies out of it) gates it
//! without help; a test that derives from the runtime cannot gate it and is
//! left alone (reported when compiling as a warning).
//!
//! Cost: O(runtimes × gating tests × (stages + edges)): a reachability walk
//! per pair.

use crate::graph::{reachable, Dep, EdgeKind, Graph, Rewrite};
use crate::spec::Role;

pub fn gate_tests(mut graph: Graph) -> Graph {
    let tests: Vec<_> = graph.stages.iter().filter(|s| s.role == Role::Test && s.gate).map(|s| s.id).collect();
    let runtimes: Vec<_> = graph.stages.iter().filter(|s| s.role == Role::Runtime).map(|s| s.id).collect();
    for runtime in runtimes {
        for &test in &tests {
            let already = reachable(&graph, &[runtime]).contains(&test);
            let derives_from_runtime = reachable(&graph, &[test]).contains(&runtime);
            if already || derives_from_runtime {
                continue;
            }
            let span = graph.stage(test).name.span;
            let message = format!(
                "`{}` waits for test `{}`: building it runs the test, and adds no file",
                graph.stage(runtime).name.value,
                graph.stage(test).name.value
            );
            let stage = &mut graph.stages[runtime.0];
            stage.gates.push(test);
            stage.deps.push(Dep { on: test, kind: EdgeKind::Gate, span });
            graph.rewrites.push(Rewrite { pass: "gate_tests", stage: runtime, message, span });
        }
    }
    graph
}

/// Warnings for gating tests that derive from a runtime stage, which
/// therefore cannot gate it.
pub fn ungateable_tests(graph: &Graph) -> Vec<crate::diag::Diagnostic> {
    use crate::diag::{Code, Diagnostic};
    let mut res = Vec::new();
    for test in graph.stages.iter().filter(|s| s.role == Role::Test && s.gate) {
        if !graph.order.contains(&test.id) {
            continue;
        }
        for runtime in graph.stages.iter().filter(|s| s.role == Role::Runtime) {
            if graph.order.contains(&runtime.id) && reachable(graph, &[test.id]).contains(&runtime.id) {
                res.push(
                    Diagnostic::warning(
                        Code::GateImpossible,
                        test.name.span,
                        format!("test `{}` derives from runtime `{}`, so it cannot gate it", test.name.value, runtime.name.value),
                    )
                    .label("builds on the runtime")
                    .related(runtime.name.span, "runtime defined here")
                    .help(format!("build it with --target {}, or add gate=#false to say so", test.name.value)),
                );
            }
        }
    }
    res
}
