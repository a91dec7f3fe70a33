//! Walks over the stage graph: reachability and a stable topological order.

use std::collections::BTreeSet;

use crate::graph::{Graph, StageId};

/// Every stage `roots` need, the roots included, sorted by id.
pub fn reachable(graph: &Graph, roots: &[StageId]) -> BTreeSet<StageId> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<StageId> = roots.to_vec();
    while let Some(id) = stack.pop() {
        if seen.insert(id) {
            stack.extend(graph.stage(id).deps.iter().map(|d| d.on));
        }
    }
    seen
}

/// `keep` in an order where every stage follows its dependencies; among
/// stages free to go next, the one written first in the spec goes first.
/// `last`, if given and free to, goes at the very end. Stages in a cycle are
/// left out (cycles are reported when the graph is built).
pub fn topological_order(graph: &Graph, keep: &BTreeSet<StageId>, last: Option<StageId>) -> Vec<StageId> {
    let mut done: BTreeSet<StageId> = BTreeSet::new();
    let mut order = Vec::new();
    loop {
        let ready = keep.iter().copied().filter(|id| {
            !done.contains(id)
                && graph.stage(*id).deps.iter().all(|d| done.contains(&d.on) || !keep.contains(&d.on))
        });
        let ready: Vec<StageId> = ready.collect();
        let next = ready.iter().copied().find(|id| Some(*id) != last).or(ready.first().copied());
        match next {
            Some(id) => {
                done.insert(id);
                order.push(id);
            }
            None => break,
        }
    }
    order
}
