//! Dependency split for known toolchains: a `copy` of the sources followed
//! by the toolchain's build becomes a manifest copy and a dependency fetch
//! (a `deps` block) before the source copy, so a source change re-uses
//! the fetched (for cargo: compiled) dependencies.
//!
//! ```text
//! workdir "/app"; copy "."; run "npm ci && npm run build"
//! ⇒ workdir "/app"; deps { copy "package.json" "package-lock.json" to="/app/"; run "npm ci" }
//!   copy "."; run "npm run build"
//! ```
//!
//! Presets: cargo, go modules, npm, pnpm, yarn, pip, poetry, uv, maven,
//! gradle. A preset applies when the manifests exist in the context (the
//! CLI lists it), the copy puts them in the RUN's working directory, and
//! the stage has no `deps` block of its own. When the fetch command is the
//! start of the build script (`npm ci && …`), it is taken out of it.
//! Assumed: the fetch writes nothing the source copy brings from the
//! context (keep `node_modules`, `target`, `.venv` out of the context).
//!
//! Cost: O(stages + steps), with each stage's inherited workdir found once
//! for all.

mod cargo;

use std::collections::{BTreeMap, BTreeSet};

use crate::graph::{Graph, Rewrite, StageId};
use crate::passes::facts::{self, PathKey};
use crate::source::Spanned;
use crate::spec::{Copy, Run, Step, StepKind};

/// A toolchain: how to spot its build, its manifests, how to fetch.
pub struct Preset {
    pub name: &'static str,
    /// Words that mark a script as using this toolchain.
    pub detect: &'static [&'static str],
    /// Manifest files; the first must exist.
    pub manifests: &'static [&'static str],
    /// The segment of a script that fetches dependencies.
    pub install: &'static [&'static str],
}

pub const PRESETS: &[Preset] = &[
    Preset { name: "cargo", detect: &["cargo build", "cargo test", "cargo install", "cargo run", "cargo fetch"], manifests: &["Cargo.toml", "Cargo.lock", "rust-toolchain.toml", "rust-toolchain"], install: &[] },
    Preset { name: "go", detect: &["go build", "go test", "go install", "go vet", "go run", "go mod download", "go generate"], manifests: &["go.mod", "go.sum"], install: &["go mod download"] },
    Preset { name: "pnpm", detect: &["pnpm "], manifests: &["pnpm-lock.yaml", "package.json"], install: &["pnpm install"] },
    Preset { name: "yarn", detect: &["yarn"], manifests: &["yarn.lock", "package.json"], install: &["yarn install", "yarn --frozen-lockfile"] },
    Preset { name: "npm", detect: &["npm ", "npx "], manifests: &["package.json", "package-lock.json", "npm-shrinkwrap.json"], install: &["npm ci", "npm install"] },
    Preset { name: "poetry", detect: &["poetry install"], manifests: &["poetry.lock", "pyproject.toml"], install: &[] },
    Preset { name: "uv", detect: &["uv sync"], manifests: &["uv.lock", "pyproject.toml"], install: &[] },
    Preset { name: "pip", detect: &["pip install"], manifests: &["requirements.txt"], install: &["pip install"] },
    Preset { name: "maven", detect: &["mvn "], manifests: &["pom.xml"], install: &[] },
    Preset { name: "gradle", detect: &["gradle ", "gradlew "], manifests: &["build.gradle", "build.gradle.kts", "settings.gradle", "settings.gradle.kts", "gradle.properties"], install: &[] },
];

/// The preset a script uses, if any.
pub fn detect(script: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.detect.iter().any(|d| script.contains(d)))
}

pub fn split_dependencies(mut graph: Graph, context: Option<&BTreeSet<String>>, manifests: &BTreeMap<String, String>) -> Graph {
    let Some(context) = context else { return graph };
    // A split adds a `deps` block, never a WORKDIR: the workdirs stay.
    let finals = facts::final_workdirs(&graph);
    for i in 0..graph.stages.len() {
        let id = StageId(i);
        if graph.stages[i].steps.iter().any(|s| matches!(s.kind, StepKind::Deps(_))) {
            continue;
        }
        let workdirs = facts::workdirs_from(&graph, id, facts::initial_workdir_given(&graph, id, &finals));
        match find_split(&graph.stages[i].steps, &workdirs, context, manifests) {
            Some(Found::Split(split)) => {
                let dest = workdirs[split.run_idx].clone().expect("checked known");
                let (message, span) = apply(&mut graph.stages[i].steps, &split, &dest, context);
                graph.rewrites.push(Rewrite { pass: "split_dependencies", stage: id, message, span });
            }
            Some(Found::Kept { preset, reason, span }) => {
                let message = format!("left the {preset} build whole: {reason} (a `deps {{ … }}` block splits it by hand)");
                graph.rewrites.push(Rewrite { pass: "split_dependencies", stage: id, message, span });
            }
            None => {}
        }
    }
    graph
}

/// What [`find_split`] found in a stage.
enum Found {
    Split(Split),
    /// A toolchain build the preset cannot split, and why (for `explain`).
    Kept { preset: &'static str, reason: String, span: crate::source::Span },
}

/// A source copy and the toolchain RUN after it that reads it.
struct Split {
    copy_idx: usize,
    run_idx: usize,
    /// The copied context directory ("" for the whole context).
    source: String,
    preset: &'static Preset,
    /// For cargo: the packages whose targets get stubs.
    cargo: Option<cargo::Project>,
}

/// The first source copy and toolchain RUN that can be split.
fn find_split(
    steps: &[Step],
    workdirs: &[Option<String>],
    context: &BTreeSet<String>,
    manifests: &BTreeMap<String, String>,
) -> Option<Found> {
    for (run_idx, step) in steps.iter().enumerate() {
        let StepKind::Run(run) = &step.kind else { continue };
        let Some(preset) = detect(&run.script) else { continue };
        let run_wd = workdirs[run_idx].as_deref()?;
        for copy_idx in (0..run_idx).rev() {
            let StepKind::Copy(copy) = &steps[copy_idx].kind else { continue };
            if copy.from.is_some() {
                continue;
            }
            for src in &copy.sources {
                let src = facts::normalize(src);
                let dest = match &copy.to {
                    Some(to) if copy.sources.len() == 1 => PathKey::resolve(to, workdirs[copy_idx].as_deref()),
                    Some(_) => continue,
                    None => PathKey::resolve(&crate::spec::default_destination(&src), workdirs[copy_idx].as_deref()),
                };
                // The copied directory must land where the build runs.
                let lands_in_wd = matches!((&dest, src.is_empty()), (PathKey::Absolute(d), _) if d == run_wd);
                let src_dir = if src.is_empty() { String::new() } else { format!("{src}/") };
                let has_manifest = context.contains(&format!("{src_dir}{}", preset.manifests[0]));
                if !(lands_in_wd && has_manifest) {
                    continue;
                }
                let cargo = if preset.name == "cargo" {
                    match cargo::read(&src_dir, &run.script, context, manifests) {
                        Ok(package) => Some(package),
                        Err(reason) => return Some(Found::Kept { preset: preset.name, reason, span: steps[copy_idx].span }),
                    }
                } else {
                    None
                };
                return Some(Found::Split(Split { copy_idx, run_idx, source: src, preset, cargo }));
            }
        }
    }
    None
}

/// Splits a script into simple `&&`/newline segments, or `None` when it is
/// not a plain chain of commands.
fn segments(script: &str) -> Option<Vec<String>> {
    let mut res = Vec::new();
    for line in script.lines() {
        for seg in line.split("&&") {
            let seg = seg.trim();
            if seg.is_empty() {
                continue;
            }
            if seg.contains(['\'', '"', '`', '(', ')', '{', '}', '|', ';', '<', '>', '\\', '#']) {
                return None;
            }
            res.push(seg.to_owned());
        }
    }
    Some(res)
}

fn apply(steps: &mut Vec<Step>, split: &Split, dest: &str, context: &BTreeSet<String>) -> (String, crate::source::Span) {
    let Split { copy_idx, run_idx, ref source, preset, ref cargo } = *split;
    let span = steps[copy_idx].span;
    let src_dir = if source.is_empty() { String::new() } else { format!("{source}/") };
    let manifests: Vec<String> = preset
        .manifests
        .iter()
        .map(|m| format!("{src_dir}{m}"))
        .filter(|m| context.contains(m))
        .collect();
    let has_lock = |name: &str| manifests.iter().any(|m| m.ends_with(name));
    let StepKind::Run(run) = &steps[run_idx].kind else { unreachable!("found a run") };
    let script = run.script.value.clone();
    let mut rest: Option<String> = None;
    let mut prepare = String::new();
    let fetch = if let Some(project) = cargo {
        project.fetch_script(has_lock("Cargo.lock"))
    } else {
        match preset.name {
            "poetry" => "poetry install --no-root --no-interaction".to_owned(),
            "uv" => "uv sync --frozen --no-install-project".to_owned(),
            "maven" => "mvn -B dependency:go-offline".to_owned(),
            "gradle" if script.contains("gradlew") => "./gradlew dependencies --no-daemon".to_owned(),
            "gradle" => "gradle dependencies --no-daemon".to_owned(),
            _ => {
                let segs = segments(&script);
                let install_at = segs.as_ref().and_then(|segs| {
                    segs.iter().position(|s| preset.install.iter().any(|i| s.contains(i)) && (preset.name != "pip" || s.contains("-r ")))
                });
                match (segs, install_at) {
                    (Some(segs), Some(at)) => {
                        rest = Some(segs[at + 1..].join(" && "));
                        // Leading segments that read nothing of the context (such
                        // as `python -m venv /opt/venv`) go before the manifest
                        // copy, so a manifest change does not redo them.
                        let lead = segs[..at].iter().take_while(|seg| reads_no_context(seg, &src_dir, context)).count();
                        prepare = segs[..lead].join(" && ");
                        segs[lead..=at].join(" && ")
                    }
                    _ => match preset.name {
                        "go" => "go mod download".to_owned(),
                        "npm" if has_lock("package-lock.json") || has_lock("npm-shrinkwrap.json") => "npm ci".to_owned(),
                        "npm" => "npm install".to_owned(),
                        "pnpm" => "pnpm install --frozen-lockfile".to_owned(),
                        "yarn" => "yarn install --frozen-lockfile".to_owned(),
                        _ => "pip install -r requirements.txt".to_owned(),
                    },
                }
            }
        }
    };
    let fetch_run = Step {
        kind: StepKind::Run(Run {
            script: Spanned::new(fetch.clone(), span),
            network: run.network.clone(),
            inputs: None,
            ..Run::default()
        }),
        span: steps[run_idx].span,
    };
    let extra: Vec<String> = cargo.iter().flat_map(|p| p.extra_files()).collect();
    let shown = match cargo {
        Some(project) => project.describe(&fetch),
        None => format!("`{}`", fetch.lines().find(|l| l.contains(preset.name) || l.contains("install")).unwrap_or(&fetch).trim()),
    };
    let mut message = format!(
        "split the {} dependencies out: {} copied and {shown} run before the sources, so a source change re-uses them",
        preset.name,
        manifests.iter().cloned().chain(extra.iter().map(|f| format!("{src_dir}{f}"))).collect::<Vec<_>>().join(", "),
    );
    // The top manifests into the working directory; each further file
    // (a cargo config, a workspace member's manifest) into its own
    // directory below it.
    let dest = dest.trim_end_matches('/');
    let copy_into = |sources: Vec<String>, to: String| Step {
        kind: StepKind::Copy(Copy {
            sources: sources.into_iter().map(|s| Spanned::new(s, span)).collect(),
            to: Some(Spanned::new(to, span)),
            ..Copy::default()
        }),
        span,
    };
    let mut deps = vec![copy_into(manifests.clone(), format!("{dest}/"))];
    for file in &extra {
        let dir = file.rsplit_once('/').map_or("", |(dir, _)| dir);
        deps.push(copy_into(vec![format!("{src_dir}{file}")], format!("{dest}/{dir}/")));
    }
    deps.push(fetch_run);
    if !prepare.is_empty() {
        message.push_str(&format!("; `{prepare}` runs before the manifests (it reads none of the context), so a manifest change re-uses it"));
        let prepare_run = Step {
            kind: StepKind::Run(Run { script: Spanned::new(prepare, span), network: run.network.clone(), inputs: Some(Vec::new()), ..Run::default() }),
            span: steps[run_idx].span,
        };
        deps.insert(0, prepare_run);
    }
    match rest {
        Some(rest) if rest.is_empty() => {
            steps.remove(run_idx);
        }
        Some(rest) => {
            if let StepKind::Run(run) = &mut steps[run_idx].kind {
                run.script.value = rest;
            }
        }
        None => {}
    }
    steps.insert(copy_idx, Step { kind: StepKind::Deps(deps), span });
    (message, span)
}

/// Whether a command names nothing of the context: no argument is `.`, a
/// relative path into it, or a glob.
fn reads_no_context(segment: &str, src_dir: &str, context: &BTreeSet<String>) -> bool {
    segment.split_whitespace().skip(1).all(|word| {
        if word.starts_with('-') && !word.contains('=') || word.starts_with('/') {
            return true;
        }
        let word = word.rsplit('=').next().unwrap_or(word);
        if word == "." || word.starts_with("./") || word.starts_with("..") || word.contains(['*', '?', '[', '$']) {
            return false;
        }
        let path = format!("{src_dir}{}", word.trim_end_matches('/'));
        !context.contains(&path) && !context.iter().any(|f| f.starts_with(&format!("{path}/")))
    })
}
