//! Keeps only the stages a requested target needs, and makes that target
//! the default (last) stage.
//!
//! ```text
//! builder "a" …; builder "b" …; runtime "app" from="a" …
//! --target app  ⇒  stages a, app (b dropped)
//! ```
//!
//! Cost: O((stages + edges) log stages).

use crate::graph::{reachable, topological_order, Graph, Rewrite, StageId};

pub fn prune_unreachable(mut graph: Graph, target: Option<StageId>) -> Graph {
    let keep = match target {
        Some(target) => {
            graph.target = target;
            reachable(&graph, &[target])
        }
        None => graph.order.iter().copied().collect(),
    };
    for id in &graph.order {
        if !keep.contains(id) {
            let stage = graph.stage(*id);
            let message = format!(
                "stage `{}` dropped: target `{}` does not need it",
                stage.name.value,
                graph.stage(graph.target).name.value
            );
            graph.rewrites.push(Rewrite { pass: "prune_unreachable", stage: *id, message, span: stage.name.span });
        }
    }
    graph.order = topological_order(&graph, &keep, Some(graph.target));
    graph
}
