//! Shell completions and man pages, generated from the clap definitions:
//! bash completes the real subcommands and flags, and groff reads every
//! page without a warning.

mod support;

use std::process::Command;

use support::{buildspec, root, stderr, stdout};

/// What bash's completion offers for the words typed so far.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "source {}\nCOMP_WORDS=({line})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n_buildspec buildspec\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.len() - 1
    );
    let out = Command::new("bash").args(["--norc", "-c", &program]).output().unwrap();
    assert!(out.status.success(), "bash: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_subcommands_and_their_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let out = buildspec(&["completions", "bash"], &root());
    assert!(out.status.success(), "{}", stderr(&out));
    let script = tmp.path().join("buildspec.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let subcommands = bash_completes(&script, &["buildspec", "''"]);
    for expected in ["compile", "build", "explain", "plan", "graph", "init", "generate", "lint", "import", "lock", "completions", "man"] {
        assert!(subcommands.iter().any(|s| s == expected), "`buildspec <TAB>` does not offer {expected}: {subcommands:?}");
    }
    let flags = bash_completes(&script, &["buildspec", "build", "--b"]);
    assert!(flags.iter().any(|f| f == "--backend"), "`buildspec build --b<TAB>`: {flags:?}");
    let shells = bash_completes(&script, &["buildspec", "completions", "''"]);
    assert!(shells.iter().any(|s| s == "zsh") && shells.iter().any(|s| s == "fish"), "{shells:?}");
    // The other shells get their own kind of script.
    let zsh = stdout(&buildspec(&["completions", "zsh"], &root()));
    assert!(zsh.starts_with("#compdef buildspec"), "{}", &zsh[..zsh.len().min(200)]);
    let fish = stdout(&buildspec(&["completions", "fish"], &root()));
    assert!(fish.contains("complete -c buildspec"), "{}", &fish[..fish.len().min(200)]);
    let bad = buildspec(&["completions", "tcsh"], &root());
    assert_eq!(bad.status.code(), Some(2), "an unknown shell is a usage error");
}

/// groff's warnings about a page (empty when it is well formed).
fn groff_warnings(page: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"]) // -k: preconv, as man(1) runs it, for UTF-8 help text
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("groff (the man page formatter) is installed");
    child.stdin.take().unwrap().write_all(page).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn man_pages_cover_every_subcommand_and_format_cleanly() {
    let out = buildspec(&["man"], &root());
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH buildspec 1"), "{}", &page[..page.len().min(300)]);
    assert_eq!(groff_warnings(page.as_bytes()), "", "buildspec.1");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man1");
    let out = buildspec(&["man", dir.to_str().unwrap()], &root());
    assert!(out.status.success(), "{}", stderr(&out));
    let mut names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "buildspec-build.1", "buildspec-cache-verify.1", "buildspec-cache.1", "buildspec-compile.1", "buildspec-completions.1", "buildspec-explain.1", "buildspec-generate.1", "buildspec-graph.1",
            "buildspec-import.1", "buildspec-init.1", "buildspec-lint.1", "buildspec-lock.1", "buildspec-man.1", "buildspec-plan.1", "buildspec.1",
        ]
    );
    for name in &names {
        let page = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(groff_warnings(&page), "", "{name}");
    }
    let build = std::fs::read_to_string(dir.join("buildspec-build.1")).unwrap();
    assert!(build.contains("backend") && build.contains("cache\\-dir"), "buildspec-build.1 lacks the build flags");
}
