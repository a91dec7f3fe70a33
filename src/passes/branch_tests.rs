//! Test stages start from the earliest state of their builder that holds
//! what they read, so they run beside the builder's later steps instead of
//! after them.
//!
//! ```text
//! builder "build" from="golang" {
//!     workdir "/src"; copy "."
//!     run "go build -o /out/app ." outputs="/out/app"
//! }
//! test "unit" from="build" { run "go test ./..." inputs="." }
//! ⇒ builder "build-base" from="golang" { workdir "/src"; copy "." }
//!   builder "build" from="build-base" { run "go build -o /out/app ." }
//!   test "unit" from="build-base" { run "go test ./..." }
//! ```
//!
//! The test reads `/src` of what earlier steps wrote; the build writes
//! only `/out/app`. Both states hold the same `/src`, so the test sees the
//! same files, and BuildKit runs the test and the build together: on a
//! source edit the tests no longer wait for the build, on a cold build the
//! two share the cores.
//!
//! Sound only under the spec's declarations: every RUN of the test says
//! what it reads (`inputs=`), and every RUN it moves before says what it
//! writes (`outputs=`). A test moves past RUNs, copies and metadata only:
//! an `env`, `workdir`, `user` or `shell` would change how the test runs.
//! A test that another stage builds on, copies or binds from, or that is
//! the target itself keeps its state, as its files are then part of an
//! image.
//!
//! Cost: O(moves × (stages + steps)): each move rescans the graph for the
//! next (`rewrite_until_done`); a move is rare (a test per builder at
//! most).

use crate::graph::{Base, Graph, Rewrite, StageId};
use crate::source::Spanned;
use crate::spec::{Role, Step, StepKind};

use super::facts::{self, PathKey};

pub fn branch_tests(graph: Graph) -> Graph {
    let ignore = facts::ContextIgnore::new(&graph);
    super::rewrite_until_done(graph, |graph| find_move(graph, &ignore), apply)
}

/// Test `test` can start before step `after + 1` of its base `source`
/// (`after == None`: before all of them, from `source`'s own base).
struct Move {
    test: StageId,
    source: StageId,
    after: Option<usize>,
}

fn find_move(graph: &Graph, ignore: &facts::ContextIgnore) -> Option<Move> {
    for &test in &graph.order {
        let stage = graph.stage(test);
        let Base::Stage(source) = stage.base else { continue };
        let base = graph.stage(source);
        if stage.role != Role::Test || stage.platform.is_some() || test == graph.target || is_used(graph, test) {
            continue;
        }
        if base.role != Role::Builder || base.platform.is_some() {
            continue;
        }
        let Some(reads) = reads(graph, test) else { continue };
        let workdirs = facts::workdirs(graph, source);
        let last_needed = base
            .steps
            .iter()
            .zip(&workdirs)
            .rposition(|(step, wd)| !passable(step) || reads.iter().any(|p| facts::may_write(step, wd.as_deref(), p, ignore)));
        match last_needed {
            Some(last) if last + 1 == base.steps.len() => continue,
            Some(last) if base.steps[..=last].iter().any(|s| matches!(s.kind, StepKind::Arg(_))) => continue,
            Some(last) => return Some(Move { test, source, after: Some(last) }),
            // Nothing of `source` is needed: the test can start where
            // `source` starts, if that is a builder's state too.
            None => match base.base {
                Base::Stage(up) if graph.stage(up).role == Role::Builder && graph.stage(up).platform.is_none() => {
                    return Some(Move { test, source, after: None });
                }
                _ => continue,
            },
        }
    }
    None
}

/// Whether a stage other than the test's gates needs the test's files.
fn is_used(graph: &Graph, test: StageId) -> bool {
    graph.stages.iter().any(|s| s.id != test && s.deps.iter().any(|d| d.on == test))
}

/// What the test stage reads of what earlier steps wrote, or `None` when a
/// step may read anything.
fn reads(graph: &Graph, test: StageId) -> Option<Vec<PathKey>> {
    let workdirs = facts::workdirs(graph, test);
    let mut paths = Vec::new();
    for (step, wd) in graph.stage(test).steps.iter().zip(&workdirs) {
        let wd = wd.as_deref();
        match &step.kind {
            StepKind::Run(run) => paths.extend(run.inputs.as_ref()?.iter().map(|p| PathKey::resolve(p, wd))),
            // A copy or a workdir lands on what may be there already.
            StepKind::Copy(copy) => paths.extend(facts::copy_dests(copy, wd)),
            StepKind::Workdir(dir) => paths.push(PathKey::resolve(dir, wd)),
            StepKind::Env(_) | StepKind::Arg(_) | StepKind::User(_) => {}
            _ if facts::is_metadata(step) => {}
            _ => return None,
        }
    }
    Some(paths)
}

/// Whether a test may start before `step` when it reads nothing the step
/// writes: the step must leave the test's environment as it is.
fn passable(step: &Step) -> bool {
    match &step.kind {
        StepKind::Run(run) => run.outputs.is_some(),
        StepKind::Copy(_) | StepKind::Add(_) => true,
        _ => facts::is_metadata(step),
    }
}

fn apply(mut graph: Graph, found: Move) -> Graph {
    let Move { test, source, after } = found;
    let source_name = graph.stage(source).name.value.clone();
    let (onto, why) = match after {
        Some(last) => {
            let next = super::instruction_line(&graph.stage(source).steps[last + 1]);
            (super::split_stage(&mut graph, source, last), format!("the state of `{source_name}` before {next}"))
        }
        None => {
            let Base::Stage(up) = graph.stage(source).base else { unreachable!("find_move checks the base") };
            (up, format!("the state `{source_name}` starts from (`{}`)", graph.stage(up).name.value))
        }
    };
    let onto_name = graph.stage(onto).name.value.clone();
    let stage = &mut graph.stages[test.0];
    stage.from = Spanned::new(onto_name.clone(), stage.from.span);
    stage.base = Base::Stage(onto);
    let span = stage.from.span;
    super::recompute_deps(&mut graph, test);
    super::reorder(&mut graph);
    let message = format!(
        "starts from `{onto_name}`, {why}: what the later steps write (their `outputs=`) is not among what the test reads (its `inputs=`), so the test runs beside them instead of after them"
    );
    graph.rewrites.push(Rewrite { pass: "branch_tests", stage: test, message, span });
    graph
}

#[cfg(test)]
mod tests {
    use crate::passes::compiled_text as compile;

    const GO: &str = r#"builder "build" from="golang:1.22" { workdir "/src"; copy "go.mod"; run "go mod download" inputs="go.mod"; copy "."; run "go build -o /out/app ." outputs="/out/app"; }
runtime "app" from="scratch" { copy "/out/app" from="build" to="/app"; }
"#;

    #[test]
    fn a_test_that_reads_the_sources_runs_beside_the_build() {
        let out = compile(&format!(r#"{GO}test "unit" from="build" {{ run "go test ./..." inputs="."; }}"#));
        assert!(out.contains("FROM build-base AS build\nRUN "), "{out}");
        assert!(out.contains("FROM build-base AS unit\nRUN "), "{out}");
        assert!(out.contains("COPY --from=build --link /out/app /app"), "{out}");
    }

    #[test]
    fn without_both_declarations_or_with_a_read_output_the_test_follows_the_build() {
        for (build_run, test_run) in [
            (r#"run "go build -o /out/app ." outputs="/out/app""#, r#"run "go test ./...""#),
            (r#"run "go build -o /out/app .""#, r#"run "go test ./..." inputs=".""#),
            (r#"run "go build -o /out/app ." outputs="/out/app""#, r#"run "/out/app -selftest" inputs="/out""#),
            (r#"run "go build -o bin/app ." outputs="bin/app""#, r#"run "go test ./..." inputs=".""#),
        ] {
            let out = compile(&format!(
                r#"builder "build" from="golang:1.22" {{ workdir "/src"; copy "."; {build_run}; }}
test "unit" from="build" {{ {test_run}; }}
runtime "app" from="scratch" {{ copy "/src" from="build" to="/app"; }}"#
            ));
            assert!(out.contains("FROM build AS unit"), "{build_run} / {test_run}:\n{out}");
        }
    }

    #[test]
    fn an_env_after_the_build_keeps_the_test_after_it() {
        let out = compile(
            r#"builder "build" from="golang:1.22" { workdir "/src"; copy "."; run "go build -o /out/app ." outputs="/out/app"; env MODE="test"; }
test "unit" from="build" { run "go test ./..." inputs="."; }
runtime "app" from="scratch" { copy "/out/app" from="build" to="/app"; }"#,
        );
        assert!(out.contains("FROM build AS unit"), "{out}");
    }

    #[test]
    fn a_test_follows_an_earlier_split_back_to_the_state_it_needs() {
        // copy_from_earliest already split after the dependency install;
        // the test reads only the manifest's directory of the first part.
        let out = compile(
            r#"builder "build" from="debian:bookworm-slim" { workdir "/app"; copy "deps.txt"; run "install-deps" inputs="deps.txt" outputs="/opt/deps"; copy "src"; run "make" outputs="/out"; }
test "lint" from="build" { run "check deps.txt" inputs="deps.txt"; }
runtime "app" from="debian:bookworm-slim" { copy "/opt/deps" from="build"; copy "/out" from="build"; }"#,
        );
        // …and then splits that part too: the lint needs only the manifest.
        assert!(out.contains("COPY deps.txt ./deps.txt\nFROM build-base-base AS lint\nRUN check deps.txt"), "{out}");
        assert!(out.contains("FROM build-base-base AS build-base\nRUN install-deps"), "{out}");
        assert!(out.contains("FROM build-base AS build\nCOPY src ./src\nRUN make"), "{out}");
    }
}
