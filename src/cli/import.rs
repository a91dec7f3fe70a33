//! `buildspec import`: reads a Dockerfile and the .dockerignore beside it,
//! writes the spec (checked to compile), and says what it inferred.

use std::path::{Path, PathBuf};

use crate::cli::{Failed, Format, Ui};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The Dockerfile [default: ./Dockerfile]
    pub dockerfile: Option<PathBuf>,
    /// Write the spec to FILE instead of printing it.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
    /// `json`: print the inferred stages and the spec as one document.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The .dockerignore BuildKit would use: `NAME.dockerignore` beside the
/// Dockerfile first, then `.dockerignore` in its directory.
fn dockerignore_of(dockerfile: &Path) -> Option<String> {
    let dir = dockerfile.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let own = dockerfile.file_name().map(|n| dir.join(format!("{}.dockerignore", n.to_string_lossy())));
    own.into_iter().chain([dir.join(".dockerignore")]).find_map(|p| std::fs::read_to_string(p).ok())
}

pub fn run(args: &ImportArgs, ui: &Ui) -> Result<(), Failed> {
    let path = args.dockerfile.clone().unwrap_or_else(|| PathBuf::from("Dockerfile"));
    let text = std::fs::read_to_string(&path).map_err(|e| ui.error(format!("reading {}: {e}", path.display())))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "Dockerfile".to_owned());
    let imported = crate::import::import(&text, dockerignore_of(&path).as_deref(), &name).map_err(|e| {
        eprintln!("error: {}:{}:{}: {}", path.display(), e.line, e.column, e.message);
        eprintln!("  help: {}", e.help);
        Failed
    })?;
    // What was written must compile (on any frontend: `copy exclude=`
    // needs --syntax on the built-in one, which compile then says).
    let source = crate::source::SourceFile::new(args.output.as_ref().map_or("buildspec.kdl".to_owned(), |o| o.display().to_string()), imported.kdl.clone());
    let opts = crate::CompileOpts { frontend: crate::Frontend::Direct, ..crate::CompileOpts::new() };
    if let Err(failure) = crate::compile(&source, &opts) {
        // Values the Dockerfile holds that no build accepts (a bad port,
        // checksum, image name): named by their Dockerfile line.
        for d in failure.diagnostics.iter().filter(|d| d.is_error()) {
            let at = d.span.map(|s| failure.sources.locate(s.offset).line).and_then(|l| imported.dockerfile_line(l));
            match at {
                Some(line) => eprintln!("error: {}:{line}: {}", path.display(), d.message),
                None => eprintln!("error: {}: {}", path.display(), d.message),
            }
            if let Some(help) = &d.help {
                eprintln!("  help: {help}");
            }
        }
        return Err(Failed);
    }
    match args.format {
        Format::Json => {
            let stages: Vec<serde_json::Value> = imported
                .stages
                .iter()
                .map(|s| serde_json::json!({ "name": s.name, "role": s.role, "from": s.from, "line": s.line, "why": s.why }))
                .collect();
            let doc = serde_json::json!({ "version": 1, "dockerfile": path.display().to_string(), "stages": stages, "spec": imported.kdl });
            println!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
        }
        Format::Text => {
            for s in &imported.stages {
                eprintln!("{:>8} {} ({}:{}, from {}): {}", s.role, s.name, name, s.line, s.from, s.why);
            }
        }
    }
    match &args.output {
        Some(out) => {
            if out.exists() && !args.force {
                return Err(ui.error(format!("{} exists: pass --force to overwrite it", out.display())));
            }
            crate::cli::compile::write_files(&[(out.clone(), imported.kdl.as_str())]).map_err(|e| ui.error(format!("writing {}: {e}", out.display())))?;
            eprintln!("wrote {}; `buildspec explain` shows what the optimizer changes", out.display());
        }
        None if matches!(args.format, Format::Text) => print!("{}", imported.kdl),
        None => {}
    }
    Ok(())
}
