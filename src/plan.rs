//! Which steps a change re-executes: a pure simulation of BuildKit's cache
//! over the emitted instructions. A step re-runs when the state it starts
//! from changed (the chain), or when what it reads changed: context paths
//! the .dockerignore lets through, or files of another stage that a
//! re-run step of it may have written (a COPY's destination is known, a
//! RUN may write anywhere: BuildKit compares the copied files' content, so
//! `COPY --from=build /opt/venv` stays cached when only `/app` changed
//! there). A `COPY --link`
//! after a change re-uses its copied layer, but BuildKit still re-runs the
//! merge onto the new state below it, and reports the step as run: so
//! does the plan.

use std::collections::{HashMap, HashSet};

use crate::emit::{Instruction, GATE_DIR};
use crate::passes::facts::{ancestors, glob, has_glob, normalize, ContextIgnore};
use crate::Compiled;

/// One filesystem step of the emitted Dockerfile (RUN, COPY, ADD, WORKDIR)
/// and whether it re-executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    pub stage: String,
    /// Spec line the step comes from.
    pub at: crate::source::Location,
    /// The first line of the instruction.
    pub instruction: String,
    pub rebuild: bool,
}

/// The steps of every emitted stage, in order, for a change of `changed`
/// (paths relative to the build context).
pub fn plan(compiled: &Compiled, changed: &[String]) -> Vec<PlannedStep> {
    let changed: Vec<String> = changed.iter().map(|p| crate::passes::facts::normalize(p)).collect();
    let ignore = ContextIgnore::new(&compiled.graph);
    let visible: Vec<&String> = changed.iter().filter(|p| !ignore.excludes(p)).collect();
    // What re-executed steps wrote, per finished stage that has any.
    let mut dirty: HashMap<String, Dirty> = HashMap::new();
    // Finished stages whose test-gate directory (emit::GATE_DIR) was made
    // anew: only then does a gate's copy out of them find it changed (no
    // step but the gate's WORKDIR writes there, whatever a RUN may write).
    let mut gate_remade: HashSet<String> = HashSet::new();
    let mut current_gate_remade = false;
    let mut res = Vec::new();
    let mut stage = String::new();
    // What this stage's re-executed steps (and its base's) wrote.
    let mut current: Option<Dirty> = None;
    for ins in &compiled.instructions {
        let Some(origin) = &ins.origin else { continue };
        if ins.keyword == "FROM" {
            if let Some(d) = current.take() {
                dirty.insert(stage.clone(), d);
            }
            if current_gate_remade {
                gate_remade.insert(stage.clone());
            }
            stage = origin.stage.clone();
            current = ins.reads.stages.iter().find_map(|s| dirty.get(s)).cloned();
            current_gate_remade = ins.reads.stages.iter().any(|s| gate_remade.contains(s));
            continue;
        }
        if !matches!(ins.keyword, "RUN" | "COPY" | "ADD" | "WORKDIR") {
            continue;
        }
        // BuildKit's cache chain: once a step of the stage (or its base)
        // re-executes, every later step does.
        let chain = current.is_some();
        let gate_copy = ins.reads.from_paths == [GATE_DIR];
        let reads_stage = ins.reads.stages.iter().any(|s| {
            if gate_copy {
                return gate_remade.contains(s);
            }
            dirty.get(s).is_some_and(|d| ins.reads.from_paths.is_empty() || ins.reads.from_paths.iter().any(|p| d.touches(p)))
        });
        let reads_change = reads_stage || ins.reads.context.iter().any(|src| visible.iter().any(|p| source_covers(src, p)));
        let rebuild = reads_change || chain;
        if rebuild && ins.keyword == "WORKDIR" && ins.writes.as_deref().is_some_and(|w| w == [GATE_DIR]) {
            current_gate_remade = true;
        }
        if rebuild {
            let dirty = current.get_or_insert(Dirty::Paths(Vec::new()));
            if reads_change {
                dirty.add(changed_writes(ins, &visible).as_deref());
            } else if ins.keyword == "RUN" && !ins.reads.run_inputs.as_ref().is_some_and(|inputs| inputs.iter().all(|p| !dirty.touches(p))) {
                dirty.add(ins.writes.as_deref());
            }
            // Else it re-runs on the same inputs and writes what it wrote
            // before: a copy or workdir the same files, a RUN whose
            // declared inputs nothing re-run touched the same output.
        }
        res.push(PlannedStep {
            stage: stage.clone(),
            at: compiled.sources.locate(origin.span.offset),
            instruction: display(&ins.text),
            rebuild,
        });
    }
    res
}

/// Where a step that reads a change writes something new: for a copy of
/// one context directory to one destination, the changed files' places
/// under it; otherwise everything it writes.
fn changed_writes(ins: &Instruction, changed: &[&String]) -> Option<Vec<String>> {
    let (Some([dest]), [source], true) = (ins.writes.as_deref(), ins.reads.context.as_slice(), ins.reads.stages.is_empty()) else {
        return ins.writes.clone();
    };
    let source = normalize(source);
    if ins.keyword != "COPY" || has_glob(&source) {
        return ins.writes.clone();
    }
    let mut places = Vec::new();
    for path in changed.iter().filter(|p| source_covers(&source, p)) {
        let below = if source.is_empty() { Some(path.as_str()) } else { path.strip_prefix(&format!("{source}/")) };
        match below {
            Some(below) => places.push(format!("{}/{below}", dest.trim_end_matches('/'))),
            // The source itself changed (a file): its place is at or under `dest`.
            None => places.push(dest.clone()),
        }
    }
    Some(places)
}

/// Where re-executed steps of a stage wrote: known paths, or anywhere.
/// A COPY out of the stage re-executes only when it reads under one of
/// them: BuildKit compares the copied files' content.
#[derive(Debug, Clone)]
enum Dirty {
    Paths(Vec<String>),
    Everything,
}

impl Dirty {
    fn add(&mut self, writes: Option<&[String]>) {
        match (self, writes) {
            (Dirty::Paths(paths), Some(p)) => paths.extend(p.iter().cloned()),
            (d, _) => *d = Dirty::Everything,
        }
    }

    /// Whether something written may lie at, under or above `path`.
    fn touches(&self, path: &str) -> bool {
        use crate::passes::facts::PathKey;
        match self {
            Dirty::Everything => true,
            Dirty::Paths(paths) => paths.iter().any(|w| PathKey::Absolute(w.clone()).overlaps(&PathKey::Absolute(path.to_owned()))),
        }
    }
}

/// An instruction the way BuildKit's progress shows it: its first line,
/// and for a heredoc, the heredoc's first line in parentheses.
fn display(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").to_owned();
    if !first.contains("<<") {
        return first;
    }
    let body: Vec<&str> = lines.collect();
    let body = &body[..body.len().saturating_sub(1)];
    match body {
        [] => first,
        [only] => format!("{first} ({only})"),
        [head, ..] => format!("{first} ({head}...)"),
    }
}

/// Whether a copy source (path, directory or glob, context-relative)
/// reads `path`.
fn source_covers(source: &str, path: &str) -> bool {
    let source = crate::passes::facts::normalize(source);
    if source.is_empty() || source == path || path.starts_with(&format!("{source}/")) {
        return true;
    }
    glob(&source).is_some_and(|g| ancestors(path).any(|a| g.is_match(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_cover_paths_below_them() {
        assert!(source_covers(".", "src/main.rs"));
        assert!(source_covers("src", "src/main.rs"));
        assert!(!source_covers("src", "srcx/main.rs"));
        assert!(source_covers("*.py", "app.py"));
        assert!(!source_covers("*.py", "pkg/app.py"));
        assert!(source_covers("./Cargo.toml", "Cargo.toml"));
    }
}
