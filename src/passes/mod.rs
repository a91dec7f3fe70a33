//! Graph → graph rewrites. Each pass is a pure, total function in its own
//! module that records what it changed and why in [`Graph::rewrites`].
//! With optimization off only the role rules run (test gating, target
//! pruning): that is the literal lowering.

mod add_cache_mounts;
mod allowlist_context;
mod branch_tests;
mod copy_from_earliest;
mod drop_repeated_vet;
mod exclude_by_default;
mod fuse_tests;
pub mod facts;
mod gate_tests;
mod npm_ci_offline;
mod order_steps;
mod prune_unreachable;
mod runtime_hygiene;
mod share_common_prefixes;
pub mod split_dependencies;

pub use add_cache_mounts::add_cache_mounts;
pub use allowlist_context::allowlist_context;
pub use branch_tests::branch_tests;
pub use copy_from_earliest::copy_from_earliest;
pub use drop_repeated_vet::drop_repeated_vet;
pub use exclude_by_default::{exclude_by_default, Known};
pub use fuse_tests::fuse_tests;
pub use gate_tests::{gate_tests, ungateable_tests};
pub use npm_ci_offline::npm_ci_offline;
pub use order_steps::{order_steps, ChangeCounts};
pub use prune_unreachable::prune_unreachable;
pub use runtime_hygiene::runtime_hygiene;
pub use share_common_prefixes::share_common_prefixes;
pub use split_dependencies::split_dependencies;

use std::collections::{BTreeMap, BTreeSet};

use crate::graph::{Base, Dep, EdgeKind, Graph, Stage, StageId};
use crate::source::Spanned;
use crate::spec::{Role, Step, StepKind};

/// What the pipeline is asked to produce, and what it may know about the
/// world (gathered by the CLI; the passes do no IO).
#[derive(Debug, Clone)]
pub struct PassOpts<'a> {
    /// Emit only what this stage needs and make it the default target.
    pub target: Option<StageId>,
    /// Whether runtime stages wait for the test stages.
    pub gate_tests: bool,
    /// Run the cache-efficiency passes (off: the literal lowering).
    pub optimize: bool,
    /// Files of the build context (relative paths), for the dependency
    /// split presets.
    pub context_files: Option<&'a BTreeSet<String>>,
    /// The text of the context's `Cargo.toml` files and cargo configs, by
    /// context path.
    pub manifests: &'a BTreeMap<String, String>,
    /// How often each context path changed, for ordering copies.
    pub changes: Option<&'a ChangeCounts>,
    /// Context paths of the spec file, its includes and
    /// buildspec's outputs, for the default exclusions.
    pub own_files: &'a [String],
    /// Context paths git ignores, for the default exclusions.
    pub git_ignored: Option<&'a BTreeSet<String>>,
}

/// Runs every pass in order.
pub fn run_all(graph: Graph, opts: &PassOpts<'_>) -> Graph {
    let mut graph = graph;
    if opts.optimize {
        let known = Known { context_files: opts.context_files, own_files: opts.own_files, git_ignored: opts.git_ignored };
        graph = exclude_by_default(graph, &known);
        graph = split_dependencies(graph, opts.context_files, opts.manifests);
        graph = drop_repeated_vet(graph);
        graph = add_cache_mounts(graph);
        graph = npm_ci_offline(graph);
        graph = order_steps(graph, opts.changes);
        graph = share_common_prefixes(graph);
        graph = copy_from_earliest(graph);
        graph = branch_tests(graph);
        graph = runtime_hygiene(graph);
        if opts.gate_tests {
            graph = fuse_tests(graph);
        }
    }
    if opts.gate_tests {
        graph = gate_tests(graph);
    }
    graph = prune_unreachable(graph, opts.target);
    if opts.optimize {
        graph = allowlist_context(graph);
    }
    graph
}

/// `base`, or `base2`, `base3`… : the first name no stage has.
fn unique_stage_name(graph: &Graph, base: &str) -> String {
    let mut name = base.to_owned();
    let mut n = 1;
    while graph.find(&name).is_some() {
        n += 1;
        name = format!("{base}{n}");
    }
    name
}

/// Splits builder `source` after its step `last`: the steps up to `last`
/// move to a new stage `NAME-base`, which `source` now derives from.
/// Returns the new stage; the dependencies of both are recomputed, the
/// emit order is left to the caller ([`reorder`]) once it has moved what
/// it split the stage for.
fn split_stage(graph: &mut Graph, source: StageId, last: usize) -> StageId {
    let template = graph.stage(source).clone();
    let id = StageId(graph.stages.len());
    let name = unique_stage_name(graph, &format!("{}-base", template.name.value));
    graph.stages.push(Stage {
        id,
        role: Role::Builder,
        name: Spanned::new(name.clone(), template.name.span),
        from: template.from.clone(),
        base: template.base.clone(),
        platform: None,
        gate: false,
        steps: template.steps[..=last].to_vec(),
        gates: Vec::new(),
        deps: Vec::new(),
        span: template.span,
    });
    let pos = graph.order.iter().position(|o| *o == source).unwrap_or(0);
    graph.order.insert(pos, id);

    let rest = &mut graph.stages[source.0];
    rest.steps.drain(..=last);
    rest.from = Spanned::new(name, rest.from.span);
    rest.base = Base::Stage(id);
    for stage in [id, source] {
        recompute_deps(graph, stage);
    }
    id
}

/// Applies `apply` to what `find` finds until it finds nothing. Each
/// application moves something to a new, shorter or earlier stage; the
/// bound guards against a bug turning that into an endless loop.
fn rewrite_until_done<T>(mut graph: Graph, find: impl Fn(&Graph) -> Option<T>, apply: impl Fn(Graph, T) -> Graph) -> Graph {
    for _ in 0..graph.stages.len() * 8 + 8 {
        let Some(found) = find(&graph) else { break };
        graph = apply(graph, found);
    }
    graph
}

/// A step's first Dockerfile line (a `deps` block's last step's), quoted;
/// a RUN without its mounts: for rewrite messages.
fn instruction_line(step: &Step) -> String {
    let step = match &step.kind {
        StepKind::Deps(inner) if !inner.is_empty() => &inner[inner.len() - 1],
        _ => step,
    };
    let text = match &step.kind {
        StepKind::Run(run) => format!("RUN {}", run.script.value),
        _ => crate::emit::step_text(step),
    };
    format!("`{}`", text.lines().next().unwrap_or_default())
}

/// Recomputes the emit order of the stages being emitted after a pass
/// changed who depends on whom.
fn reorder(graph: &mut Graph) {
    let keep: BTreeSet<StageId> = graph.order.iter().copied().collect();
    graph.order = crate::graph::topological_order(graph, &keep, Some(graph.target));
}

/// A stage's dependencies, from its base, its steps and its gates.
fn recompute_deps(graph: &mut Graph, id: StageId) {
    let stage = graph.stage(id);
    let mut deps = Vec::new();
    deps.extend(stage.base.stages().iter().map(|on| Dep { on: *on, kind: EdgeKind::From, span: stage.from.span }));
    crate::graph::build::for_each_step(&stage.steps, &mut |step| {
        let mut push = |value: &Spanned<String>, kind| {
            if let Some(on) = graph.find(value) {
                deps.push(Dep { on, kind, span: value.span });
            }
        };
        match &step.kind {
            StepKind::Copy(c) => c.from.iter().for_each(|f| push(f, EdgeKind::CopyFrom)),
            StepKind::Run(r) => r.binds.iter().filter_map(|b| b.from.as_ref()).for_each(|f| push(f, EdgeKind::BindFrom)),
            _ => {}
        }
    });
    for gate in &stage.gates {
        deps.push(Dep { on: *gate, kind: EdgeKind::Gate, span: graph.stage(*gate).name.span });
    }
    graph.stages[id.0].deps = deps;
}

/// The Dockerfile instructions `spec` compiles to, one a line: for the
/// passes' tests.
#[cfg(test)]
pub(crate) fn compiled_text(spec: &str) -> String {
    let source = crate::source::SourceFile::new("buildspec.kdl", spec.to_owned());
    let compiled = crate::compile(&source, &crate::CompileOpts::new()).expect("compiles");
    compiled.instructions.iter().map(|i| i.text.as_str()).collect::<Vec<_>>().join("\n")
}
