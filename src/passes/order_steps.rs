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

use std::collections::BTreeMap;

use crate::graph::{Graph, Rewrite, StageId};
use crate::passes::facts::{self, PathKey};
use crate::spec::{Step, StepKind};

/// Changes per context path (from `git log`), for ordering copies;
/// sorted, so the files under a directory are one range.
pub type ChangeCounts = BTreeMap<String, u32>;

pub fn order_steps(mut graph: Graph, changes: Option<&ChangeCounts>) -> Graph {
    for i in 0..graph.stages.len() {
        let id = StageId(i);
        let workdirs = facts::workdirs(&graph, id);
        let steps = std::mem::take(&mut graph.stages[i].steps);
        let (steps, rewrites) = order_stage(steps, &workdirs, changes, id, &graph);
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

/// Whether step `a` (earlier) must stay before step `b`.
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
    let split_by_arg = |a: usize, b: usize| args.iter().zip(&uses).any(|(&(p, _), uses)| a < p && p < b && uses[a] && uses[b]);
    let mut order: Vec<usize> = Vec::new();
    let mut segment: Vec<usize> = Vec::new();
    let flush = |segment: &mut Vec<usize>, order: &mut Vec<usize>| {
        let chosen = schedule(segment, &steps, &classes, workdirs, changes, &split_by_arg);
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
    for (pos, &i) in order.iter().enumerate() {
        if sinks[i] && pos != i && (i + 1..n).any(|j| !sinks[j]) {
            rewrites.push(Rewrite {
                pass: "order_steps",
                stage,
                message: format!("moved {} to the end of the stage: metadata changes no file", describe(&steps[i])),
                span: steps[i].span,
            });
        }
    }
    // Report moves of filesystem steps to an earlier place.
    for (pos, &i) in order.iter().enumerate() {
        if sinks[i] || matches!(steps[i].kind, StepKind::Arg(_)) {
            continue;
        }
        let overtaken: Vec<usize> = order[pos + 1..].iter().copied().filter(|&j| j < i && !sinks[j]).collect();
        if let Some(&first) = overtaken.first() {
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

/// A topological order of `segment` (indices into `steps`) under
/// [`must_precede`]: the most urgent first (a step is as urgent as the
/// most stable step waiting for it), then the most stable, then the least
/// changed, then written order.
fn schedule(
    segment: &[usize],
    steps: &[Step],
    classes: &[Class],
    workdirs: &[Option<String>],
    changes: Option<&ChangeCounts>,
    split_by_arg: &dyn Fn(usize, usize) -> bool,
) -> Vec<usize> {
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
        let key = |x: usize| {
            let i = segment[x];
            let volatility = if classes[i] == Class::ContextCopy { change_count(&steps[i], changes) } else { 0 };
            (urgency[x], classes[i].score(), volatility, i)
        };
        let next = ready.min_by_key(|&x| key(x)).expect("a step is always ready: precedence only points backwards");
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
}
