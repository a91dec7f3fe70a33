//! `buildspec plan --changed PATH…`: which steps a change would re-execute.

use std::path::PathBuf;

use crate::cli::{read_spec, spec_path, Failed, Format, Ui};

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The spec file [default: ./buildspec.kdl]
    pub spec: Option<PathBuf>,
    /// Paths that changed, relative to the build context (repeatable, or
    /// several after one flag).
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    pub changed: Vec<String>,
    /// Plan for this stage instead of the default target.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Plan the literal lowering instead of the optimized one.
    #[arg(long)]
    pub no_optimize: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: &PlanArgs, ui: &Ui) -> Result<(), Failed> {
    let path = spec_path(args.spec.as_deref());
    let parsed = read_spec(&path, ui)?;
    let opts = crate::CompileOpts {
        target: args.target.clone(),
        optimize: !args.no_optimize,
        ..crate::workspace::context_opts(&path, &parsed)
    };
    let compiled = crate::compile_parsed(&parsed, &opts).map_err(|f| ui.failure(&f))?;
    let steps = crate::plan::plan(&compiled, &args.changed);
    let target = compiled.graph.stage(compiled.graph.target).name.value.clone();
    match args.format {
        Format::Json => {
            let steps: Vec<_> = steps
                .iter()
                .map(|s| {
                    serde_json::json!({"stage": s.stage, "file": s.at.name, "line": s.at.line, "instruction": s.instruction, "rebuild": s.rebuild, "certain": s.certain})
                })
                .collect();
            let doc = serde_json::json!({"schema_version": 1, "target": target, "changed": args.changed, "steps": steps});
            println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        }
        Format::Text => {
            println!("target `{target}`, changed: {}", args.changed.join(", "));
            let mut stage = "";
            for s in &steps {
                if s.stage != stage {
                    stage = &s.stage;
                    println!("stage {stage}");
                }
                let status = match (s.rebuild, s.certain) {
                    (true, true) => "rebuild",
                    (true, false) => "maybe  ",
                    (false, _) => "cached ",
                };
                println!("  {status}  {}:{:<4} {}", s.at.name, s.at.line, s.instruction);
            }
            let n = steps.iter().filter(|s| s.rebuild).count();
            match steps.iter().filter(|s| s.rebuild && !s.certain).count() {
                0 => println!("{n} of {} steps re-execute", steps.len()),
                maybe => println!(
                    "{n} of {} steps re-execute ({maybe} maybe: only if a re-run RUN wrote different bytes where it copies from)",
                    steps.len()
                ),
            }
        }
    }
    Ok(())
}
