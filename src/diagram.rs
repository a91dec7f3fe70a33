//! The stage graph as a picture: `buildspec graph` renders the optimized
//! graph as Graphviz DOT, Mermaid or JSON. Pure: graph in, text out.
//!
//! What it shows: each emitted stage with its role (a test says whether
//! it gates), the images stages start from, copy out of or bind, the edges that
//! make one stage wait for another (`from`, `copy`, `bind`, `gate`), and
//! the waves: stages in one wave wait for nothing in it or later, so
//! BuildKit may run them at once.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::graph::{Base, EdgeKind, Graph, StageId};
use crate::spec::Role;

/// The version of the JSON document's shape (docs/schemas/graph.schema.json).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Diagram {
    pub schema_version: u32,
    /// The stage a plain build builds.
    pub target: String,
    /// In build order.
    pub stages: Vec<StageNode>,
    /// Images that stages start from, copy out of or bind, sorted.
    pub images: Vec<String>,
    /// Grouped by the waiting stage, in build order; then by kind and source.
    pub edges: Vec<Edge>,
    /// Stage names by wave: every stage waits only for stages of earlier waves.
    pub waves: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageNode {
    pub name: String,
    pub role: &'static str,
    /// A test that the runtimes wait for (`gate=#false` makes it not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gates: Option<bool>,
    /// The image, stage or `scratch` it starts from.
    pub from: String,
    pub steps: usize,
    pub wave: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    /// The stage or image waited for.
    pub from: String,
    /// The stage that waits.
    pub to: String,
    /// `from`, `copy`, `bind` or `gate`.
    pub kind: &'static str,
    /// Whether `from` is an image rather than a stage.
    pub image: bool,
}

fn kind_name(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::From => "from",
        EdgeKind::CopyFrom => "copy",
        EdgeKind::BindFrom => "bind",
        EdgeKind::Gate => "gate",
    }
}

/// The diagram of the stages `graph` emits.
pub fn diagram(graph: &Graph) -> Diagram {
    let name = |id: StageId| graph.stage(id).name.value.clone();
    let emitted: std::collections::BTreeSet<StageId> = graph.order.iter().copied().collect();
    let by_wave = graph.waves();
    let wave: BTreeMap<StageId, usize> = by_wave.iter().enumerate().flat_map(|(n, ids)| ids.iter().map(move |id| (*id, n))).collect();
    let mut edges = std::collections::BTreeSet::new();
    let mut images = std::collections::BTreeSet::new();
    for &id in &graph.order {
        let stage = graph.stage(id);
        for dep in stage.deps.iter().filter(|d| emitted.contains(&d.on)) {
            edges.insert(Edge { from: name(dep.on), to: name(id), kind: kind_name(dep.kind), image: false });
        }
        for (kind, image, _) in graph.image_refs(stage) {
            images.insert(image.to_owned());
            edges.insert(Edge { from: image.to_owned(), to: name(id), kind: kind_name(kind), image: true });
        }
    }
    let waves: Vec<Vec<String>> = by_wave.iter().map(|ids| ids.iter().map(|id| name(*id)).collect()).collect();
    let mut edges: Vec<Edge> = edges.into_iter().collect();
    let position: BTreeMap<String, usize> = graph.order.iter().enumerate().map(|(n, &id)| (name(id), n)).collect();
    edges.sort_by(|a, b| (position[&a.to], a.kind, a.image, &a.from).cmp(&(position[&b.to], b.kind, b.image, &b.from)));
    let stages = graph
        .order
        .iter()
        .map(|&id| {
            let stage = graph.stage(id);
            StageNode {
                name: name(id),
                role: stage.role.as_str(),
                gates: (stage.role == Role::Test).then_some(stage.gate),
                from: match &stage.base {
                    Base::Stage(on) => name(*on),
                    Base::Image(image) => image.clone(),
                    Base::Scratch => "scratch".to_owned(),
                    Base::Dynamic { pattern, .. } => pattern.clone(),
                },
                steps: stage.steps.len(),
                wave: wave[&id],
            }
        })
        .collect();
    Diagram { schema_version: SCHEMA_VERSION, target: name(graph.target), stages, images: images.into_iter().collect(), edges, waves }
}

/// A DOT string literal.
fn dot_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

/// What a stage's box says: its name, role and what a test does.
fn stage_label(stage: &StageNode, target: &str, line_break: &str) -> String {
    let mut role = stage.role.to_owned();
    match stage.gates {
        Some(true) => role.push_str(", gates"),
        Some(false) => role.push_str(", does not gate"),
        None => {}
    }
    if stage.name == target {
        role.push_str(", default target");
    }
    format!("{}{line_break}{role}", stage.name)
}

fn fill(role: &str) -> &'static str {
    match role {
        "builder" => "#dbeafe",
        "test" => "#fef3c7",
        _ => "#dcfce7",
    }
}

/// Graphviz DOT: `dot -Tsvg` draws it.
pub fn to_dot(d: &Diagram) -> String {
    let mut out = String::from("digraph buildspec {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n");
    for image in &d.images {
        out.push_str(&format!("  {} [label={}, shape=note, style=dashed];\n", dot_quote(&format!("image {image}")), dot_quote(image)));
    }
    for stage in &d.stages {
        out.push_str(&format!("  {} [label={}, fillcolor=\"{}\"];\n", dot_quote(&stage.name), dot_quote(&stage_label(stage, &d.target, "\n")), fill(stage.role)));
    }
    for e in &d.edges {
        let from = if e.image { format!("image {}", e.from) } else { e.from.clone() };
        let style = if e.kind == "gate" { ", style=dashed" } else { "" };
        out.push_str(&format!("  {} -> {} [label={}{style}];\n", dot_quote(&from), dot_quote(&e.to), dot_quote(e.kind)));
    }
    for (n, wave) in d.waves.iter().enumerate().filter(|(_, w)| w.len() > 1) {
        let names: Vec<String> = wave.iter().map(|s| dot_quote(s)).collect();
        out.push_str(&format!("  {{ rank=same; {}; }} // wave {n}: may run at once\n", names.join("; ")));
    }
    out.push_str("}\n");
    out
}

/// A Mermaid label: in double quotes, with `"` as an entity.
fn mermaid_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "#quot;"))
}

/// A Mermaid flowchart: GitHub and GitLab draw it in Markdown.
pub fn to_mermaid(d: &Diagram) -> String {
    let stage_id: BTreeMap<&str, String> = d.stages.iter().enumerate().map(|(n, s)| (s.name.as_str(), format!("s{n}"))).collect();
    let image_id: BTreeMap<&str, String> = d.images.iter().enumerate().map(|(n, i)| (i.as_str(), format!("i{n}"))).collect();
    let mut out = String::from("flowchart LR\n");
    for (image, id) in d.images.iter().map(|i| (i, &image_id[i.as_str()])) {
        out.push_str(&format!("  {id}[({})]\n", mermaid_quote(image)));
    }
    for stage in &d.stages {
        out.push_str(&format!("  {}[{}]\n", stage_id[stage.name.as_str()], mermaid_quote(&stage_label(stage, &d.target, "<br/>"))));
    }
    for e in &d.edges {
        let from = if e.image { &image_id[e.from.as_str()] } else { &stage_id[e.from.as_str()] };
        let arrow = if e.kind == "gate" { "-.->" } else { "-->" };
        out.push_str(&format!("  {from} {arrow}|{}| {}\n", e.kind, stage_id[e.to.as_str()]));
    }
    out.push_str("  classDef builder fill:#dbeafe,stroke:#1e40af\n  classDef test fill:#fef3c7,stroke:#92400e\n  classDef runtime fill:#dcfce7,stroke:#166534\n  classDef image fill:#f3f4f6,stroke:#6b7280,stroke-dasharray:4\n");
    for role in ["builder", "test", "runtime"] {
        let ids: Vec<&str> = d.stages.iter().filter(|s| s.role == role).map(|s| stage_id[s.name.as_str()].as_str()).collect();
        if !ids.is_empty() {
            out.push_str(&format!("  class {} {role}\n", ids.join(",")));
        }
    }
    if !d.images.is_empty() {
        out.push_str(&format!("  class {} image\n", image_id.values().map(String::as_str).collect::<Vec<_>>().join(",")));
    }
    out
}

/// The diagram as pretty JSON (docs/schemas/graph.schema.json).
pub fn to_json(d: &Diagram) -> String {
    serde_json::to_string_pretty(d).expect("a diagram serializes") + "\n"
}
