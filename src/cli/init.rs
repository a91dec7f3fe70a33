//! `buildspec init [DIR]`: detects what kind of project DIR is and writes
//! `DIR/buildspec.kdl` for it, self-contained (no shared fragments).

use std::path::PathBuf;

use crate::cli::{Failed, Ui};
use crate::template::{Action, PlanOpts};

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The project directory [default: .]
    pub dir: Option<PathBuf>,
    /// Replace an existing buildspec.kdl.
    #[arg(long)]
    pub force: bool,
}

/// What init looks for, for the message when it finds nothing.
const LOOKED_FOR: &str = "Cargo.toml with a binary target, go.mod with a main package, package.json with a start script (or a build script and an index.html), pyproject.toml or requirements.txt with a way to start ([project.scripts], __main__.py), or an index.html";

pub fn run(args: &InitArgs, ui: &Ui) -> Result<(), Failed> {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let tree = crate::workspace::tree::read_tree(&dir).map_err(|e| ui.error(e))?;
    let mut detection = crate::detect::detect(&tree);
    let elsewhere: Vec<String> = detection.packages.iter().filter(|p| !p.dir.is_empty()).map(|p| p.dir.clone()).collect();
    detection.packages.retain(|p| p.dir.is_empty());
    let Some(package) = detection.packages.first().cloned() else {
        if !elsewhere.is_empty() {
            return Err(ui.error(format!(
                "{} holds no project of its own but {} below it ({}): run `buildspec generate {}` for a spec each",
                dir.display(),
                elsewhere.len(),
                elsewhere.join(", "),
                dir.display()
            )));
        }
        for s in detection.skipped.iter().filter(|s| s.dir.is_empty()) {
            eprintln!("note: {} (from {})", s.why, s.detected_from);
        }
        return Err(ui.error(format!("no project to build in {}: looked for {LOOKED_FOR}", dir.display())));
    };
    detection.packages.truncate(1);
    detection.skipped.clear();
    let plan = crate::template::plan(&detection, &tree, &PlanOpts { force: true, shared_fragments: false });
    if !plan.errors.is_empty() {
        return Err(crate::cli::generate::report_errors(&plan, ui));
    }
    let spec = dir.join("buildspec.kdl");
    let file = plan.files.iter().find(|f| f.package.is_some()).expect("a planned spec");
    if file.action != Action::Create && file.action != Action::UpToDate && !args.force {
        return Err(ui.error(format!("{} exists: init leaves it as it is (--force replaces it)", spec.display())));
    }
    println!("detected {} (from {})", package.kind, package.detected_from);
    if file.action == Action::UpToDate {
        println!("{} is up to date", spec.display());
        return Ok(());
    }
    crate::template::write::write(&dir, std::slice::from_ref(file)).map_err(|e| ui.error(format!("writing {}: {e}", spec.display())))?;
    println!("wrote {}", spec.display());
    Ok(())
}
