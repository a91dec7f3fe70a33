//! Orders the steps of each stage from stable to volatile, so that a
//! source change re-executes as few steps as possible. Only steps that
//! commute are swapped:
//!
//! ```text
//! workdir "/src"; copy "."; packages "gcc"; run "make"; label "a"="b"
//! ⇒ workdir "/src"; packages "gcc"; copy "."; run "make"; label "a"="b"
//! ```
//!
//! The rules, most stable first: system `packages` → copies out of other
//! images → `deps` blocks (dependency manifests + fetch) → copies out of
//! stages → copies from the context (when git history is known, the paths
//! changed least often first) → other RUNs. Metadata (LABEL, EXPOSE, CMD,
//! ENTRYPOINT, HEALTHCHECK, STOPSIGNAL) sinks to the end of the stage, and
//! an `arg` moves down to just before its first possible use.
//!
//! What may not move: WORKDIR, USER, SHELL and ENV stay where they are and
//! nothing crosses them (they change what later steps mean); a RUN reads
//! every earlier copy unless it is `packages`, a `deps` block, or says
//! `inputs=`; two RUNs keep their order; copies that write overlapping
//! paths keep their order; a copy does not move before a RUN whose output
//! it might overwrite, except `packages`, which writes only system paths.
//!
//! Cost: O(n log n) per stage of n steps, times the depth of the paths
//! copied, plus the precedence edges it finds (see `precedence_edges`):
//! linear in n, except where many copies write relative paths under an
//! unknown workdir beside absolute ones, or use one arg on both sides of
//! its declaration.

use std::collections::BTreeMap;

use crate::graph::{Graph, Rewrite, StageId};
use crate::passes::facts::{self, PathKey};
use crate::spec::{Step, StepKind};

/// Changes per context path (from `git log`), for ordering copies;
/// sorted, so the files under a directory are one range.
pub type ChangeCounts = BTreeMap<String, u32>;

pub fn order_steps(mut graph: Graph, changes: Option<&ChangeCounts>) -> Graph {
    // Reordering keeps every WORKDIR in place: the stages' workdirs stay.
    let finals = facts::final_workdirs(&graph);
    for i in 0..graph.stages.len() {
        let id = StageId(i);
        let workdirs = facts::workdirs_from(&graph, id, facts::initial_workdir_given(&graph, id, &finals));
        let steps = std::mem::take(&mut graph.stages[i].steps);
        let (steps, rewrites) = order_stage(steps, &workdirs, changes, id, &graph, schedule);
        graph.stages[i].steps = steps;
        graph.rewrites.extend(rewrites);
    }
    graph
}

/// How a step behaves for ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// WORKDIR, USER, SHELL, ENV: nothing crosses them.
    Barrier,
    Metadata,
    Packages,
    ImageCopy,
    Deps,
    StageCopy,
    ContextCopy,
    Run,
}

impl Class {
    fn score(self) -> u32 {
        match self {
            Class::Packages => 0,
            Class::ImageCopy => 1,
            Class::Deps => 2,
            Class::StageCopy => 3,
            Class::ContextCopy => 4,
            Class::Run => 5,
            Class::Metadata => 9,
            Class::Barrier => 0,
        }
    }
}

fn classify(step: &Step, graph: &Graph) -> Class {
    match &step.kind {
        // A RUN that says what it reads is as stable as its inputs.
        StepKind::Run(run) if run.inputs.is_some() => Class::Deps,
        StepKind::Workdir(_) | StepKind::User(_) | StepKind::Shell(_) | StepKind::Env(_) | StepKind::Arg(_) => {
            Class::Barrier
        }
        StepKind::Packages(_) => Class::Packages,
        StepKind::Deps(_) => Class::Deps,
        StepKind::Copy(copy) => match &copy.from {
            None => Class::ContextCopy,
            Some(from) if graph.find(from).is_some() => Class::StageCopy,
            Some(_) => Class::ImageCopy,
        },
        StepKind::Add(_) => Class::ContextCopy,
        StepKind::Run(_) | StepKind::Volume(_) => Class::Run,
        _ if facts::is_metadata(step) => Class::Metadata,
        _ => Class::Run,
    }
}

/// Paths a step writes (copies), or `None` when it may write anywhere.
fn writes(step: &Step, workdir: Option<&str>) -> Option<Vec<PathKey>> {
    match &step.kind {
        StepKind::Copy(copy) => Some(facts::copy_dests(copy, workdir)),
        StepKind::Add(add) => Some(vec![match &add.to {
            Some(to) => PathKey::resolve(to, workdir),
            None => PathKey::resolve(".", workdir),
        }]),
        _ => None,
    }
}

/// Whether a RUN-like step `reader` may read what `writer` wrote.
#[cfg(test)]
fn reads(reader: &Step, writer_paths: &[PathKey], workdir: Option<&str>) -> bool {
    match &reader.kind {
        StepKind::Packages(_) | StepKind::Deps(_) => false,
        StepKind::Run(run) => match &run.inputs {
            None => true,
            Some(inputs) => inputs.iter().any(|input| {
                let key = PathKey::resolve(input, workdir);
                writer_paths.iter().any(|w| w.overlaps(&key))
            }),
        },
        _ => true,
    }
}

/// Whether step `a` (earlier) must stay before step `b`: the relation
/// [`precedence_edges`] encodes (kept as the tests' definition).
#[cfg(test)]
fn must_precede(a: &Step, ca: Class, b: &Step, cb: Class, workdir: Option<&str>) -> bool {
    use Class::*;
    if ca == Metadata || cb == Metadata {
        return false;
    }
    let a_writes = writes(a, workdir);
    let b_writes = writes(b, workdir);
    match (a_writes, b_writes) {
        // copy then copy: only when the paths overlap
        (Some(wa), Some(wb)) => wa.iter().any(|x| wb.iter().any(|y| x.overlaps(y))),
        // copy then RUN: when the RUN reads the copy
        (Some(wa), None) => reads(b, &wa, workdir),
        // RUN then copy: the copy could overwrite the RUN's output, unless
        // the RUN is `packages` (system paths) and the copy writes elsewhere
        (None, Some(wb)) => !(ca == Packages && wb.iter().all(|p| !p.is_system())),
        // RUN then RUN: always
        (None, None) => true,
    }
}

fn describe(step: &Step) -> String {
    match &step.kind {
        StepKind::Packages(p) => format!("packages {}", p.names.iter().map(|n| n.value.as_str()).collect::<Vec<_>>().join(" ")),
        StepKind::Deps(_) => "deps { … }".to_owned(),
        StepKind::Copy(c) => format!("copy {}", c.sources.iter().map(|s| format!("\"{}\"", s.value)).collect::<Vec<_>>().join(" ")),
        StepKind::Add(_) => "add".to_owned(),
        StepKind::Run(r) => format!("run \"{}\"", r.script.value.lines().next().unwrap_or("")),
        StepKind::Label(_) => "label".to_owned(),
        StepKind::Expose(_) => "expose".to_owned(),
        StepKind::Cmd(_) => "cmd".to_owned(),
        StepKind::Entrypoint(_) => "entrypoint".to_owned(),
        StepKind::Healthcheck(_) => "healthcheck".to_owned(),
        StepKind::StopSignal(_) => "stopsignal".to_owned(),
        StepKind::Arg(a) => format!("arg \"{}\"", a.name.value),
        _ => "step".to_owned(),
    }
}

/// How often a copy's sources changed (sum over files under them): one
/// range of the sorted counts per source.
fn change_count(step: &Step, changes: Option<&ChangeCounts>) -> u32 {
    let (Some(changes), StepKind::Copy(copy)) = (changes, &step.kind) else { return 0 };
    copy.sources
        .iter()
        .map(|src| {
            let src = facts::normalize(src);
            if src.is_empty() {
                return changes.values().sum::<u32>();
            }
            let exact = changes.get(&src).copied().unwrap_or(0);
            exact + changes.range(facts::below_dir(&src)).map(|(_, n)| *n).sum::<u32>()
        })
        .sum()
}

/// Env-like names that tools read from the environment without the
/// script naming them: an `arg` with such a name is used by every RUN.
fn read_implicitly(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "GO", "CGO", "CARGO", "RUST", "NPM_", "NODE_", "YARN", "PNPM", "PIP_", "PYTHON", "UV_", "POETRY", "MAVEN",
        "GRADLE", "JAVA", "DEBIAN_", "HTTP", "HTTPS", "NO_PROXY", "FTP_PROXY", "ALL_PROXY", "LANG", "LC_", "TZ",
        "PATH", "HOME", "CC", "CXX", "CFLAGS", "LDFLAGS",
    ];
    let upper = name.to_ascii_uppercase();
    PREFIXES.iter().any(|p| upper.starts_with(p))
}

/// Whether `step` may read the arg `name`: it names it, it is a RUN and
/// tools read the name from the environment, or it declares it again.
fn uses_arg(step: &Step, name: &str) -> bool {
    facts::step_texts(step).iter().any(|t| facts::mentions_var(t, name))
        || matches!(step.kind, StepKind::Run(_) | StepKind::Deps(_) | StepKind::Packages(_)) && read_implicitly(name)
        || matches!(&step.kind, StepKind::Arg(arg) if arg.name.value == name)
}

fn order_stage(
    steps: Vec<Step>,
    workdirs: &[Option<String>],
    changes: Option<&ChangeCounts>,
    stage: StageId,
    graph: &Graph,
    schedule: Scheduler,
) -> (Vec<Step>, Vec<Rewrite>) {
    let mut rewrites = Vec::new();
    let n = steps.len();
    let classes: Vec<Class> = steps.iter().map(|s| classify(s, graph)).collect();

    // 1. Metadata without variables sinks to the end, in written order.
    let has_var = |s: &Step| facts::step_texts(s).iter().any(|t| t.contains('$'));
    let sinks: Vec<bool> = (0..n).map(|i| classes[i] == Class::Metadata && !has_var(&steps[i])).collect();

    // 2. The rest but args: segments between barriers, list-scheduled by
    // score. An arg separates nothing; it only keeps a step that uses its
    // name before it ahead of one that uses it after.
    let args: Vec<(usize, &str)> = (0..n)
        .filter_map(|i| match &steps[i].kind {
            StepKind::Arg(arg) => Some((i, arg.name.value.as_str())),
            _ => None,
        })
        .collect();
    // uses[k][i]: whether step i uses the k-th arg, asked once (the
    // scheduler asks about pairs of steps many times over).
    let uses: Vec<Vec<bool>> = args.iter().map(|&(_, name)| steps.iter().map(|s| uses_arg(s, name)).collect()).collect();
    let arg_uses: Vec<(usize, &[bool])> = args.iter().zip(&uses).map(|(&(p, _), uses)| (p, uses.as_slice())).collect();
    let mut order: Vec<usize> = Vec::new();
    let mut segment: Vec<usize> = Vec::new();
    let flush = |segment: &mut Vec<usize>, order: &mut Vec<usize>| {
        let chosen = schedule(segment, &steps, &classes, workdirs, changes, &arg_uses);
        order.extend(chosen);
        segment.clear();
    };
    for i in 0..n {
        if sinks[i] || matches!(steps[i].kind, StepKind::Arg(_)) {
            continue;
        }
        if classes[i] == Class::Barrier {
            flush(&mut segment, &mut order);
            order.push(i);
        } else {
            segment.push(i);
        }
    }
    flush(&mut segment, &mut order);

    // 3. Each arg goes just before the first later step that uses it, and
    // after every earlier one; the last arg first, so args that land at one
    // place keep their written order (and a second run moves nothing).
    for (&(p, name), uses) in args.iter().zip(&uses).rev() {
        let not_before = order.iter().rposition(|&j| j < p && uses[j]).map_or(0, |k| k + 1);
        let mut at = order.iter().position(|&j| j > p && uses[j]).unwrap_or(order.len());
        while at > not_before && matches!(steps[order[at - 1]].kind, StepKind::Arg(_)) {
            at -= 1;
        }
        let at = at.max(not_before);
        let earlier_steps = |order: &[usize]| order.iter().filter(|&&j| j != p && !matches!(steps[j].kind, StepKind::Arg(_))).count();
        let was_after = (0..p).filter(|&j| !sinks[j] && !matches!(steps[j].kind, StepKind::Arg(_))).count();
        if earlier_steps(&order[..at]) > was_after {
            rewrites.push(Rewrite {
                pass: "order_steps",
                stage,
                message: format!("moved arg \"{name}\" down to just before its first use: a new value re-runs fewer steps"),
                span: steps[p].span,
            });
        }
        order.insert(at, p);
    }

    order.extend((0..n).filter(|i| sinks[*i]));
    let last_unsunk = (0..n).rposition(|j| !sinks[j]);
    for (pos, &i) in order.iter().enumerate() {
        if sinks[i] && pos != i && last_unsunk.is_some_and(|last| last > i) {
            rewrites.push(Rewrite {
                pass: "order_steps",
                stage,
                message: format!("moved {} to the end of the stage: metadata changes no file", describe(&steps[i])),
                span: steps[i].span,
            });
        }
    }
    // Report moves of filesystem steps to an earlier place: a step
    // overtook the first later-placed step written before it (the sinks,
    // placed last, overtake nothing that counts).
    let placed = order.iter().position(|&i| sinks[i]).unwrap_or(order.len());
    let first_overtaken = next_smaller(&order[..placed]);
    for (pos, &i) in order.iter().enumerate() {
        if sinks[i] || matches!(steps[i].kind, StepKind::Arg(_)) {
            continue;
        }
        if let Some(first) = first_overtaken.get(pos).copied().flatten() {
            rewrites.push(Rewrite {
                pass: "order_steps",
                stage,
                message: format!(
                    "moved {} before {}: it does not read what that step writes, so changing it no longer re-runs this step",
                    describe(&steps[i]),
                    describe(&steps[first])
                ),
                span: steps[i].span,
            });
        }
    }
    debug_assert_eq!(order.len(), n);
    let mut slots: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    let steps = order.into_iter().map(|i| slots[i].take().expect("each step once")).collect();
    (steps, rewrites)
}

/// For each position of `order`, the first value after it that is
/// smaller than its own; O(n) with a stack.
fn next_smaller(order: &[usize]) -> Vec<Option<usize>> {
    let mut out = vec![None; order.len()];
    let mut open: Vec<usize> = Vec::new();
    for (pos, &value) in order.iter().enumerate() {
        while let Some(&top) = open.last() {
            if order[top] > value {
                out[top] = Some(value);
                open.pop();
            } else {
                break;
            }
        }
        open.push(pos);
    }
    out
}

/// A topological order of `segment` (indices into `steps`) under
/// [`must_precede`]: the most urgent first (a step is as urgent as the
/// most stable step waiting for it), then the most stable, then the least
/// changed, then written order.
///
/// Cost: O(n log n) in the segment's steps, plus the precedence edges
/// [`precedence_edges`] finds (near-linear for real specs) and a
/// path-depth factor; not the O(n²) pairs of the relation itself.
fn schedule(
    segment: &[usize],
    steps: &[Step],
    classes: &[Class],
    workdirs: &[Option<String>],
    changes: Option<&ChangeCounts>,
    args: &ArgUses<'_>,
) -> Vec<usize> {
    let n = segment.len();
    let preds = precedence_edges(segment, steps, classes, workdirs, args);
    // A step is as urgent as the most stable step that must wait for it;
    // predecessors come earlier, so one backward sweep settles it.
    let mut urgency: Vec<u32> = segment.iter().map(|&i| classes[i].score()).collect();
    for x in (0..n).rev() {
        for &y in &preds[x] {
            urgency[y] = urgency[y].min(urgency[x]);
        }
    }
    let key = |x: usize| rank(segment[x], urgency[x], steps, classes, changes);
    let mut waiting: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (x, ps) in preds.iter().enumerate() {
        for &y in ps {
            succs[y].push(x);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<(SortKey, usize)>> = (0..n).filter(|&x| waiting[x] == 0).map(|x| std::cmp::Reverse((key(x), x))).collect();
    let mut res = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse((_, next))) = ready.pop() {
        res.push(segment[next]);
        for &x in &succs[next] {
            waiting[x] -= 1;
            if waiting[x] == 0 {
                ready.push(std::cmp::Reverse((key(x), x)));
            }
        }
    }
    debug_assert_eq!(res.len(), n, "precedence only points backwards");
    res
}

/// How a step ranks among those ready: urgency, stability, changes, its
/// written place.
type SortKey = (u32, u32, u32, usize);

/// The [`SortKey`] of step `i`, as urgent as `urgency`; both schedulers
/// pick by it.
fn rank(i: usize, urgency: u32, steps: &[Step], classes: &[Class], changes: Option<&ChangeCounts>) -> SortKey {
    let volatility = if classes[i] == Class::ContextCopy { change_count(&steps[i], changes) } else { 0 };
    (urgency, classes[i].score(), volatility, i)
}

/// The args of a stage and which steps use each: `(position, uses)`.
type ArgUses<'a> = [(usize, &'a [bool])];

/// Orders one segment: [`schedule`] (or, in tests, its oracle).
type Scheduler = fn(&[usize], &[Step], &[Class], &[Option<String>], Option<&ChangeCounts>, &ArgUses<'_>) -> Vec<usize>;

/// For each step of `segment` (by position in it), the earlier steps it
/// must follow: a set of edges whose transitive closure is the relation
/// "`must_precede` or an arg between them that both use", found without
/// asking about every pair.
///
/// - RUN-like steps (no known writes) keep their order: a chain.
/// - A copy follows the last RUN-like before it (the last one that is not
///   `packages`, when it writes no system path); the chain covers the rest.
/// - A RUN that reads everything follows each copy since the last such RUN;
///   one with `inputs=`, or a copy, follows the earlier copies whose paths
///   overlap what it reads or writes, found in a path index of the copies
///   not already covered (see [`CopyIndex`]).
/// - Arg splits: each step using an arg before it precedes each using it
///   after it (RUN-likes stand for their chain).
fn precedence_edges(segment: &[usize], steps: &[Step], classes: &[Class], workdirs: &[Option<String>], args: &ArgUses<'_>) -> Vec<Vec<usize>> {
    let n = segment.len();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut index = CopyIndex::default();
    let (mut last_run, mut last_unpackaged_run) = (None, None);
    for x in 0..n {
        let i = segment[x];
        if classes[i] == Class::Metadata {
            continue;
        }
        let step = &steps[i];
        let workdir = workdirs[i].as_deref();
        match writes(step, workdir) {
            Some(keys) => {
                let system = keys.iter().any(PathKey::is_system);
                preds[x].extend(if system { last_run } else { last_unpackaged_run });
                for key in &keys {
                    index.overlapping(key, &mut preds[x]);
                }
                for key in keys {
                    index.insert(key, x);
                }
            }
            None => {
                preds[x].extend(last_run);
                match &step.kind {
                    StepKind::Packages(_) | StepKind::Deps(_) => {}
                    StepKind::Run(run) if run.inputs.is_some() => {
                        for input in run.inputs.iter().flatten() {
                            index.overlapping(&PathKey::resolve(input, workdir), &mut preds[x]);
                        }
                    }
                    _ => index.drain_into(&mut preds[x]),
                }
                last_run = Some(x);
                if classes[i] != Class::Packages {
                    last_unpackaged_run = Some(x);
                }
            }
        }
    }
    // Arg splits.
    let run_like = |x: usize| classes[segment[x]] != Class::Metadata && writes(&steps[segment[x]], workdirs[segment[x]].as_deref()).is_none();
    for &(p, uses) in args {
        let before: Vec<usize> = (0..n).filter(|&x| segment[x] < p && uses[segment[x]]).collect();
        let after: Vec<usize> = (0..n).filter(|&x| segment[x] > p && uses[segment[x]]).collect();
        let last_run_before = before.iter().rev().copied().find(|&x| run_like(x));
        let first_run_after = after.iter().copied().find(|&x| run_like(x));
        let from: Vec<usize> = before.iter().copied().filter(|&x| !run_like(x) || Some(x) == last_run_before).collect();
        for &x in after.iter().filter(|&&x| !run_like(x) || Some(x) == first_run_after) {
            preds[x].extend(from.iter().copied());
        }
    }
    for ps in &mut preds {
        ps.sort_unstable();
        ps.dedup();
    }
    preds
}

/// The copies of a segment whose writes later steps may still need to
/// follow, by the paths they write. A copy at a path covers the earlier
/// ones at or below it (they overlap it, so they precede it, and whatever
/// overlaps them overlaps it), and a RUN that reads everything covers all
/// of them, so each copy leaves the index once.
#[derive(Default)]
struct CopyIndex {
    absolute: BTreeMap<String, usize>,
    relative: BTreeMap<String, usize>,
    unknown: Vec<usize>,
}

impl CopyIndex {
    /// Adds to `out` every copy whose writes overlap `key`.
    fn overlapping(&self, key: &PathKey, out: &mut Vec<usize>) {
        out.extend(self.unknown.iter().copied());
        let (same, other, path, root) = match key {
            PathKey::Unknown => {
                out.extend(self.absolute.values().chain(self.relative.values()).copied());
                return;
            }
            PathKey::Absolute(p) => (&self.absolute, &self.relative, p.as_str(), "/"),
            PathKey::Relative(p) => (&self.relative, &self.absolute, p.as_str(), ""),
        };
        // Paths of the other kind cannot be compared: they overlap.
        out.extend(other.values().copied());
        if path == root {
            out.extend(same.values().copied());
            return;
        }
        // At or above it: the root and each prefix ending before a `/`.
        out.extend(same.get(root).copied());
        for (at, _) in path.match_indices('/').filter(|&(at, _)| at > 0) {
            out.extend(same.get(&path[..at]).copied());
        }
        out.extend(same.get(path).copied());
        // Below it.
        out.extend(same.range(below(path)).map(|(_, x)| *x));
    }

    fn insert(&mut self, key: PathKey, x: usize) {
        let (map, path, root) = match key {
            PathKey::Unknown => {
                *self = CopyIndex::default();
                self.unknown.push(x);
                return;
            }
            PathKey::Absolute(p) => (&mut self.absolute, p, "/"),
            PathKey::Relative(p) => (&mut self.relative, p, ""),
        };
        if path == root {
            map.clear();
        } else {
            let covered: Vec<String> = map.range(below(&path)).map(|(k, _)| k.clone()).collect();
            for k in covered {
                map.remove(&k);
            }
        }
        map.insert(path, x);
    }

    /// Moves every copy into `out`, leaving the index empty.
    fn drain_into(&mut self, out: &mut Vec<usize>) {
        let index = std::mem::take(self);
        out.extend(index.unknown.into_iter().chain(index.absolute.into_values()).chain(index.relative.into_values()));
    }
}

/// The keys strictly below directory `path`, as a range.
fn below(path: &str) -> std::ops::Range<String> {
    format!("{path}/")..format!("{path}0")
}

/// The schedule by the definition, asking about every pair: the oracle
/// the fast one is tested against.
#[cfg(test)]
fn schedule_by_pairs(
    segment: &[usize],
    steps: &[Step],
    classes: &[Class],
    workdirs: &[Option<String>],
    changes: Option<&ChangeCounts>,
    args: &ArgUses<'_>,
) -> Vec<usize> {
    let split_by_arg = |a: usize, b: usize| args.iter().any(|&(p, uses)| a < p && p < b && uses[a] && uses[b]);
    let n = segment.len();
    let precedes = |y: usize, x: usize| {
        let (a, b) = (segment[y], segment[x]);
        must_precede(&steps[a], classes[a], &steps[b], classes[b], workdirs[b].as_deref()) || split_by_arg(a, b)
    };
    // A step is as urgent as the most stable step that must wait for it.
    let mut urgency: Vec<u32> = segment.iter().map(|&i| classes[i].score()).collect();
    for x in (0..n).rev() {
        for y in 0..x {
            if precedes(y, x) {
                urgency[y] = urgency[y].min(urgency[x]);
            }
        }
    }
    let mut done = vec![false; n];
    let mut res = Vec::new();
    for _ in 0..segment.len() {
        let ready = (0..n).filter(|&x| !done[x] && (0..x).all(|y| done[y] || !precedes(y, x)));
        let next = ready.min_by_key(|&x| rank(segment[x], urgency[x], steps, classes, changes)).expect("a step is always ready: precedence only points backwards");
        done[next] = true;
        res.push(segment[next]);
    }
    res
}

#[cfg(test)]
mod tests {
    use crate::source::SourceFile;

    fn check(spec: &str, expect: &str) {
        let source = SourceFile::new("buildspec.kdl", spec.to_owned());
        let compiled = crate::compile(&source, &crate::CompileOpts::new()).expect("compiles");
        let body: Vec<&str> = compiled.instructions.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(body.join("\n"), expect.trim());
    }

    #[test]
    fn packages_move_before_source_and_metadata_sinks() {
        check(
            r#"builder "app" from="debian:bookworm-slim" {
                workdir "/src"
                label "a"="b"
                copy "app.py"
                packages "python3"
                run "python3 -m compileall ."
                cmd "python3" "app.py"
            }"#,
            r#"
FROM debian:bookworm-slim AS app
WORKDIR /src
RUN --mount=type=cache,target=/var/cache/apt,id=buildspec-apt-cache,sharing=locked --mount=type=cache,target=/var/lib/apt/lists,id=buildspec-apt-lists,sharing=locked apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3
COPY app.py ./app.py
RUN python3 -m compileall .
LABEL "a"="b"
CMD ["python3","app.py"]"#,
        );
    }

    #[test]
    fn runs_keep_their_order_and_inputs_free_a_run() {
        check(
            r#"builder "app" from="debian:bookworm-slim" {
                workdir "/src"
                copy "src"
                copy "Makefile"
                run "make tools" inputs="Makefile"
                run "make"
            }"#,
            r#"
FROM debian:bookworm-slim AS app
WORKDIR /src
COPY Makefile ./Makefile
RUN make tools
COPY src ./src
RUN make"#,
        );
        // Without inputs=, a RUN reads every earlier copy and stays after it.
        check(
            r#"builder "app" from="debian:bookworm-slim" {
                workdir "/src"
                copy "src"
                copy "Makefile"
                run "make tools"
            }"#,
            r#"
FROM debian:bookworm-slim AS app
WORKDIR /src
COPY src ./src
COPY Makefile ./Makefile
RUN make tools"#,
        );
    }

    #[test]
    fn independent_copies_go_from_least_to_most_changed() {
        let spec = r#"builder "app" from="debian:bookworm-slim" {
                workdir "/src"
                copy "src"
                copy "assets"
                copy "config"
                run "make"
            }"#;
        let source = SourceFile::new("buildspec.kdl", spec.to_owned());
        let changes: crate::passes::ChangeCounts =
            [("src/main.c", 40), ("src/util.c", 12), ("assets/logo.png", 1), ("config/app.toml", 5)]
                .into_iter()
                .map(|(p, n)| (p.to_owned(), n))
                .collect();
        let opts = crate::CompileOpts { changes: Some(std::sync::Arc::new(changes)), ..crate::CompileOpts::new() };
        let compiled = crate::compile(&source, &opts).expect("compiles");
        let copies: Vec<&str> =
            compiled.instructions.iter().filter(|i| i.keyword == "COPY").map(|i| i.text.as_str()).collect();
        assert_eq!(copies, ["COPY assets ./assets", "COPY config ./config", "COPY src ./src"]);
        // Without history, the written order stays.
        check(spec, "FROM debian:bookworm-slim AS app\nWORKDIR /src\nCOPY src ./src\nCOPY assets ./assets\nCOPY config ./config\nRUN make");
    }

    #[test]
    fn args_move_to_their_first_use() {
        check(
            r#"builder "app" from="debian:bookworm-slim" {
                arg "VERSION" default="1"
                workdir "/src"
                copy "a"
                run "echo build"
                run "echo $VERSION > v"
            }"#,
            r#"
FROM debian:bookworm-slim AS app
WORKDIR /src
COPY a ./a
RUN echo build
ARG VERSION=1
RUN echo $VERSION > v"#,
        );
        check(
            r#"builder "app" from="debian:bookworm-slim" {
                workdir "/src"
                arg "VERSION" default="1"
                copy "a"
                run "echo build"
                run "echo $VERSION > v"
            }"#,
            r#"
FROM debian:bookworm-slim AS app
WORKDIR /src
COPY a ./a
RUN echo build
ARG VERSION=1
RUN echo $VERSION > v"#,
        );
    }

    #[test]
    fn an_arg_does_not_hold_back_steps_that_ignore_it() {
        // packages moves before the copy across the arg, and args that land
        // at one place keep their written order: a second run moves nothing.
        let spec = r#"runtime "app" from="debian:bookworm-slim" {
                copy "src" to="/src/"
                arg "B" default="2"
                arg "A" default="1"
                packages "curl"
                run "echo $A $B"
            }"#;
        let expect = r#"
FROM debian:bookworm-slim AS app
RUN --mount=type=cache,target=/var/cache/apt,id=buildspec-apt-cache,sharing=locked --mount=type=cache,target=/var/lib/apt/lists,id=buildspec-apt-lists,sharing=locked apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl
COPY --link src /src/
ARG B=2
ARG A=1
RUN echo $A $B"#;
        check(spec, expect);
        check(
            r#"runtime "app" from="debian:bookworm-slim" {
                packages "curl"
                copy "src" to="/src/"
                arg "B" default="2"
                arg "A" default="1"
                run "echo $A $B"
            }"#,
            expect,
        );
    }

    /// The fast scheduler orders every stage exactly as the definition
    /// (every pair asked) does, messages included.
    mod matches_the_pairwise_definition {
        use proptest::prelude::*;

        const STEPS: &[&str] = &[
            r#"copy "a""#,
            r#"copy "a/b""#,
            r#"copy "b" "c""#,
            r#"copy "d" to="/x/""#,
            r#"copy "e" to="/x/e""#,
            r#"copy "f" to="/usr/local/f""#,
            r#"copy "g" to="$DEST""#,
            r#"copy "h" to="/""#,
            r#"copy "." to="/x""#,
            r#"copy "/out" from="other" to="/y/out""#,
            r#"copy "/bin/sh" from="busybox:1" to="/z/sh""#,
            r#"run "make""#,
            r#"run "make a" inputs="a""#,
            r#"run "make x" inputs="/x/e" "b""#,
            r#"run "echo $V > /v""#,
            r#"packages "curl""#,
            r#"deps { copy "m"; run "fetch"; }"#,
            r#"label "k"="v""#,
            r#"label "k"="$V""#,
            r#"expose 80"#,
            r#"arg "V" default="1""#,
            r#"arg "GOFLAGS""#,
            r#"workdir "/w""#,
            r#"env A="1""#,
        ];

        fn stage_text(picks: &[usize], base: usize) -> String {
            let from = ["debian:bookworm-slim", "scratch", "other"][base];
            let body: Vec<&str> = picks.iter().map(|&i| STEPS[i]).collect();
            format!(
                "builder \"other\" from=\"debian:bookworm-slim\" {{\n    run \"make out\"\n}}\nruntime \"app\" from=\"{from}\" {{\n    {}\n}}\n",
                body.join("\n    ")
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(600))]
            #[test]
            fn on_random_stages(picks in prop::collection::vec(0..STEPS.len(), 0..40), base in 0usize..3) {
                let source = crate::source::SourceFile::new("buildspec.kdl", stage_text(&picks, base));
                let parsed = crate::syntax::parse(&source);
                prop_assume!(parsed.diagnostics.iter().all(|d| !d.is_error()));
                let Some(graph) = crate::graph::build(&parsed.spec).value else { return Ok(()) };
                let id = graph.find("app").unwrap();
                let workdirs = crate::passes::facts::workdirs(&graph, id);
                let steps = graph.stage(id).steps.clone();
                let (fast, fast_rewrites) = super::super::order_stage(steps.clone(), &workdirs, None, id, &graph, super::super::schedule);
                let (slow, slow_rewrites) = super::super::order_stage(steps, &workdirs, None, id, &graph, super::super::schedule_by_pairs);
                let text = |s: &[crate::spec::Step]| s.iter().map(crate::emit::step_text).collect::<Vec<_>>();
                prop_assert_eq!(text(&fast), text(&slow));
                let messages = |r: &[crate::graph::Rewrite]| r.iter().map(|r| r.message.clone()).collect::<Vec<_>>();
                prop_assert_eq!(messages(&fast_rewrites), messages(&slow_rewrites));
            }
        }
    }
}
