//! Copies from a stage take what they copy from the earliest state of that
//! stage that already holds it.
//!
//! ```text
//! builder "build" from="python" {
//!     run "python -m venv /opt/venv"; run "/opt/venv/bin/pip install …"
//!     copy "."
//! }
//! runtime "app" from="python" { copy "/opt/venv" from="build" }
//! ⇒ builder "build-base" from="python" { run "python -m venv …"; run "… pip install …" }
//!   builder "build" from="build-base" { copy "." }
//!   runtime "app" from="python" { copy "/opt/venv" from="build-base" }
//! ```
//!
//! No step after the install can write under `/opt/venv` (a copy or a
//! workdir writes only its destination), so both states hold the same
//! files there, and the copy stops depending on the source copy: a source
//! edit neither re-runs it nor makes BuildKit checksum the virtualenv of a
//! new state again, and the copy runs beside the later steps instead of
//! after them. A RUN may write anywhere, so a copy never moves past one,
//! unless it declares `outputs="…"` that do not overlap the copied path.
//!
//! Only builder stages with no `arg` before the split (args do not carry
//! over to the next stage) and no `platform=` are split; only absolute
//! source paths without `$` or wildcards are followed.
//!
//! Cost: O(moves × (stages + steps)): each move rescans the graph for the
//! next (`rewrite_until_done`), at most one move per copy from a stage.

use crate::graph::{Graph, Rewrite, StageId};
use crate::source::Spanned;
use crate::spec::{Role, StepKind};

use super::facts::{self, PathKey};

pub fn copy_from_earliest(graph: Graph) -> Graph {
    // Splitting stages leaves the context as it is.
    let ignore = facts::ContextIgnore::new(&graph);
    super::rewrite_until_done(graph, |graph| find_movable_copy(graph, &ignore), move_copy)
}

/// A copy (step `step` of stage `consumer`) from stage `source`, whose
/// sources no step of `source` after `last_writer` can write.
struct Movable {
    consumer: StageId,
    step: usize,
    source: StageId,
    last_writer: usize,
}

fn find_movable_copy(graph: &Graph, ignore: &facts::ContextIgnore) -> Option<Movable> {
    for &consumer in &graph.order {
        for (index, step) in graph.stage(consumer).steps.iter().enumerate() {
            let StepKind::Copy(copy) = &step.kind else { continue };
            let Some(source) = copy.from.as_ref().and_then(|f| graph.find(f)) else { continue };
            let stage = graph.stage(source);
            if stage.role != Role::Builder || stage.platform.is_some() || source == consumer {
                continue;
            }
            let Some(paths) = copy.sources.iter().map(plain_absolute).collect::<Option<Vec<_>>>() else {
                continue;
            };
            let workdirs = facts::workdirs(graph, source);
            let last_writer = stage
                .steps
                .iter()
                .zip(&workdirs)
                .rposition(|(step, wd)| paths.iter().any(|p| facts::may_write(step, wd.as_deref(), p, ignore)));
            let Some(last_writer) = last_writer else { continue };
            let before_split = &stage.steps[..=last_writer];
            if last_writer + 1 == stage.steps.len() || before_split.iter().any(|s| matches!(s.kind, StepKind::Arg(_))) {
                continue;
            }
            return Some(Movable { consumer, step: index, source, last_writer });
        }
    }
    None
}

/// A copy source that names one absolute path.
fn plain_absolute(source: &Spanned<String>) -> Option<PathKey> {
    let path = source.value.as_str();
    let plain = path.starts_with('/') && !path.contains('$') && !facts::has_glob(path);
    plain.then(|| PathKey::resolve(path, None))
}

fn move_copy(mut graph: Graph, found: Movable) -> Graph {
    let Movable { consumer, step, source, last_writer } = found;
    let writer = super::instruction_line(&graph.stage(source).steps[last_writer]);
    let base = super::split_stage(&mut graph, source, last_writer);
    let name = graph.stage(base).name.value.clone();

    let StepKind::Copy(copy) = &mut graph.stages[consumer.0].steps[step].kind else {
        unreachable!("find_movable_copy returns copies")
    };
    let from = copy.from.as_mut().expect("a copy from a stage");
    *from = Spanned::new(name.clone(), from.span);
    let what = copy.sources.iter().map(|s| s.value.as_str()).collect::<Vec<_>>().join(" ");
    let copy_span = graph.stage(consumer).steps[step].span;

    super::recompute_deps(&mut graph, consumer);
    super::reorder(&mut graph);

    let source_name = &graph.stage(source).name.value;
    let message = format!(
        "copies {what} from `{name}`, the state of `{source_name}` after the last step that can write there ({}): later steps of `{source_name}` no longer re-run or re-check this copy",
        writer
    );
    graph.rewrites.push(Rewrite { pass: "copy_from_earliest", stage: consumer, message, span: copy_span });
    graph
}

#[cfg(test)]
mod tests {
    use crate::passes::compiled_text as compile;

    #[test]
    fn a_copy_of_what_the_dependency_steps_made_comes_from_their_state() {
        let out = compile(
            r#"builder "build" from="debian:bookworm-slim" { workdir "/app"; run "make deps DEST=/opt/deps"; copy "src"; }
runtime "app" from="debian:bookworm-slim" { copy "/opt/deps" from="build"; copy "/app/src" from="build" to="/src"; }"#,
        );
        assert_eq!(
            out,
            "FROM debian:bookworm-slim AS build-base\nWORKDIR /app\nRUN make deps DEST=/opt/deps\nFROM build-base AS build\nCOPY src ./src\nFROM debian:bookworm-slim AS app\nCOPY --from=build-base --link /opt/deps /opt/deps\nCOPY --from=build --link /app/src /src"
        );
    }

    #[test]
    fn a_later_run_or_a_copy_over_the_path_keeps_the_copy_where_it_was() {
        for steps in [r#"run "make deps"; copy "src"; run "make""#, r#"run "make deps"; copy "vendor" to="/opt/deps/vendor""#] {
            let out = compile(&format!(
                r#"builder "build" from="debian:bookworm-slim" {{ workdir "/app"; {steps}; }}
runtime "app" from="debian:bookworm-slim" {{ copy "/opt/deps" from="build"; }}"#
            ));
            assert!(!out.contains("build-base"), "{steps}:\n{out}");
            assert!(out.contains("COPY --from=build --link /opt/deps"), "{steps}:\n{out}");
        }
    }

    #[test]
    fn a_run_with_outputs_and_a_copy_of_excluded_paths_are_passed() {
        let out = compile(
            r#"context "." { exclude "node_modules"; }
builder "build" from="node:20" { workdir "/app"; copy "package.json"; run "npm ci" inputs="package.json"; copy "."; run "npm run build" outputs="dist"; }
runtime "app" from="node:20" { copy "/app/node_modules" from="build" to="/app/node_modules"; copy "/app/dist" from="build" to="/app/dist"; }"#,
        );
        assert!(out.contains("COPY --from=build-base --link /app/node_modules"), "{out}");
        assert!(out.contains("COPY --from=build --link /app/dist"), "{out}");
        assert!(out.contains("FROM build-base AS build\nCOPY . ./\nRUN "), "{out}");
        // Without the declaration the build may write node_modules.
        let out = compile(&out_spec_without_outputs());
        assert!(!out.contains("build-base"), "{out}");
    }

    fn out_spec_without_outputs() -> String {
        r#"context "." { exclude "node_modules"; }
builder "build" from="node:20" { workdir "/app"; copy "package.json"; run "npm ci" inputs="package.json"; copy "."; run "npm run build"; }
runtime "app" from="node:20" { copy "/app/node_modules" from="build" to="/app/node_modules"; }"#
            .to_owned()
    }

    #[test]
    fn no_split_after_an_arg_or_for_paths_it_cannot_follow() {
        for (steps, copied) in [
            (r#"arg "V"; run "make deps V=$V"; copy "src""#, "/opt/deps"),
            (r#"run "make deps"; copy "src""#, "/opt/dep*"),
            (r#"run "make deps"; copy "src""#, "opt/deps"),
        ] {
            let out = compile(&format!(
                r#"builder "build" from="debian:bookworm-slim" {{ workdir "/app"; {steps}; }}
runtime "app" from="debian:bookworm-slim" {{ copy "{copied}" from="build" to="/deps"; }}"#
            ));
            assert!(!out.contains("build-base"), "{steps} / {copied}:\n{out}");
        }
    }
}
