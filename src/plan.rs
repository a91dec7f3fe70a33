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
//!
//! A re-run RUN may or may not write different bytes, so a copy out of
//! its stage that reads nothing else changed is marked not `certain`: it
//! re-runs exactly when the RUN's output there differs (a rebuilt binary
//! does; a virtualenv the RUN did not touch does not).

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
    /// The re-run is sure, not only possible: false when the step re-runs
    /// only if a re-run RUN of another stage wrote different bytes where
    /// it copies from (and nothing before it in its own stage re-ran for
    /// sure).
    pub certain: bool,
}

/// The steps of every emitted stage, in order, for a change of `changed`
/// (paths relative to the build context).
pub fn plan(compiled: &Compiled, changed: &[String]) -> Vec<PlannedStep> {
    let changed: Vec<String> = changed.iter().map(|p| crate::passes::facts::normalize(p)).collect();
    let ignore = ContextIgnore::new(&compiled.graph);
    let visible: Vec<&String> = changed.iter().filter(|p| !ignore.excludes(p)).collect();
    // What re-executed steps wrote, per finished stage that has any.
    let mut dirty: HashMap<String, (Dirty, bool)> = HashMap::new();
    // Finished stages whose test-gate directory (emit::GATE_DIR) was made
    // anew: only then does a gate's copy out of them find it changed (no
    // step but the gate's WORKDIR writes there, whatever a RUN may write).
    let mut gate_remade: HashSet<String> = HashSet::new();
    let mut current_gate_remade = false;
    let mut res = Vec::new();
    let mut stage = String::new();
    // What this stage's re-executed steps (and its base's) wrote, and
    // whether one of them re-ran for sure (then so does every later one).
    let mut current: Option<(Dirty, bool)> = None;
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
        let chain = current.as_ref().map(|(_, certain)| *certain);
        let gate_copy = ins.reads.from_paths == [GATE_DIR];
        // Whether it reads what a re-run step of another stage wrote: None
        // (no), Some(true) (for sure), Some(false) (if the bytes differ).
        let reads_stage = ins
            .reads
            .stages
            .iter()
            .filter_map(|s| {
                if gate_copy {
                    return gate_remade.contains(s).then_some(true);
                }
                let (d, _) = dirty.get(s)?;
                if ins.reads.from_paths.is_empty() {
                    return Some(d.touches_for_sure(None).unwrap_or(false));
                }
                ins.reads.from_paths.iter().filter_map(|p| d.touches_for_sure(Some(p))).max()
            })
            .max();
        let reads_context = ins.reads.context.iter().any(|src| visible.iter().any(|p| source_covers(src, p)));
        let reads_change = if reads_context { Some(true) } else { reads_stage };
        let rebuild = reads_change.or(chain);
        let certain = reads_change.unwrap_or(false) || chain.unwrap_or(false);
        if rebuild.is_some() && ins.keyword == "WORKDIR" && ins.writes.as_deref().is_some_and(|w| w == [GATE_DIR]) {
            current_gate_remade = true;
        }
        if rebuild.is_some() {
            let (dirty, sure) = current.get_or_insert((Dirty::default(), false));
            *sure |= certain;
            if let Some(for_sure) = reads_change {
                dirty.add(changed_writes(ins, &visible).as_deref(), for_sure && ins.keyword != "RUN");
            } else if ins.keyword == "RUN" && !ins.reads.run_inputs.as_ref().is_some_and(|inputs| inputs.iter().all(|p| !dirty.touches(p))) {
                dirty.add(ins.writes.as_deref(), false);
            }
            // Else it re-runs on the same inputs and writes what it wrote
            // before: a copy or workdir the same files, a RUN whose
            // declared inputs nothing re-run touched the same output.
        }
        res.push(PlannedStep {
            stage: stage.clone(),
            at: compiled.sources.locate(origin.span.offset),
            instruction: display(&ins.text),
            rebuild: rebuild.is_some(),
            certain: rebuild.is_some() && certain,
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

/// Where re-executed steps of a stage wrote: known paths (each with
/// whether its bytes changed for sure), and whether a RUN may have
/// written anywhere. A COPY out of the stage re-executes only when it
/// reads under one of them: BuildKit compares the copied files' content.
#[derive(Debug, Clone, Default)]
struct Dirty {
    paths: Vec<(String, bool)>,
    anywhere: bool,
}

impl Dirty {
    fn add(&mut self, writes: Option<&[String]>, for_sure: bool) {
        match writes {
            Some(paths) => self.paths.extend(paths.iter().map(|p| (p.clone(), for_sure))),
            None => self.anywhere = true,
        }
    }

    /// Whether something written may lie at, under or above `path`.
    fn touches(&self, path: &str) -> bool {
        self.touches_for_sure(Some(path)).is_some()
    }

    /// Whether what was written lies at, under or above `path` (or
    /// anywhere, for `None`): None (no), Some(true) (changed bytes for
    /// sure), Some(false) (perhaps).
    fn touches_for_sure(&self, path: Option<&str>) -> Option<bool> {
        use crate::passes::facts::PathKey;
        let overlaps = |w: &str| path.is_none_or(|p| PathKey::Absolute(w.to_owned()).overlaps(&PathKey::Absolute(p.to_owned())));
        let sure = self.paths.iter().filter(|(w, _)| overlaps(w)).map(|(_, sure)| *sure).max();
        match (sure, self.anywhere) {
            (Some(true), _) => Some(true),
            (_, true) => Some(false),
            (found, false) => found,
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
