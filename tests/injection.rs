//! No spec string can inject a Dockerfile instruction. Random strings go
//! into every value position; each spec either fails with a diagnostic or
//! compiles to a Dockerfile that an independent splitter reads back as
//! exactly the instructions the emitter meant (and, for scripts, with the
//! script intact).

mod support;

use buildspec::source::SourceFile;
use buildspec::CompileOpts;
use proptest::prelude::*;
use support::{kdl_string, split_dockerfile};

/// Specs with one value position `V` each.
const TEMPLATES: &[&str] = &[
    r#"runtime "app" from="debian:bookworm-slim" { env K=V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { env V="x" }"#,
    r#"runtime "app" from="debian:bookworm-slim" { label "k"=V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { label V="x" }"#,
    r#"runtime "app" from="debian:bookworm-slim" { arg "A" default=V }"#,
    r#"arg "A" default=V
runtime "app" from="debian:bookworm-slim""#,
    r#"arg V
runtime "app" from="debian:bookworm-slim""#,
    r#"runtime "app" from="debian:bookworm-slim" { workdir V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { user V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { shell "/bin/sh" V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { expose V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { volume V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { stopsignal V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { entrypoint V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { cmd "a" V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { healthcheck V interval="1s" }"#,
    r#"runtime "app" from="debian:bookworm-slim" { healthcheck "a" interval=V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { copy V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { copy "a" V to="/d" }"#,
    r#"runtime "app" from="debian:bookworm-slim" { copy "a" to=V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { copy V from="debian:bookworm-slim" }"#,
    r#"runtime "app" from="debian:bookworm-slim" { copy "/a" from=V to="/a" }"#,
    r#"runtime "app" from="debian:bookworm-slim" { copy "a" chown=V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { copy "a" chmod=V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { add V to="/x" }"#,
    r#"runtime "app" from="debian:bookworm-slim" { add "https://example.com/f" to=V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { add git=V ref="main" to="/x" }"#,
    r#"runtime "app" from="debian:bookworm-slim" { add git="https://example.com/r.git" ref=V to="/x" }"#,
    r#"runtime "app" from="debian:bookworm-slim" { run V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { shell "pwsh" "-c"; run V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { run "x" { cache V; }; }"#,
    r#"runtime "app" from="debian:bookworm-slim" { run "x" { cache "/c" id=V; }; }"#,
    r#"runtime "app" from="debian:bookworm-slim" { run "x" { secret V target="/s"; }; }"#,
    r#"runtime "app" from="debian:bookworm-slim" { run "x" { ssh V; }; }"#,
    r#"runtime "app" from="debian:bookworm-slim" { run "x" { bind V target="/x"; }; }"#,
    r#"runtime "app" from="debian:bookworm-slim" { run "x" { bind "." target=V; }; }"#,
    r#"runtime "app" from="debian:bookworm-slim" { run "x" { tmpfs V size=V; }; }"#,
    r#"runtime "app" from="debian:bookworm-slim" { run "x" network=V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { packages V }"#,
    r#"runtime "app" from="debian:bookworm-slim" { deps { copy V; run V; }; }"#,
    r#"context "." { exclude V; }
runtime "app" from="debian:bookworm-slim""#,
    r#"context V
runtime "app" from="debian:bookworm-slim""#,
    r#"runtime V from="debian:bookworm-slim""#,
    r#"runtime "app" from=V"#,
    r#"runtime "app" from="debian:bookworm-slim" platform=V"#,
];

/// Strings rich in the characters that break Dockerfiles.
fn tricky() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::string::string_regex(r#"[a-z0-9 \n\r\t\\"'$#{}<>\[\]=,:/.*@+-]{0,24}"#).unwrap(),
        proptest::sample::select(vec![
            "EOF", "\nEOF\n", "x\nEOF", "<<EOF", "cat <<EOF > f", "\\", "a\\", "$(rm -rf /)", "${X}", "${X:-a b}",
            "$$", "a\nRUN b", "[\"sh\",\"-c\",\"id\"]", "--from=x", "#comment", " leading", "trailing ",
            "\"", "'", "a b", "/x y/", "EOF_1\nEOF", "x\r\ny", "\u{0}", "ünïcødé",
        ])
        .prop_map(str::to_owned),
    ]
}

fn check(template: &str, value: &str) -> Result<(), TestCaseError> {
    let text = template.replace('V', &kdl_string(value));
    let source = SourceFile::new("buildspec.kdl", text.clone());
    let opts = CompileOpts::new();
    match buildspec::compile(&source, &opts) {
        Err(failure) => {
            prop_assert!(failure.n_errors() > 0, "a failure without an error for {text}");
            let rendered = buildspec::diag::render(&failure.sources, &failure.diagnostics, buildspec::diag::RenderOpts { color: false, width: 80 });
            prop_assert!(!rendered.is_empty());
        }
        Ok(compiled) => {
            let split = split_dockerfile(&compiled.dockerfile);
            let got: Vec<(&str, &str)> = split.iter().map(|i| (i.keyword.as_str(), i.text.as_str())).collect();
            let want: Vec<(&str, &str)> = compiled.instructions.iter().map(|i| (i.keyword, i.text.as_str())).collect();
            prop_assert_eq!(got, want, "spec:\n{}\nDockerfile:\n{}", text, compiled.dockerfile);
            let n_ignore = compiled.dockerignore.lines().count();
            let excludes = compiled.graph.context.excludes.len();
            let n_excludes = if excludes == 0 { 0 } else { 1 + excludes };
            let n_allowed = compiled.graph.context.allowlist.as_ref().map_or(0, |a| 2 + a.len());
            let defaults = &compiled.graph.context.default_excludes;
            let n_defaults = if defaults.is_empty() { 0 } else { 1 + defaults.len() };
            prop_assert_eq!(n_ignore, 1 + n_allowed + n_defaults + n_excludes, "one .dockerignore line per rule");
            if template.contains("{ run V }") {
                let run = compiled.instructions.iter().find(|i| i.keyword == "RUN").unwrap();
                let script = value.strip_suffix('\n').unwrap_or(value);
                let shell = buildspec::emit::quote::shell_script(script, true);
                // A one-line or continued script stands as written; a heredoc holds it under `set -e`.
                prop_assert!(script_of(&run.text) == script || script_of(&run.text) == shell, "{:?} runs {:?}", value, run.text);
            }
        }
    }
    Ok(())
}

/// The script a RUN instruction runs: the rest of the line (continued
/// lines included), or the heredoc body.
fn script_of(text: &str) -> &str {
    let mut rest = text.strip_prefix("RUN ").unwrap();
    // BuildKit reads leading `--words` as flags, as the emitter's own mounts are.
    while rest.starts_with("--") {
        rest = rest.split_once(' ').map(|x| x.1).unwrap_or("");
    }
    match rest.split_once('\n') {
        Some((opener, body)) if opener.starts_with("<<'") => &body[..body.rfind('\n').unwrap()],
        _ => rest,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_value_injects_an_instruction(value in tricky()) {
        for template in TEMPLATES {
            check(template, &value)?;
        }
    }
}

/// Values that must be accepted and written safely, not just refused.
#[test]
fn tricky_values_are_accepted_where_they_are_legal() {
    let accepted = [
        (r#"runtime "app" from="debian:bookworm-slim" { env K=V }"#, "say \"hi\" \\ $5 ${HOME}"),
        (r#"runtime "app" from="debian:bookworm-slim" { run V }"#, "cat <<EOF > f\nhello\nEOF\n"),
        (r#"runtime "app" from="debian:bookworm-slim" { run V }"#, "echo \\"),
        (r#"runtime "app" from="debian:bookworm-slim" { run V }"#, "[ -f x ] || true"),
        (r#"runtime "app" from="debian:bookworm-slim" { run V }"#, "--network=host id"),
        (r#"runtime "app" from="debian:bookworm-slim" { copy V }"#, "my file.txt"),
        (r#"runtime "app" from="debian:bookworm-slim" { copy V }"#, "--weird"),
        (r#"runtime "app" from="debian:bookworm-slim" { cmd "a" V }"#, "line1\nline2"),
        (r#"runtime "app" from="debian:bookworm-slim" { label "k"=V }"#, "\"quoted\" $dollar"),
    ];
    for (template, value) in accepted {
        let text = template.replace('V', &kdl_string(value));
        let source = SourceFile::new("buildspec.kdl", text.clone());
        let compiled = buildspec::compile(&source, &CompileOpts::new());
        assert!(compiled.is_ok(), "{text}");
        check(template, value).unwrap();
    }
}
