//! Spec → stage graph: resolves `from=`, `copy from=` and `bind from=` to
//! stages or images, and reports duplicate stages, unknown references and
//! dependency cycles with spans on both ends.

use std::collections::{BTreeSet, HashMap};

use crate::diag::{Code, Diagnostic, Diagnostics, Parsed};
use crate::graph::image_ref;
use crate::graph::{walk, Base, Dep, EdgeKind, Graph, Stage, StageId};
use crate::source::{Span, Spanned};
use crate::spec::{Role, Spec, Step, StepKind};
use crate::syntax::names;

/// Builds the graph of a spec. `None` when the references cannot be
/// resolved; the diagnostics say why.
pub fn build(spec: &Spec) -> Parsed<Option<Graph>> {
    let mut diags = Diagnostics::default();
    let value = build_inner(spec, &mut diags);
    Parsed { value, diagnostics: diags.into_sorted() }
}

fn build_inner(spec: &Spec, diags: &mut Diagnostics) -> Option<Graph> {
    // An empty spec is reported by the lowering.
    if spec.stages.is_empty() {
        return None;
    }
    let mut by_name: HashMap<&str, StageId> = HashMap::new();
    for (i, stage) in spec.stages.iter().enumerate() {
        if let Some(first) = by_name.get(stage.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateStage,
                    stage.name.span,
                    format!("a stage named `{}` already exists", stage.name.value),
                )
                .label("second definition")
                .related(spec.stages[first.0].name.span, "first defined here")
                .help("rename one of the stages"),
            );
        } else {
            by_name.insert(&stage.name, StageId(i));
        }
    }
    let resolver = Resolver { spec, by_name: &by_name };
    let mut stages = Vec::new();
    for (i, stage) in spec.stages.iter().enumerate() {
        let id = StageId(i);
        let mut deps = Vec::new();
        let base = resolver.base(id, &stage.from, diags);
        match &base {
            Base::Stage(on) => deps.push(Dep { on: *on, kind: EdgeKind::From, span: stage.from.span }),
            Base::Dynamic { candidates, .. } => deps.extend(
                candidates.iter().map(|on| Dep { on: *on, kind: EdgeKind::From, span: stage.from.span }),
            ),
            Base::Image(_) | Base::Scratch => {}
        }
        for_each_step(&stage.steps, &mut |step| resolver.step_deps(id, step, &mut deps, diags));
        stages.push(Stage {
            id,
            role: stage.role,
            name: stage.name.clone(),
            from: stage.from.clone(),
            base,
            platform: stage.platform.clone(),
            gate: stage.gate,
            steps: stage.steps.clone(),
            gates: Vec::new(),
            deps,
            span: stage.span,
        });
    }
    let target = spec
        .stages
        .iter()
        .rposition(|s| s.role == Role::Runtime)
        .unwrap_or(spec.stages.len() - 1);
    let mut graph = Graph {
        context: spec.context.clone(),
        args: spec.args.clone(),
        stages,
        order: Vec::new(),
        target: StageId(target),
        rewrites: Vec::new(),
    };
    report_cycles(&graph, diags);
    if diags.has_errors() {
        return None;
    }
    let all: BTreeSet<StageId> = graph.stages.iter().map(|s| s.id).collect();
    graph.order = walk::topological_order(&graph, &all, Some(graph.target));
    Some(graph)
}

/// Calls `f` on every step, descending into `deps` blocks.
pub fn for_each_step<'a>(steps: &'a [Step], f: &mut impl FnMut(&'a Step)) {
    for step in steps {
        f(step);
        if let StepKind::Deps(inner) = &step.kind {
            for_each_step(inner, f);
        }
    }
}

struct Resolver<'a> {
    spec: &'a Spec,
    by_name: &'a HashMap<&'a str, StageId>,
}

impl Resolver<'_> {
    /// Resolves a `from=` value of stage `id`.
    fn base(&self, id: StageId, from: &Spanned<String>, diags: &mut Diagnostics) -> Base {
        if from.value == "scratch" {
            return Base::Scratch;
        }
        match self.reference(id, from, "from", diags) {
            Reference::Stage(on) => Base::Stage(on),
            Reference::Dynamic(candidates) => Base::Dynamic { pattern: from.value.clone(), candidates },
            Reference::Image | Reference::Invalid => Base::Image(from.value.clone()),
        }
    }

    fn step_deps(&self, id: StageId, step: &Step, deps: &mut Vec<Dep>, diags: &mut Diagnostics) {
        let mut push = |value: &Spanned<String>, kind: EdgeKind, what: &str, diags: &mut Diagnostics| {
            if value.contains('$') {
                diags.push(
                    Diagnostic::error(Code::InvalidValue, value.span, format!("{what}= cannot use build args"))
                        .label("not expanded here")
                        .help("BuildKit does not expand args in --from; add a stage `builder \"src\" from=\"${ARG}\"` and copy from it"),
                );
                return;
            }
            if value.value == "scratch" {
                diags.push(
                    Diagnostic::error(Code::InvalidValue, value.span, format!("{what}=\"scratch\" has nothing to copy"))
                        .label("the empty image")
                        .help("name a stage or an image that holds the files"),
                );
                return;
            }
            match self.reference(id, value, what, diags) {
                Reference::Stage(on) => deps.push(Dep { on, kind, span: value.span }),
                Reference::Dynamic(candidates) => {
                    deps.extend(candidates.into_iter().map(|on| Dep { on, kind, span: value.span }))
                }
                Reference::Image | Reference::Invalid => {}
            }
        };
        match &step.kind {
            StepKind::Copy(copy) => {
                if let Some(from) = &copy.from {
                    push(from, EdgeKind::CopyFrom, "copy from", diags);
                }
            }
            StepKind::Run(run) => {
                for bind in &run.binds {
                    if let Some(from) = &bind.from {
                        push(from, EdgeKind::BindFrom, "bind from", diags);
                    }
                }
            }
            _ => {}
        }
    }

    /// What a reference to a stage-or-image names.
    fn reference(&self, id: StageId, value: &Spanned<String>, what: &str, diags: &mut Diagnostics) -> Reference {
        if let Some(on) = self.by_name.get(value.as_str()) {
            if *on == id {
                diags.push(
                    Diagnostic::error(
                        Code::DependencyCycle,
                        value.span,
                        format!("stage `{}` refers to itself", value.value),
                    )
                    .label("refers to its own stage")
                    .help("a stage cannot start from or copy out of itself; name another stage or an image"),
                );
                return Reference::Invalid;
            }
            return Reference::Stage(*on);
        }
        let refs = image_ref::arg_refs(value);
        if !refs.is_empty() {
            let mut ok = true;
            for (_, name) in &refs {
                if !self.spec.args.iter().any(|a| a.name.value == *name) {
                    let known: Vec<&str> = self.spec.args.iter().map(|a| a.name.as_str()).collect();
                    let help = match names::suggest(name, known.iter().copied()) {
                        Some(it) => format!("did you mean `{it}`? Global args are declared at the top level: arg \"{it}\" default=\"…\""),
                        None => format!("declare it at the top level: arg \"{name}\" default=\"…\""),
                    };
                    diags.push(
                        Diagnostic::error(Code::UnknownArg, value.span, format!("`${{{name}}}` in {what}= names no global arg"))
                            .label(format!("`{name}` is not declared"))
                            .help(help),
                    );
                    ok = false;
                }
            }
            if !ok {
                return Reference::Invalid;
            }
            let candidates: Vec<StageId> = self.spec.stages[..id.0]
                .iter()
                .enumerate()
                .filter(|(_, s)| image_ref::pattern_matches(value, &s.name))
                .filter(|(i, _)| self.by_name.get(self.spec.stages[*i].name.as_str()) == Some(&StageId(*i)))
                .map(|(i, _)| StageId(i))
                .collect();
            if !candidates.is_empty() {
                return Reference::Dynamic(candidates);
            }
        }
        let bare_word = !value.contains(['/', ':', '@', '.', '$']);
        let valid = image_ref::is_valid(value);
        let stage_names = || self.spec.stages.iter().map(|s| s.name.as_str());
        // Only a bare word or an invalid reference may be a misspelt stage.
        let suggestion = if valid && !bare_word {
            None
        } else {
            names::suggest(value, stage_names().filter(|n| *n != self.spec.stages[id.0].name.value))
        };
        match (valid, bare_word, suggestion) {
            (true, true, Some(it)) | (false, _, Some(it)) => {
                diags.push(
                    Diagnostic::error(Code::UnknownStage, value.span, format!("no stage named `{}`", value.value))
                        .label("unknown stage")
                        .related(self.spec.stages[self.by_name[it].0].name.span, format!("`{it}` is defined here"))
                        .help(format!("did you mean `{it}`? (to use an image of that name, add a tag: \"{}:latest\")", value.value)),
                );
                Reference::Invalid
            }
            (true, _, _) => Reference::Image,
            (false, _, None) => {
                let stage_names: Vec<&str> = stage_names().collect();
                let help = if stage_names.is_empty() {
                    "write an image reference such as \"debian:bookworm-slim\"".to_owned()
                } else {
                    format!("name a stage ({}) or write an image reference such as \"debian:bookworm-slim\"", stage_names.join(", "))
                };
                diags.push(
                    Diagnostic::error(
                        Code::InvalidImageRef,
                        value.span,
                        format!("`{}` is neither a stage of this file nor a valid image reference", value.value),
                    )
                    .label("not a stage or image")
                    .help(help),
                );
                Reference::Invalid
            }
        }
    }
}

enum Reference {
    Stage(StageId),
    Dynamic(Vec<StageId>),
    Image,
    Invalid,
}

/// Reports every dependency cycle once, at the reference that closes it,
/// with the other stages of the loop as secondary spans.
fn report_cycles(graph: &Graph, diags: &mut Diagnostics) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(graph: &Graph, id: StageId, marks: &mut [Mark], path: &mut Vec<(StageId, Span)>, diags: &mut Diagnostics) {
        marks[id.0] = Mark::Active;
        for dep in &graph.stage(id).deps {
            match marks[dep.on.0] {
                Mark::Done => {}
                Mark::Active => {
                    let start = path.iter().position(|(s, _)| *s == dep.on).unwrap_or(0);
                    let mut loop_names: Vec<&str> =
                        path[start..].iter().map(|(s, _)| graph.stage(*s).name.as_str()).collect();
                    loop_names.push(graph.stage(id).name.as_str());
                    loop_names.push(graph.stage(dep.on).name.as_str());
                    loop_names.dedup();
                    let mut diag = Diagnostic::error(
                        Code::DependencyCycle,
                        dep.span,
                        format!("stages depend on each other in a loop: {}", loop_names.join(" → ")),
                    )
                    .label(format!("`{}` needs `{}` here", graph.stage(id).name.value, graph.stage(dep.on).name.value))
                    .help("break the loop: one of these stages must not need the other");
                    diag = diag.related(graph.stage(dep.on).name.span, format!("`{}` is defined here", graph.stage(dep.on).name.value));
                    for (s, span) in &path[start..] {
                        if *s != id {
                            diag = diag.related(*span, format!("`{}` needs the next stage here", graph.stage(*s).name.value));
                        }
                    }
                    diags.push(diag);
                }
                Mark::New => {
                    path.push((id, dep.span));
                    visit(graph, dep.on, marks, path, diags);
                    path.pop();
                }
            }
        }
        marks[id.0] = Mark::Done;
    }
    let mut marks = vec![Mark::New; graph.stages.len()];
    for stage in &graph.stages {
        if marks[stage.id.0] == Mark::New {
            visit(graph, stage.id, &mut marks, &mut Vec::new(), diags);
        }
    }
}
