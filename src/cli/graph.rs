//! `buildspec graph`: the optimized stage graph as DOT, Mermaid or JSON,
//! for a README or a CI job summary.

use std::path::PathBuf;

use crate::cli::{read_spec, spec_path, Failed, Ui};

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
    let path = spec_path(args.spec.as_deref());
    let parsed = read_spec(&path, ui)?;
    let opts = crate::CompileOpts { target: args.target.clone(), ..crate::workspace::context_opts(&path, &parsed) };
    let compiled = crate::compile_parsed(&parsed, &opts).map_err(|f| ui.failure(&f))?;
    ui.diagnostics(&compiled.sources, &compiled.warnings);
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
