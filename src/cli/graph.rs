//! `buildspec graph`: the optimized stage graph as DOT, Mermaid or JSON,
//! for a README or a CI job summary.

use std::path::PathBuf;

use crate::cli::{compile_for_report, Failed, Ui};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The spec file [default: ./buildspec.kdl]
    pub spec: Option<PathBuf>,
    /// The graph of this stage's build instead of the default target's.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
}

pub fn run(args: &GraphArgs, ui: &Ui) -> Result<(), Failed> {
    let compiled = compile_for_report(args.spec.as_deref(), args.target.clone(), ui)?;
    let diagram = crate::diagram::diagram(&compiled.graph);
    print!(
        "{}",
        match args.format {
            GraphFormat::Dot => crate::diagram::to_dot(&diagram),
            GraphFormat::Mermaid => crate::diagram::to_mermaid(&diagram),
            GraphFormat::Json => crate::diagram::to_json(&diagram),
        }
    );
    Ok(())
}
