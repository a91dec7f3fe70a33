//! `buildspec lock [SPEC] [--check]`: resolves every image the spec names
//! to a digest through the registry API and writes the lock file beside
//! the spec; `--check` fails, naming each image, when a tag has moved.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::{read_spec, spec_path, Failed, Ui};
use crate::lock::{self, Lock};

#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// The spec file [default: ./buildspec.kdl]
    pub spec: Option<PathBuf>,
    /// Write nothing; fail if the lock file is missing an image, names one
    /// the spec no longer uses, or a tag now resolves to another digest.
    #[arg(long)]
    pub check: bool,
}

/// The lock beside `spec` when `locked` is set.
pub fn read_if(locked: bool, spec: &Path, ui: &Ui) -> Result<Option<Arc<Lock>>, Failed> {
    if !locked {
        return Ok(None);
    }
    read(&lock::lock_path(spec), ui).map(|lock| Some(Arc::new(lock)))
}

/// The lock file at `path`, or a one-line error that says how to make it.
fn read(path: &Path, ui: &Ui) -> Result<Lock, Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| ui.error(format!("reading {}: {e}; run `buildspec lock` to write it", path.display())))?;
    lock::parse(&text).map_err(|e| ui.error(format!("{}: {e}; run `buildspec lock` to write it again", path.display())))
}

pub fn run(args: &LockArgs, ui: &Ui) -> Result<(), Failed> {
    let path = spec_path(args.spec.as_deref());
    let parsed = read_spec(&path, ui)?;
    let opts = crate::CompileOpts { optimize: false, ..crate::workspace::context_opts(&path, &parsed) };
    let compiled = crate::compile_parsed(&parsed, &opts).map_err(|f| ui.failure(&f))?;
    let lock_path = lock::lock_path(&path);
    // --check reads the lock before asking any registry.
    let locked = if args.check { Some(read(&lock_path, ui)?) } else { None };
    let mut resolved = Lock::default();
    let mut failed = Vec::new();
    for image in lock::images(&compiled.graph).into_keys() {
        let answer = crate::oci::registry::Reference::parse(&image).and_then(|r| crate::oci::registry::resolve(&r));
        match answer {
            Ok(r) => {
                resolved.images.insert(image, r.digest.to_string());
            }
            Err(e) => failed.push(format!("{image}: {e}")),
        }
    }
    if !failed.is_empty() {
        return Err(ui.error(format!("could not resolve {}:\n  {}", if failed.len() == 1 { "an image" } else { "images" }, failed.join("\n  "))));
    }
    if let Some(locked) = locked {
        let mut problems = Vec::new();
        for (image, digest) in &resolved.images {
            match locked.images.get(image) {
                None => problems.push(format!("{image} is not locked")),
                Some(old) if old != digest => problems.push(format!("{image} moved: locked {old}, now {digest}")),
                Some(_) => {}
            }
        }
        problems.extend(locked.images.keys().filter(|i| !resolved.images.contains_key(*i)).map(|i| format!("{i} is locked but the spec no longer names it")));
        if !problems.is_empty() {
            return Err(ui.error(format!("{} is out of date:\n  {}\nrun `buildspec lock` to update it", lock_path.display(), problems.join("\n  "))));
        }
        println!("{}: {} image{} up to date", lock_path.display(), resolved.images.len(), if resolved.images.len() == 1 { "" } else { "s" });
        return Ok(());
    }
    let spec_name = path.file_name().map_or_else(|| "the spec".to_owned(), |n| n.to_string_lossy().into_owned());
    crate::oci::store::write_atomic(&lock_path, lock::render(&resolved, &spec_name).as_bytes())
        .map_err(|e| ui.error(format!("writing {}: {e}", lock_path.display())))?;
    for (image, digest) in &resolved.images {
        println!("{image} {digest}");
    }
    Ok(())
}
