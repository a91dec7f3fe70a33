//! `buildspec generate [ROOT]`: a spec for every deployable package of a
//! workspace, from templates, written only where something changes and
//! never over a hand edit without `--force`.

use std::path::PathBuf;

use crate::cli::{Failed, Format, Ui};
use crate::template::{Action, Plan, PlanError, PlanOpts};

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// The workspace root [default: .]
    pub root: Option<PathBuf>,
    /// Replace specs (and shared fragments) edited by hand too.
    #[arg(long)]
    pub force: bool,
    /// Say what would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: &GenerateArgs, ui: &Ui) -> Result<(), Failed> {
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("."));
    let tree = crate::workspace::tree::read_tree(&root).map_err(|e| ui.error(e))?;
    let detection = crate::detect::detect(&tree);
    let plan = crate::template::plan(&detection, &tree, &PlanOpts { force: args.force, shared_fragments: true });
    if !plan.errors.is_empty() {
        return Err(report_errors(&plan, ui));
    }
    let written = if args.dry_run {
        0
    } else {
        crate::template::write::write(&root, &plan.files).map_err(|e| ui.error(format!("writing the specs below {}: {e}", root.display())))?
    };
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "root": root.display().to_string(),
                "dry_run": args.dry_run,
                "packages": plan.packages.iter().map(|p| serde_json::json!({
                    "dir": p.dir, "name": p.name, "kind": p.kind, "template": p.template,
                    "detected_from": p.detected_from, "context": p.context, "uses": p.uses,
                })).collect::<Vec<_>>(),
                "skipped": plan.skipped,
                "files": plan.files,
                "written": written,
            });
            println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        }
        Format::Text => print_report(&plan, args.dry_run),
    }
    Ok(())
}

fn print_report(plan: &Plan, dry_run: bool) {
    let shown = |dir: &str| if dir.is_empty() { ".".to_owned() } else { dir.to_owned() };
    let width = plan.packages.iter().map(|p| shown(&p.dir).len()).chain(plan.skipped.iter().map(|s| shown(&s.dir).len())).max().unwrap_or(1);
    println!("{} deployable package{}:", plan.packages.len(), if plan.packages.len() == 1 { "" } else { "s" });
    for p in &plan.packages {
        let uses = if p.uses.is_empty() { String::new() } else { format!("; uses {}", p.uses.join(", ")) };
        println!("  {:width$}  {} (from {}{uses})", shown(&p.dir), p.kind, p.detected_from);
    }
    if !plan.skipped.is_empty() {
        println!("no image:");
        for s in &plan.skipped {
            println!("  {:width$}  {} (from {})", shown(&s.dir), s.why, s.detected_from);
        }
    }
    let verb = |a: Action| match (a, dry_run) {
        (Action::Create, false) => "wrote",
        (Action::Create, true) => "would write",
        (Action::Update, false) => "updated",
        (Action::Update, true) => "would update",
        (Action::Overwrite, false) => "overwrote",
        (Action::Overwrite, true) => "would overwrite",
        (Action::UpToDate, _) => "up to date",
        (Action::Kept, _) => "kept",
    };
    for f in plan.files.iter().filter(|f| f.action != Action::UpToDate) {
        match &f.reason {
            Some(reason) => println!("{:>15}  {} ({reason})", verb(f.action), f.path),
            None => println!("{:>15}  {}", verb(f.action), f.path),
        }
    }
    let n = |a: Action| plan.files.iter().filter(|f| f.action == a).count();
    let changes = n(Action::Create) + n(Action::Update) + n(Action::Overwrite);
    if changes == 0 {
        println!("up to date: nothing to write ({} files checked, {} kept)", plan.files.len(), n(Action::Kept));
    } else {
        let what = if dry_run { "would be written" } else { "written" };
        println!("{changes} file{} {what}, {} up to date, {} kept", if changes == 1 { "" } else { "s" }, n(Action::UpToDate), n(Action::Kept));
    }
}

/// Renders every template and compile error, each naming its package and
/// template; nothing was written.
pub(crate) fn report_errors(plan: &Plan, ui: &Ui) -> Failed {
    for err in &plan.errors {
        match err {
            PlanError::Render { package, error } => {
                let for_package = if package.is_empty() { String::new() } else { format!(" for package {}", if package.is_empty() { "." } else { package }) };
                eprintln!("error: rendering {}{for_package}: {}", error.file, error.message);
                if let Some(line) = error.line {
                    eprintln!("  --> {}:{line}", error.file);
                }
            }
            PlanError::Compile { package, template, sources, diagnostics } => {
                ui.diagnostics(sources, diagnostics);
                eprintln!(
                    "error: {template} rendered a spec for package {} that does not compile (shown above as {})",
                    if package.is_empty() { "." } else { package },
                    sources.root().name
                );
            }
        }
    }
    let n = plan.errors.len();
    ui.error(format!("{n} package{} could not get a spec; nothing was written", if n == 1 { "" } else { "s" }))
}
