//! `buildspec cache verify [--cache-dir DIR]`: the full check of an
//! `--backend oci` cache (`oci::verify`), a line per problem, exit 1 when
//! there is one.

use std::path::PathBuf;

use crate::cli::{Failed, Format, Ui};

#[derive(Debug, clap::Subcommand)]
pub enum CacheCommand {
    /// Hash every blob and check every step entry's blob, size and diff id.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The cache [default: $BUILDSPEC_CACHE_DIR, else ~/.cache/buildspec/oci]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(command: &CacheCommand, ui: &Ui) -> Result<(), Failed> {
    let CacheCommand::Verify(args) = command;
    let dir = crate::cli::build::oci_cache_dir(args.cache_dir.as_deref());
    let report = crate::oci::verify::verify(&dir).map_err(|e| ui.error(format!("verifying the cache {}: {e}", dir.display())))?;
    match args.format {
        Format::Json => {
            let mut doc = serde_json::to_value(&report).expect("json");
            doc["schema_version"] = 1.into();
            println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        }
        Format::Text => {
            for problem in &report.problems {
                println!("{problem}");
            }
            println!(
                "{}: {} blobs, {} step entries, {} leftover temporary files; {}",
                dir.display(),
                report.blobs,
                report.steps,
                report.leftovers,
                match report.problems.len() {
                    0 => "no problems".to_owned(),
                    1 => "1 problem".to_owned(),
                    n => format!("{n} problems"),
                }
            );
        }
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(ui.error(format!("the cache {} has {} problem(s): delete it, or the entries named, and build again", dir.display(), report.problems.len())))
    }
}
