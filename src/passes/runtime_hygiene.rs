//! Runtime hygiene: copies into runtime stages use `COPY --link` (the layer
//! does not depend on the layers below it, so a base image update re-uses
//! it), and a `run "chown -R U:G DIR"` right after the copy that made DIR
//! becomes `--chown` on that copy (no second copy of the files in a layer).
//!
//! ```text
//! runtime: copy "/out/app" from="build" to="/app"; run "chown -R 1000:1000 /app"
//! ⇒ COPY --from=build --chown=1000:1000 --link /out/app /app
//! ```
//!
//! `--link` is not added where the destination is under /bin, /sbin or
//! /lib*, which are symbolic links in merged-/usr images (a linked layer
//! would replace the link with a directory), nor where the destination is
//! relative to a workdir this pass cannot see. The chown merge assumes the
//! directory holds only what the copy put there.
//!
//! Cost: O(steps) per runtime stage, plus its `from=` chain for the
//! workdirs.

use crate::graph::{Graph, Rewrite, StageId};
use crate::passes::facts::{self, PathKey};
use crate::source::Spanned;
use crate::spec::{Copy, Role, StepKind};

pub fn runtime_hygiene(mut graph: Graph) -> Graph {
    for i in 0..graph.stages.len() {
        let id = StageId(i);
        if graph.stages[i].role != Role::Runtime {
            continue;
        }
        let workdirs = facts::workdirs(&graph, id);
        let mut rewrites = Vec::new();
        let steps = &mut graph.stages[i].steps;
        // chown merges first (they look at the next step).
        let mut k = 0;
        while k + 1 < steps.len() {
            let merged = {
                let (StepKind::Copy(copy), StepKind::Run(run)) = (&steps[k].kind, &steps[k + 1].kind) else {
                    k += 1;
                    continue;
                };
                chown_target(&run.script).filter(|(_, dir)| {
                    copy.chown.is_none()
                        && run.caches.is_empty() && run.binds.is_empty() && run.secrets.is_empty()
                        && copy.to.as_ref().is_some_and(|to| facts::normalize(to) == facts::normalize(dir))
                })
            };
            match merged {
                Some((owner, dir)) => {
                    let span = steps[k + 1].span;
                    if let StepKind::Copy(copy) = &mut steps[k].kind {
                        copy.chown = Some(Spanned::new(owner.clone(), span));
                    }
                    steps.remove(k + 1);
                    rewrites.push(Rewrite {
                        pass: "runtime_hygiene",
                        stage: id,
                        message: format!("`chown -R {owner} {dir}` folded into the copy as --chown={owner}: one layer instead of two copies of the files"),
                        span,
                    });
                }
                None => k += 1,
            }
        }
        for (step, wd) in steps.iter_mut().zip(workdirs.iter().chain(std::iter::repeat(&None))) {
            let span = step.span;
            // A `deps` block's copies too (they run in the same workdir).
            let copies: Vec<&mut Copy> = match &mut step.kind {
                StepKind::Copy(copy) => vec![copy],
                StepKind::Deps(inner) => inner.iter_mut().filter_map(|s| if let StepKind::Copy(c) = &mut s.kind { Some(c) } else { None }).collect(),
                _ => continue,
            };
            for copy in copies {
                if copy.link {
                    continue;
                }
                let dests = facts::copy_dests(copy, wd.as_deref());
                let safe = dests.iter().all(|d| match d {
                    PathKey::Absolute(p) => {
                        !["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"].iter().any(|s| p == s || p.starts_with(&format!("{s}/")))
                            && p != "/"
                    }
                    _ => false,
                });
                if safe {
                    copy.link = true;
                    rewrites.push(Rewrite {
                        pass: "runtime_hygiene",
                        stage: id,
                        message: "copy into the runtime made --link: its layer no longer depends on the layers below".to_owned(),
                        span,
                    });
                }
            }
        }
        graph.rewrites.extend(rewrites);
    }
    graph
}

/// `chown -R OWNER DIR` (exactly one command) → (OWNER, DIR).
fn chown_target(script: &str) -> Option<(String, String)> {
    let words: Vec<&str> = script.split_whitespace().collect();
    match words.as_slice() {
        ["chown", "-R", owner, dir] if !owner.starts_with('-') && !dir.contains(['$', '*', '?']) => {
            Some(((*owner).to_owned(), (*dir).to_owned()))
        }
        _ => None,
    }
}
