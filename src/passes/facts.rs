//! What the passes need to know about steps: where a stage's workdir is
//! before each step, which paths a copy writes, whether two paths overlap,
//! which toolchain a script runs. Pure functions over spec steps.

use globset::{GlobBuilder, GlobMatcher};

use crate::graph::{Base, Graph, StageId};
use crate::spec::{Copy, Step, StepKind};

/// A path a step writes or reads, resolved against the workdir when the
/// workdir is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathKey {
    Absolute(String),
    /// Relative to a workdir this analysis does not know (the base image's).
    Relative(String),
    /// Cannot be told (uses `$` variables).
    Unknown,
}

impl PathKey {
    pub fn resolve(path: &str, workdir: Option<&str>) -> PathKey {
        if path.contains('$') {
            return PathKey::Unknown;
        }
        let joined = if path.starts_with('/') {
            path.to_owned()
        } else if let Some(wd) = workdir {
            format!("{}/{}", wd.trim_end_matches('/'), path)
        } else {
            return PathKey::Relative(normalize(path));
        };
        PathKey::Absolute(normalize(&joined))
    }

    /// Whether writing one path can change the other (one contains the
    /// other); unknown paths overlap everything.
    pub fn overlaps(&self, other: &PathKey) -> bool {
        let within = |a: &str, b: &str| a == b || b.starts_with(&format!("{a}/")) || a.is_empty() || a == "/";
        match (self, other) {
            (PathKey::Absolute(a), PathKey::Absolute(b)) | (PathKey::Relative(a), PathKey::Relative(b)) => {
                within(a, b) || within(b, a)
            }
            _ => true,
        }
    }

    /// System directories that package managers write.
    pub fn is_system(&self) -> bool {
        const SYSTEM: &[&str] = &["/usr", "/var", "/etc", "/lib", "/lib64", "/bin", "/sbin", "/opt", "/root", "/run", "/tmp"];
        match self {
            PathKey::Absolute(p) => p == "/" || SYSTEM.iter().any(|s| p == s || p.starts_with(&format!("{s}/"))),
            PathKey::Relative(_) => false,
            PathKey::Unknown => true,
        }
    }
}

/// `a/./b/../c/` → `a/c`; keeps a leading `/`; globs stay as written.
pub fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute { format!("/{joined}") } else { joined }
}

/// The workdir a stage starts with: its base stage's last workdir, or
/// `None` (the image's own, not known here). Walks the stage's `from=`
/// chain: a pass asking for every stage uses [`final_workdirs`] instead.
pub fn initial_workdir(graph: &Graph, id: StageId) -> Option<String> {
    let chain = graph.base_chain(id);
    let root = *chain.last().expect("one stage");
    let mut wd = match &graph.stage(root).base {
        Base::Scratch => Some("/".to_owned()),
        _ => None,
    };
    for &stage in chain[1..].iter().rev() {
        for step in &graph.stage(stage).steps {
            wd = after_step(step, wd.as_deref());
        }
    }
    wd
}

/// The workdir each stage ends with, for every stage at once: O(stages +
/// steps).
pub fn final_workdirs(graph: &Graph) -> Vec<Option<String>> {
    let at_root = |stage: &crate::graph::Stage| matches!(stage.base, Base::Scratch).then(|| "/".to_owned());
    graph.over_base_chains(at_root, |wd: Option<String>, stage| {
        let mut wd = wd;
        for step in &stage.steps {
            wd = after_step(step, wd.as_deref());
        }
        wd
    })
}

/// [`initial_workdir`] given every stage's [`final_workdirs`].
pub fn initial_workdir_given(graph: &Graph, id: StageId, finals: &[Option<String>]) -> Option<String> {
    match &graph.stage(id).base {
        Base::Stage(base) => finals[base.0].clone(),
        Base::Scratch => Some("/".to_owned()),
        _ => None,
    }
}

/// The workdir after `step`.
pub fn after_step(step: &Step, workdir: Option<&str>) -> Option<String> {
    match &step.kind {
        StepKind::Workdir(path) => match PathKey::resolve(path, workdir) {
            PathKey::Absolute(p) => Some(p),
            _ => None,
        },
        _ => workdir.map(str::to_owned),
    }
}

/// The workdir before each step of a stage.
pub fn workdirs(graph: &Graph, id: StageId) -> Vec<Option<String>> {
    workdirs_from(graph, id, initial_workdir(graph, id))
}

/// The workdir before each step of a stage that starts in `initial`.
pub fn workdirs_from(graph: &Graph, id: StageId, initial: Option<String>) -> Vec<Option<String>> {
    let mut wd = initial;
    let mut res = Vec::new();
    for step in &graph.stage(id).steps {
        res.push(wd.clone());
        wd = after_step(step, wd.as_deref());
    }
    res
}

/// Where a copy writes.
pub fn copy_dests(copy: &Copy, workdir: Option<&str>) -> Vec<PathKey> {
    match &copy.to {
        Some(to) => vec![PathKey::resolve(to, workdir)],
        None => copy
            .sources
            .iter()
            .map(|s| PathKey::resolve(&crate::spec::default_destination(s), workdir))
            .collect(),
    }
}

/// Whether a step references `$NAME` or `${NAME…}`.
pub fn mentions_var(text: &str, name: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find(name) {
        let start = i + off;
        let end = start + name.len();
        let before_ok = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let after_ok = end == bytes.len() || !(bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_');
        if before_ok && after_ok {
            return true;
        }
        i = end;
    }
    false
}

/// The texts of a step that Dockerfile or the shell may expand.
pub fn step_texts(step: &Step) -> Vec<&str> {
    let mut res = Vec::new();
    fn s(v: &crate::source::Spanned<String>) -> &str {
        v.value.as_str()
    }
    match &step.kind {
        StepKind::Workdir(p) | StepKind::StopSignal(p) => res.push(s(p)),
        StepKind::Env(pairs) | StepKind::Label(pairs) => res.extend(pairs.iter().flat_map(|(k, v)| [s(k), s(v)])),
        StepKind::Arg(arg) => res.extend(arg.default.iter().map(s)),
        StepKind::Volume(items) | StepKind::Shell(items) | StepKind::Entrypoint(items) | StepKind::Cmd(items) => {
            res.extend(items.iter().map(s))
        }
        StepKind::Healthcheck(hc) => res.extend(hc.command.iter().map(s)),
        StepKind::Copy(c) => {
            res.extend(c.sources.iter().map(s));
            res.extend(c.to.iter().map(s));
            res.extend(c.chown.iter().map(s));
        }
        StepKind::Add(a) => {
            if let crate::spec::AddSource::Paths(p) = &a.source {
                res.extend(p.iter().map(s));
            }
            res.extend(a.to.iter().map(s));
        }
        StepKind::Run(r) => res.push(s(&r.script)),
        StepKind::Packages(p) => res.extend(p.names.iter().map(s)),
        StepKind::User(_) | StepKind::Expose(_) => {}
        StepKind::Deps(inner) => res.extend(inner.iter().flat_map(step_texts)),
    }
    res
}

/// Metadata steps: image config only, no filesystem change.
pub fn is_metadata(step: &Step) -> bool {
    matches!(
        step.kind,
        StepKind::Label(_)
            | StepKind::Expose(_)
            | StepKind::Cmd(_)
            | StepKind::Entrypoint(_)
            | StepKind::Healthcheck(_)
            | StepKind::StopSignal(_)
    )
}

/// Whether a path is a pattern (`*`, `?` or `[…]`) rather than one path.
pub fn has_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// A context path pattern, `*` not crossing `/`.
pub fn glob(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern).literal_separator(true).build().ok().map(|g| g.compile_matcher())
}

/// The keys of a sorted map or set that lie below directory `dir`
/// (`dir/…`), as one range: from `dir/` up to `dir0`, `0` being the
/// character after `/`.
pub fn below_dir(dir: &str) -> std::ops::Range<String> {
    format!("{dir}/")..format!("{dir}0")
}

/// `a/b/c`, `a/b`, `a`.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(path), |p| p.rfind('/').map(|i| &p[..i]))
}

/// The emitted .dockerignore rules, applied the way docker applies them:
/// the last matching pattern wins, and a pattern matching a parent
/// directory matches what is inside it.
pub struct ContextIgnore {
    rules: Vec<(bool, GlobMatcher)>,
}

impl ContextIgnore {
    pub fn new(graph: &Graph) -> ContextIgnore {
        let mut rules = Vec::new();
        if let Some(allowed) = &graph.context.allowlist {
            rules.extend(glob("*").map(|g| (true, g)));
            rules.extend(allowed.iter().filter_map(|a| glob(&normalize(a)).map(|g| (false, g))));
        }
        rules.extend(graph.context.default_excludes.iter().filter_map(|d| glob(d).map(|g| (true, g))));
        for exclude in &graph.context.excludes {
            let (negated, pattern) = match exclude.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, exclude.as_str()),
            };
            if let Some(g) = glob(&normalize(pattern)) {
                rules.push((!negated, g));
            }
        }
        ContextIgnore { rules }
    }

    /// Whether some rule takes paths back in (`!PATH`, or the allowlist):
    /// then a directory left out may still hold paths that are in.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|(exclude, _)| !exclude)
    }

    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for (exclude, glob) in &self.rules {
            if ancestors(path).any(|a| glob.is_match(a)) {
                excluded = *exclude;
            }
        }
        excluded
    }
}

/// Whether `step` (run with workdir `workdir`) may change anything at or
/// under `path`.
pub fn may_write(step: &Step, workdir: Option<&str>, path: &PathKey, ignore: &ContextIgnore) -> bool {
    match &step.kind {
        StepKind::Copy(copy) if copy.from.is_none() && copy.sources.len() == 1 => {
            let dest = copy_dests(copy, workdir).remove(0);
            match (&dest, path) {
                // The contents of a context directory go into `dest`: what
                // lies below it there comes from the context path below the
                // source, which the context may exclude.
                (PathKey::Absolute(dest), PathKey::Absolute(p)) if p.starts_with(&format!("{}/", dest.trim_end_matches('/'))) => {
                    let below = &p[dest.trim_end_matches('/').len() + 1..];
                    let source = normalize(&copy.sources[0].value);
                    let plain = !source.contains('$') && !has_glob(&source);
                    let context_path = if source.is_empty() { below.to_owned() } else { format!("{source}/{below}") };
                    !(plain && ignore.excludes(&context_path))
                }
                _ => dest.overlaps(path),
            }
        }
        StepKind::Copy(copy) => copy_dests(copy, workdir).iter().any(|d| d.overlaps(path)),
        StepKind::Add(add) => add.to.as_ref().is_none_or(|to| PathKey::resolve(to, workdir).overlaps(path)),
        StepKind::Workdir(dir) => PathKey::resolve(dir, workdir).overlaps(path),
        StepKind::Run(run) => match &run.outputs {
            Some(outputs) => outputs.iter().any(|o| PathKey::resolve(o, workdir).overlaps(path)),
            None => true,
        },
        // Later RUNs see a volume's contents reset: treat it as a write.
        StepKind::Volume(_) | StepKind::Packages(_) | StepKind::Deps(_) => true,
        StepKind::User(_)
        | StepKind::Env(_)
        | StepKind::Arg(_)
        | StepKind::Shell(_)
        | StepKind::Expose(_)
        | StepKind::Label(_)
        | StepKind::StopSignal(_)
        | StepKind::Entrypoint(_)
        | StepKind::Cmd(_)
        | StepKind::Healthcheck(_) => false,
    }
}

/// Rewrites commands of a script's plain lines: lines whose only shell
/// syntax is `&&` between commands (no quoting, variables, redirections,
/// pipes, `;` or `||`). `rewrite` sees each command's words and the
/// previous command's on the line, and returns the command's new text or
/// `None` to keep it. Returns the new script, or `None` when nothing
/// changed. Lines keep their indentation; a changed line's commands are
/// joined by ` && `.
pub fn rewrite_commands(script: &str, rewrite: impl Fn(Option<&[&str]>, &[&str]) -> Option<String>) -> Option<String> {
    let mut changed = false;
    let lines: Vec<String> = script
        .split('\n')
        .map(|line| {
            let without = line.replace("&&", " ");
            if without.contains(['\'', '"', '`', '$', '(', ')', '{', '}', '|', ';', '<', '>', '\\', '#', '&'].as_slice()) {
                return line.to_owned();
            }
            let commands: Vec<Vec<&str>> = line.split("&&").map(|c| c.split_whitespace().collect()).collect();
            let mut line_changed = false;
            let out: Vec<String> = commands
                .iter()
                .enumerate()
                .map(|(i, words)| {
                    let previous = i.checked_sub(1).map(|p| commands[p].as_slice());
                    match rewrite(previous, words) {
                        Some(new) => {
                            line_changed = true;
                            new
                        }
                        None => words.join(" "),
                    }
                })
                .collect();
            if !line_changed {
                return line.to_owned();
            }
            changed = true;
            let indent = &line[..line.len() - line.trim_start().len()];
            format!("{indent}{}", out.join(" && "))
        })
        .collect();
    changed.then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workdirs found for all stages at once are those found per stage
    /// by walking each chain.
    #[test]
    fn final_workdirs_agree_with_the_walk_per_stage() {
        let spec = r#"builder "s" from="scratch" { copy "a" to="/a"; }
builder "t" from="s" { workdir "x"; copy "b"; }
builder "u" from="t" { workdir "/abs"; workdir "rel"; }
builder "v" from="debian:bookworm-slim" { workdir "w"; }
builder "w" from="v" { copy "c"; }
builder "z" from="debian:bookworm-slim" { workdir "/z"; }
runtime "app" from="u" { copy "/a" from="w" to="/b"; copy "/z" from="z" to="/z"; }"#;
        let source = crate::source::SourceFile::new("buildspec.kdl", spec.to_owned());
        let graph = crate::graph::build(&crate::syntax::parse(&source).spec).value.expect("a graph");
        let finals = final_workdirs(&graph);
        for stage in &graph.stages {
            assert_eq!(initial_workdir_given(&graph, stage.id, &finals), initial_workdir(&graph, stage.id), "{}", stage.name.value);
        }
        assert_eq!(initial_workdir(&graph, graph.find("t").unwrap()).as_deref(), Some("/"));
        assert_eq!(initial_workdir(&graph, graph.find("app").unwrap()).as_deref(), Some("/abs/rel"));
    }
}
