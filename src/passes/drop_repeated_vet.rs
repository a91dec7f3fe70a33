//! `go test` right after `go vet` of the same packages skips its own vet.
//!
//! ```text
//! run "go vet ./... && go test ./..."
//! ⇒ run "go vet ./... && go test -vet=off ./..."
//! ```
//!
//! `go test` runs a subset of `go vet`'s checks (atomic, bool, buildtags,
//! errorsas, ifaceassert, nilfunc, printf, stringintconv) before testing,
//! and computes that subset's facts for every package the tests import,
//! the standard library included: 2.6 s of a cold test here. When the
//! script has just run the full `go vet` on the same packages and stopped
//! if it failed (`&&`), those checks have passed already.
//!
//! Only a plain `go vet PKGS && go test [FLAGS] PKGS` is rewritten: `go
//! vet` without flags, `go test` with flags that change neither the
//! packages nor the files built (`-v`, `-short`, `-failfast`, `-count=N`,
//! `-run=RE`, `-timeout=D`, `-parallel=N`), nothing else on the line but
//! more `&&` commands, and no quoting or shell syntax the check would have
//! to understand.
//!
//! Cost: O(steps).

use crate::graph::{Graph, Rewrite};
use crate::source::Spanned;
use crate::spec::StepKind;

/// Flags of `go test` after which its vet would check what `go vet`
/// checked: they choose which tests run, not which files are built.
const TEST_ONLY_FLAGS: &[&str] = &["-v", "-short", "-failfast"];
const TEST_ONLY_VALUED: &[&str] = &["-count=", "-run=", "-timeout=", "-parallel="];

pub fn drop_repeated_vet(mut graph: Graph) -> Graph {
    let mut rewrites = Vec::new();
    for stage in &mut graph.stages {
        for step in &mut stage.steps {
            let StepKind::Run(run) = &mut step.kind else { continue };
            let Some(script) = rewrite(&run.script.value) else { continue };
            run.script = Spanned::new(script, run.script.span);
            rewrites.push(Rewrite {
                pass: "drop_repeated_vet",
                stage: stage.id,
                message: "`go test` runs with -vet=off: the script ran `go vet` on the same packages just before, and go test's own vet checks are a subset of it".to_owned(),
                span: step.span,
            });
        }
    }
    graph.rewrites.extend(rewrites);
    graph
}

/// The script with `-vet=off` added where it applies, or `None`.
fn rewrite(script: &str) -> Option<String> {
    super::facts::rewrite_commands(script, |previous, words| {
        let vet = vet_packages(previous?)?;
        let test = test_packages(words)?;
        (vet == test).then(|| format!("go test -vet=off {}", words[2..].join(" ")))
    })
}

/// The packages of a flagless `go vet PKGS`.
fn vet_packages<'a>(words: &[&'a str]) -> Option<Vec<&'a str>> {
    match words {
        ["go", "vet", pkgs @ ..] if !pkgs.is_empty() && pkgs.iter().all(|w| !w.starts_with('-')) => Some(pkgs.to_vec()),
        _ => None,
    }
}

/// The packages of `go test [TEST-ONLY FLAGS] PKGS`.
fn test_packages<'a>(words: &[&'a str]) -> Option<Vec<&'a str>> {
    let ["go", "test", rest @ ..] = words else { return None };
    let flags = rest.iter().take_while(|w| w.starts_with('-'));
    let test_only = |f: &&&str| TEST_ONLY_FLAGS.contains(f) || TEST_ONLY_VALUED.iter().any(|v| f.starts_with(v) && f.len() > v.len());
    if !flags.clone().all(|f| test_only(&f)) {
        return None;
    }
    let pkgs: Vec<&str> = rest.iter().skip_while(|w| w.starts_with('-')).copied().collect();
    (!pkgs.is_empty() && pkgs.iter().all(|w| !w.starts_with('-'))).then_some(pkgs)
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn go_test_after_go_vet_of_the_same_packages_skips_its_vet() {
        assert_eq!(rewrite("go vet ./... && go test ./...").as_deref(), Some("go vet ./... && go test -vet=off ./..."));
        assert_eq!(rewrite("go mod verify && go vet ./cmd/... ./pkg && go test -v -count=1 ./cmd/... ./pkg && echo ok").as_deref(), Some("go mod verify && go vet ./cmd/... ./pkg && go test -vet=off -v -count=1 ./cmd/... ./pkg && echo ok"));
        assert_eq!(rewrite("set -e\n  go vet ./...&&go test ./...").as_deref(), Some("set -e\n  go vet ./... && go test -vet=off ./..."));
    }

    #[test]
    fn anything_less_plain_stays_as_written() {
        for script in [
            "go vet ./... ; go test ./...",
            "go vet ./...\ngo test ./...",
            "go vet ./... || go test ./...",
            "go vet ./a && go test ./...",
            "go vet -tags x ./... && go test ./...",
            "go vet ./... && go test -tags=integration ./...",
            "go vet ./... && go test -race ./...",
            "go vet ./... && go test -run Foo ./...",
            "go vet ./... && go test -vet=all ./...",
            "go vet ./... && echo && go test ./...",
            "go vet ./... && GOFLAGS=-tags=x go test ./...",
            "go vet \"./...\" && go test ./...",
            "go vet ./... && go test $PKGS",
            "go test ./...",
        ] {
            assert_eq!(rewrite(script), None, "{script}");
        }
    }
}
