//! Walks over the stage graph: reachability and a stable topological order.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

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
/// left out (cycles are reported when the graph is built). O((n + e) log n).
pub fn topological_order(graph: &Graph, keep: &BTreeSet<StageId>, last: Option<StageId>) -> Vec<StageId> {
    let n = graph.stages.len();
    let mut waiting = vec![0usize; n];
    let mut dependents: Vec<Vec<StageId>> = vec![Vec::new(); n];
    for &id in keep {
        for dep in graph.stage(id).deps.iter().filter(|d| keep.contains(&d.on)) {
            waiting[id.0] += 1;
            dependents[dep.on.0].push(id);
        }
    }
    let mut ready: BinaryHeap<Reverse<StageId>> = keep.iter().copied().filter(|id| waiting[id.0] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(keep.len());
    loop {
        let next = match ready.pop() {
            Some(Reverse(id)) if Some(id) == last => match ready.pop() {
                Some(Reverse(other)) => {
                    ready.push(Reverse(id));
                    other
                }
                None => id,
            },
            Some(Reverse(id)) => id,
            None => break,
        };
        order.push(next);
        for &on in &dependents[next.0] {
            waiting[on.0] -= 1;
            if waiting[on.0] == 0 {
                ready.push(Reverse(on));
            }
        }
    }
    order
}
