//! Checks that depend on what the output can express: features the
//! built-in Dockerfile frontend lacks (they need `--syntax`), and system
//! packages in stages whose package manager cannot be told.

use crate::diag::{Code, Diagnostic};
use crate::graph::{self, Graph};
use crate::spec::StepKind;

/// Problems with emitting `graph` for a frontend: features only a newer
/// one has are refused for the engine's built-in frontend.
pub fn check(graph: &Graph, frontend: &crate::Frontend) -> Vec<Diagnostic> {
    let built_in = *frontend == crate::Frontend::BuiltIn;
    let mut res = Vec::new();
    let needs = |span, feature: &str, version: &str| {
        Diagnostic::error(Code::NeedsSyntax, span, format!("{feature} is not understood by the engine's built-in Dockerfile frontend"))
            .label("needs a newer frontend")
            .help(format!(
                "pass --syntax {version} (the engine then fetches that frontend image), or do without it"
            ))
    };
    let managers = graph.package_managers();
    for id in &graph.order {
        let stage = graph.stage(*id);
        let manager = managers[id.0];
        graph::build::for_each_step(&stage.steps, &mut |step| match &step.kind {
            StepKind::Copy(copy) if built_in => {
                for exclude in &copy.excludes {
                    res.push(needs(exclude.span, "`copy exclude=` (COPY --exclude)", "docker/dockerfile:1.7-labs"));
                }
            }
            StepKind::Run(run) if built_in => {
                    for secret in &run.secrets {
                        if let Some(env) = &secret.env {
                            res.push(needs(env.span, "`secret env=` (a secret as an environment variable)", "docker/dockerfile:1.10"));
                        }
                    }
                    if let Some(security) = &run.security {
                        res.push(needs(security.span, "`run security=` (RUN --security)", "docker/dockerfile:1-labs"));
                    }
                }
            StepKind::Packages(pkgs) if pkgs.manager.is_none() && manager.is_none() => {
                res.push(
                    Diagnostic::error(
                        Code::UnknownPackageManager,
                        step.span,
                        format!("cannot tell the package manager of stage `{}` (from=\"{}\")", stage.name.value, stage.from.value),
                    )
                    .label("which package manager?")
                    .help("add manager=\"apt\" or manager=\"apk\"; images such as scratch and distroless have none"),
                );
            }
            _ => {}
        });
    }
    res
}
