//! `npm ci` under the npm cache mount takes what the cache holds without
//! asking the registry again, and skips the audit and funding reports.
//!
//! ```text
//! RUN --mount=type=cache,target=/root/.npm,… npm ci
//! ⇒ RUN --mount=type=cache,target=/root/.npm,… npm ci --prefer-offline --no-audit --no-fund
//! ```
//!
//! `npm ci` installs exactly what the lockfile names, each package pinned
//! by its integrity hash, so a cached tarball is the one the registry
//! would send: `--prefer-offline` only drops the requests that ask whether
//! cached data is still fresh. The audit and funding reports are requests
//! and messages that change no installed file (`npm audit` gives the
//! report on its own). Measured here on the bench's node app with a warm
//! cache: 1.6 s → 1.2–1.5 s.
//!
//! Only plain `npm ci` commands (see [`facts::rewrite_commands`]) in RUNs
//! that mount the npm cache are rewritten; a command that already says
//! `--offline`, `--prefer-online` or any of the three flags keeps its own
//! choice.
//!
//! Cost: O(steps).

use crate::graph::{Graph, Rewrite};
use crate::source::Spanned;
use crate::spec::{Step, StepKind};

use super::facts;

const ADDED: &[&str] = &["--prefer-offline", "--no-audit", "--no-fund"];
const CHOSEN_ALREADY: &[&str] = &["--offline", "--prefer-online", "--prefer-offline", "--no-audit", "--audit", "--no-fund", "--fund"];

pub fn npm_ci_offline(mut graph: Graph) -> Graph {
    let mut rewrites = Vec::new();
    for stage in &mut graph.stages {
        visit(&mut stage.steps, &mut |step| {
            let StepKind::Run(run) = &mut step.kind else { return };
            if !run.caches.iter().any(|c| c.target.value.trim_end_matches('/') == "/root/.npm") {
                return;
            }
            let Some(script) = rewrite(&run.script.value) else { return };
            run.script = Spanned::new(script, run.script.span);
            rewrites.push(Rewrite {
                pass: "npm_ci_offline",
                stage: stage.id,
                message: format!(
                    "`npm ci` runs with {}: the lockfile pins every package by its integrity hash and the npm cache is mounted, so cached packages are used without asking the registry whether they changed; the audit and funding reports change no file (`npm audit` gives the report)",
                    ADDED.join(" ")
                ),
                span: step.span,
            });
        });
    }
    graph.rewrites.extend(rewrites);
    graph
}

fn visit(steps: &mut [Step], f: &mut impl FnMut(&mut Step)) {
    for step in steps {
        if let StepKind::Deps(inner) = &mut step.kind {
            visit(inner, f);
        } else {
            f(step);
        }
    }
}

/// The script with the flags added to its plain `npm ci` commands, or `None`.
fn rewrite(script: &str) -> Option<String> {
    facts::rewrite_commands(script, |_, words| match words {
        ["npm", "ci", flags @ ..] if flags.iter().all(|f| f.starts_with('-') && !CHOSEN_ALREADY.contains(f)) => {
            Some(words.iter().chain(ADDED).copied().collect::<Vec<_>>().join(" "))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::rewrite;
    use crate::passes::compiled_text as compile;

    #[test]
    fn a_plain_npm_ci_prefers_the_cache() {
        assert_eq!(rewrite("npm ci").as_deref(), Some("npm ci --prefer-offline --no-audit --no-fund"));
        assert_eq!(
            rewrite("npm ci --omit=dev && npm run build").as_deref(),
            Some("npm ci --omit=dev --prefer-offline --no-audit --no-fund && npm run build")
        );
        for kept in ["npm ci --offline", "npm ci --no-audit", "npm install", "npm ci; npm test", "npm ci \"--omit=dev\"", "npm ci $FLAGS"] {
            assert_eq!(rewrite(kept), None, "{kept}");
        }
    }

    #[test]
    fn only_under_the_npm_cache_mount() {
        let spec = |before: &str| {
            format!(
                r#"builder "build" from="node:20" {{ workdir "/app"; copy "."; {before} run "npm ci"; }}
runtime "app" from="node:20" {{ copy "/app" from="build"; }}"#
            )
        };
        let root = compile(&spec(""));
        assert!(root.contains("--mount=type=cache,target=/root/.npm,id=buildspec-npm npm ci --prefer-offline --no-audit --no-fund"), "{root}");
        // As another user no cache is mounted, so there is none to prefer.
        let user = compile(&spec(r#"user "node";"#));
        assert!(user.contains("RUN npm ci\n") || user.ends_with("RUN npm ci"), "{user}");
    }
}
