//! `buildspec explain`: the stage graph and every rewrite the optimizer
//! made, with its reason and spec line.

use std::path::PathBuf;

use crate::cli::{compile_for_report, Failed, Format, Ui};
use crate::graph::{Base, EdgeKind};

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The spec file [default: ./buildspec.kdl]
    pub spec: Option<PathBuf>,
    /// Explain the build of this stage instead of the default target.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: &ExplainArgs, ui: &Ui) -> Result<(), Failed> {
    let compiled = compile_for_report(args.spec.as_deref(), args.target.clone(), ui)?;
    let graph = &compiled.graph;
    let at = |span: crate::source::Span| compiled.sources.locate(span.offset);
    let line = |span: crate::source::Span| at(span).line;
    let stages: Vec<_> = graph
        .order
        .iter()
        .map(|id| {
            let stage = graph.stage(*id);
            let needs: Vec<String> = stage
                .deps
                .iter()
                .map(|d| {
                    let why = match d.kind {
                        EdgeKind::From => "from",
                        EdgeKind::CopyFrom => "copy from",
                        EdgeKind::BindFrom => "bind from",
                        EdgeKind::Gate => "test gate",
                    };
                    format!("{} ({why})", graph.stage(d.on).name.value)
                })
                .collect();
            let base = match &stage.base {
                Base::Stage(on) => format!("stage {}", graph.stage(*on).name.value),
                Base::Image(image) => image.clone(),
                Base::Scratch => "scratch".to_owned(),
                Base::Dynamic { pattern, .. } => format!("{pattern} (a build arg)"),
            };
            (stage, base, needs)
        })
        .collect();
    let mut rewrites = graph.rewrites.clone();
    rewrites.sort_by_key(|r| (r.span.offset, r.pass));
    // A pass that rewrote two steps of one spec line the same way (the two
    // RUNs a dependency split makes of one `run`) says so once.
    let mut seen = std::collections::HashSet::new();
    rewrites.retain(|r| seen.insert((r.span.offset, r.pass, r.stage, r.message.clone())));
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "schema_version": 1,
                "target": graph.stage(graph.target).name.value,
                "stages": stages.iter().map(|(s, base, needs)| serde_json::json!({
                    "name": s.name.value, "role": s.role.as_str(), "file": at(s.span).name, "line": line(s.span), "from": base, "needs": needs,
                })).collect::<Vec<_>>(),
                "rewrites": rewrites.iter().map(|r| serde_json::json!({
                    "pass": r.pass, "stage": graph.stage(r.stage).name.value, "file": at(r.span).name, "line": line(r.span), "message": r.message,
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        }
        Format::Text => {
            println!("stages, in build order (default target `{}`):", graph.stage(graph.target).name.value);
            for (stage, base, needs) in &stages {
                print!("  {} {} ({}) from {base}", stage.role.as_str(), stage.name.value, at(stage.span));
                if !needs.is_empty() {
                    print!("; needs {}", needs.join(", "));
                }
                println!();
            }
            if rewrites.is_empty() {
                println!("no rewrites");
            } else {
                println!("rewrites:");
                for r in &rewrites {
                    println!("  {} [{}] {}: {}", at(r.span), r.pass, graph.stage(r.stage).name.value, r.message);
                }
            }
        }
    }
    Ok(())
}
