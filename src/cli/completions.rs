//! `buildspec completions SHELL` and `buildspec man [DIR]`: shell
//! completion scripts and man pages, generated from the clap definitions
//! so they never drift from the real flags.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use super::{Failed, Ui};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write buildspec.1 and a page per subcommand (buildspec-compile.1, …)
    /// into DIR instead of printing buildspec.1.
    pub dir: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs) -> Result<(), Failed> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "buildspec", &mut std::io::stdout());
    Ok(())
}

pub fn man(args: &ManArgs, ui: &Ui) -> Result<(), Failed> {
    let cmd = super::Cli::command();
    let Some(dir) = &args.dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page).map_err(|e| ui.error(format!("rendering the man page: {e}")))?;
        use std::io::Write;
        return std::io::stdout().write_all(&page).map_err(|e| ui.error(format!("writing the man page: {e}")));
    };
    std::fs::create_dir_all(dir).map_err(|e| ui.error(format!("creating {}: {e}", dir.display())))?;
    let mut pages = vec![("buildspec".to_owned(), cmd.clone())];
    // A page per command, nested ones too (`buildspec-cache-verify`).
    let mut queue: Vec<(String, clap::Command)> = vec![("buildspec".to_owned(), cmd.clone())];
    while let Some((prefix, parent)) = queue.pop() {
        for sub in parent.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{prefix}-{}", sub.get_name());
            pages.push((name.clone(), sub.clone().name(name.clone())));
            queue.push((name, sub.clone()));
        }
    }
    pages.sort_by(|a, b| a.0.cmp(&b.0));
    // Every page is rendered before the first is written.
    let mut rendered = Vec::new();
    for (name, page_cmd) in pages {
        let mut page = Vec::new();
        clap_mangen::Man::new(page_cmd).render(&mut page).map_err(|e| ui.error(format!("rendering {name}.1: {e}")))?;
        rendered.push((dir.join(format!("{name}.1")), page));
    }
    for (path, page) in rendered {
        crate::oci::store::write_atomic(&path, &page).map_err(|e| ui.error(format!("writing {}: {e}", path.display())))?;
    }
    Ok(())
}
