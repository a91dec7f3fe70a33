//! Graph → graph rewrites. Each pass is a pure, total function in its own
//! module that records what it changed and why in [`Graph::rewrites`].

mod gate_tests;
mod prune_unreachable;

pub use gate_tests::{gate_tests, ungateable_tests};
pub use prune_unreachable::prune_unreachable;

use crate::graph::{Graph, StageId};

/// What the pipeline is asked to produce.
#[derive(Debug, Clone)]
pub struct PassOpts {
    /// Emit only what this stage needs and make it the default target.
    pub target: Option<StageId>,
    /// Whether runtime stages wait for the test stages.
    pub gate_tests: bool,
}

/// Runs every pass in order.
pub fn run_all(graph: Graph, opts: &PassOpts) -> Graph {
    let graph = if opts.gate_tests { gate_tests(graph) } else { graph };
    prune_unreachable(graph, opts.target)
}
