//! Context allowlist: the emitted .dockerignore admits only what some step
//! reads from the build context, so edits to other files never reach the
//! engine (and never invalidate anything).
//!
//! ```text
//! copy "go.mod"; copy "cmd"  ⇒  .dockerignore: *  !go.mod  !cmd  (then the spec's excludes)
//! ```
//!
//! When some step reads the whole context (`copy "."`), there is nothing to
//! leave out and the spec's excludes are used as they are.
//!
//! Cost: O(steps · log paths).

use crate::graph::{build::for_each_step, Graph, Rewrite};
use crate::passes::facts;
use crate::spec::{AddSource, StepKind};

pub fn allowlist_context(mut graph: Graph) -> Graph {
    // A set: asking a list whether it holds each path was quadratic.
    let mut reads: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut whole = false;
    for id in &graph.order {
        for_each_step(&graph.stage(*id).steps, &mut |step| {
            let mut read = |path: &str| {
                let p = facts::normalize(path);
                if p.is_empty() {
                    whole = true;
                } else {
                    reads.insert(p);
                }
            };
            match &step.kind {
                StepKind::Copy(copy) if copy.from.is_none() => copy.sources.iter().for_each(|s| read(s)),
                StepKind::Add(add) => {
                    if let AddSource::Paths(paths) = &add.source {
                        paths.iter().filter(|p| !p.contains("://")).for_each(|p| read(p));
                    }
                }
                StepKind::Run(run) => run.binds.iter().filter(|b| b.from.is_none()).for_each(|b| read(&b.source)),
                _ => {}
            }
        });
    }
    if whole || reads.iter().any(|r| r.contains('$')) {
        return graph;
    }
    let reads: Vec<String> = reads.into_iter().collect();
    let message = if reads.is_empty() {
        "the build reads no file of the context: .dockerignore leaves it all out".to_owned()
    } else {
        format!(".dockerignore admits only what the build reads: {}", reads.join(", "))
    };
    graph.rewrites.push(Rewrite { pass: "allowlist_context", stage: graph.target, message, span: graph.context.dir.span });
    graph.context.allowlist = Some(reads);
    graph
}
