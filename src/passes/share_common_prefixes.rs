//! Common prefixes: stages that start from the same base with the same
//! leading steps share one stage that does that work once.
//!
//! ```text
//! builder "api" from="debian" { packages "gcc"; run "make api" }
//! builder "cli" from="debian" { packages "gcc"; run "make cli" }
//! ⇒ builder "api-base" from="debian" { packages "gcc" }
//!   builder "api" from="api-base" { run "make api" }
//!   builder "cli" from="api-base" { run "make cli" }
//! ```
//!
//! Only prefixes that do work (a RUN, `packages`, a `deps` block) are
//! shared, and a prefix stops before an `arg` (args do not carry over
//! from one stage to the next). When one stage is the whole prefix, the
//! others start from it instead of from a new stage.
//!
//! Cost: O(stages + steps) per shared group found (stages are grouped by
//! base, platform and first step before any comparison).

use crate::graph::{Base, Graph, Rewrite, Stage, StageId};
use crate::source::Spanned;
use crate::spec::{Role, StepKind};

pub fn share_common_prefixes(mut graph: Graph) -> Graph {
    loop {
        let Some((members, k)) = find_group(&graph) else { return graph };
        graph = share(graph, &members, k);
    }
}

fn texts(graph: &Graph, id: StageId) -> Vec<String> {
    graph.stage(id).steps.iter().map(crate::emit::step_text).collect()
}

fn does_work(kind: &StepKind) -> bool {
    matches!(kind, StepKind::Run(_) | StepKind::Packages(_) | StepKind::Deps(_))
}

/// The first group of stages (by written order) that share a useful
/// prefix, and its length.
/// The first stage (in emit order) with a shared prefix, and the stages it
/// shares its longest prefix with. Only stages with the same base,
/// platform and first step can share one, so stages are grouped by those
/// first and only a group's members are compared: O(stages + steps) per
/// call rather than every pair.
fn find_group(graph: &Graph) -> Option<(Vec<StageId>, usize)> {
    let ids: Vec<StageId> = graph.order.clone();
    let memo: Vec<std::cell::OnceCell<Vec<String>>> = vec![std::cell::OnceCell::new(); graph.stages.len()];
    let texts = |id: StageId| memo[id.0].get_or_init(|| texts(graph, id));
    let group_key = |id: StageId| {
        let stage = graph.stage(id);
        let first = stage.steps.first().map(crate::emit::step_text)?;
        Some((format!("{:?}", stage.base), stage.platform.as_ref().map(|p| p.value.clone()), first))
    };
    let mut groups: std::collections::HashMap<_, Vec<usize>> = std::collections::HashMap::new();
    for (x, &id) in ids.iter().enumerate() {
        if let Some(key) = group_key(id) {
            groups.entry(key).or_default().push(x);
        }
    }
    for (x, &a) in ids.iter().enumerate() {
        let sa = graph.stage(a);
        if matches!(sa.base, Base::Dynamic { .. }) {
            continue;
        }
        let Some(group) = group_key(a).and_then(|key| groups.get(&key)) else { continue };
        let limit = sa.steps.iter().position(|s| matches!(s.kind, StepKind::Arg(_))).unwrap_or(sa.steps.len());
        let mut best: Option<(Vec<StageId>, usize)> = None;
        for &y in group.iter().filter(|&&y| y > x) {
            let b = ids[y];
            let k = texts(a).iter().zip(texts(b)).take(limit).take_while(|(p, q)| p == q).count();
            if k == 0 || !sa.steps[..k].iter().any(|s| does_work(&s.kind)) {
                continue;
            }
            match &mut best {
                Some((members, bk)) if k == *bk => members.push(b),
                Some((_, bk)) if k < *bk => {}
                _ => best = Some((vec![a, b], k)),
            }
        }
        if best.is_some() {
            return best;
        }
    }
    None
}

fn share(mut graph: Graph, members: &[StageId], k: usize) -> Graph {
    let first = members[0];
    // When a member is exactly the prefix, it is the shared stage.
    let whole = members.iter().copied().find(|m| graph.stage(*m).steps.len() == k);
    let shared = match whole {
        Some(id) => id,
        None => {
            let template = graph.stage(first).clone();
            let id = StageId(graph.stages.len());
            let name = super::unique_stage_name(&graph, &format!("{}-base", template.name.value));
            let stage = Stage {
                id,
                role: Role::Builder,
                name: Spanned::new(name, template.name.span),
                from: template.from.clone(),
                base: template.base.clone(),
                platform: template.platform.clone(),
                gate: false,
                steps: template.steps[..k].to_vec(),
                gates: Vec::new(),
                deps: Vec::new(),
                span: template.span,
            };
            graph.stages.push(stage);
            let pos = graph.order.iter().position(|o| *o == first).unwrap_or(0);
            graph.order.insert(pos, id);
            super::recompute_deps(&mut graph, id);
            id
        }
    };
    let shared_name = graph.stage(shared).name.clone();
    for &m in members {
        if m == shared {
            continue;
        }
        let stage = &mut graph.stages[m.0];
        stage.steps.drain(..k);
        stage.from = Spanned::new(shared_name.value.clone(), stage.from.span);
        stage.base = Base::Stage(shared);
        super::recompute_deps(&mut graph, m);
        let message = format!(
            "`{}` starts from `{}`, which holds the {k} leading step(s) it shared with other stages: that work runs once",
            graph.stage(m).name.value, shared_name.value
        );
        let span = graph.stage(m).name.span;
        graph.rewrites.push(Rewrite { pass: "share_common_prefixes", stage: m, message, span });
    }
    // Keep dependencies before their dependents.
    let keep: std::collections::BTreeSet<StageId> = graph.order.iter().copied().collect();
    graph.order = crate::graph::topological_order(&graph, &keep, Some(graph.target));
    graph
}

#[cfg(test)]
mod tests {
    use crate::passes::compiled_text as compile;

    #[test]
    fn a_shared_prefix_becomes_one_stage() {
        let out = compile(
            r#"builder "api" from="debian:bookworm-slim" { run "make deps"; run "make api"; }
builder "cli" from="debian:bookworm-slim" { run "make deps"; run "make cli"; }
runtime "app" from="debian:bookworm-slim" { copy "/api" from="api" to="/api"; copy "/cli" from="cli" to="/cli"; }"#,
        );
        assert_eq!(
            out,
            "FROM debian:bookworm-slim AS api-base\nRUN make deps\nFROM api-base AS api\nRUN make api\nFROM api-base AS cli\nRUN make cli\nFROM debian:bookworm-slim AS app\nCOPY --from=api --link /api /api\nCOPY --from=cli --link /cli /cli"
        );
    }

    #[test]
    fn a_stage_that_is_the_prefix_is_shared_as_it_is() {
        let out = compile(
            r#"builder "tools" from="debian:bookworm-slim" { run "make tools"; }
builder "build" from="debian:bookworm-slim" { run "make tools"; run "make"; }
runtime "app" from="build" { cmd "app"; }"#,
        );
        assert_eq!(
            out,
            "FROM debian:bookworm-slim AS tools\nRUN make tools\nFROM tools AS build\nRUN make\nFROM build AS app\nCMD [\"app\"]"
        );
    }

    #[test]
    fn no_sharing_without_work_or_across_args() {
        let out = compile(
            r#"builder "a" from="debian:bookworm-slim" { workdir "/x"; run "make a"; }
builder "b" from="debian:bookworm-slim" { workdir "/x"; run "make b"; }
runtime "app" from="debian:bookworm-slim" { copy "/x" from="a" to="/a"; copy "/x" from="b" to="/b"; }"#,
        );
        assert!(!out.contains("-base"), "{out}");
    }
}
