//! Which steps a change re-executes: a pure simulation of BuildKit's cache
//! over the emitted instructions. A step re-runs when the state it starts
//! from changed (the chain), or when what it reads changed: context paths
//! the .dockerignore lets through, or a stage that re-ran. A `COPY --link`
//! after a change re-uses its copied layer, but BuildKit still re-runs the
//! merge onto the new state below it, and reports the step as run: so
//! does the plan.

use globset::{GlobBuilder, GlobMatcher};

use crate::Compiled;

/// One filesystem step of the emitted Dockerfile (RUN, COPY, ADD, WORKDIR)
/// and whether it re-executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    pub stage: String,
    /// Spec line the step comes from.
    pub line: usize,
    /// The first line of the instruction.
    pub instruction: String,
    pub rebuild: bool,
}

/// The steps of every emitted stage, in order, for a change of `changed`
/// (paths relative to the build context).
pub fn plan(compiled: &Compiled, source: &crate::source::SourceFile, changed: &[String]) -> Vec<PlannedStep> {
    let changed: Vec<String> = changed.iter().map(|p| crate::passes::facts::normalize(p)).collect();
    let ignore = Ignore::new(&compiled.graph);
    let visible: Vec<&String> = changed.iter().filter(|p| !ignore.excludes(p)).collect();
    let mut dirty_stages: Vec<String> = Vec::new();
    let mut res = Vec::new();
    let mut stage = String::new();
    let mut chain = false;
    let finish = |stage: &str, chain: bool, dirty: &mut Vec<String>| {
        if chain && !stage.is_empty() {
            dirty.push(stage.to_owned());
        }
    };
    for ins in &compiled.instructions {
        let Some(origin) = &ins.origin else { continue };
        if ins.keyword == "FROM" {
            finish(&stage, chain, &mut dirty_stages);
            stage = origin.stage.clone();
            chain = ins.reads.stages.iter().any(|s| dirty_stages.contains(s));
            continue;
        }
        if !matches!(ins.keyword, "RUN" | "COPY" | "ADD" | "WORKDIR") {
            continue;
        }
        let reads_change = ins.reads.stages.iter().any(|s| dirty_stages.contains(s))
            || ins.reads.context.iter().any(|src| visible.iter().any(|p| source_covers(src, p)));
        let rebuild = reads_change || chain;
        chain |= rebuild;
        res.push(PlannedStep {
            stage: stage.clone(),
            line: source.line_of(origin.span.offset),
            instruction: display(&ins.text),
            rebuild,
        });
    }
    res
}

/// An instruction the way BuildKit's progress shows it: its first line,
/// and for a heredoc, the heredoc's first line in parentheses.
fn display(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").to_owned();
    if !first.contains("<<") {
        return first;
    }
    let body: Vec<&str> = lines.collect();
    let body = &body[..body.len().saturating_sub(1)];
    match body {
        [] => first,
        [only] => format!("{first} ({only})"),
        [head, ..] => format!("{first} ({head}...)"),
    }
}

fn glob(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern).literal_separator(true).build().ok().map(|g| g.compile_matcher())
}

/// Whether a copy source (path, directory or glob, context-relative)
/// reads `path`.
fn source_covers(source: &str, path: &str) -> bool {
    let source = crate::passes::facts::normalize(source);
    if source.is_empty() || source == path || path.starts_with(&format!("{source}/")) {
        return true;
    }
    glob(&source).is_some_and(|g| ancestors(path).any(|a| g.is_match(a)))
}

/// `a/b/c`, `a/b`, `a`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(path), |p| p.rfind('/').map(|i| &p[..i]))
}

/// The emitted .dockerignore rules, applied the way docker applies them:
/// the last matching pattern wins, and a pattern matching a parent
/// directory matches what is inside it.
struct Ignore {
    rules: Vec<(bool, GlobMatcher)>,
}

impl Ignore {
    fn new(graph: &crate::graph::Graph) -> Ignore {
        let mut rules = Vec::new();
        if let Some(allowed) = &graph.context.allowlist {
            rules.extend(glob("*").map(|g| (true, g)));
            rules.extend(allowed.iter().filter_map(|a| glob(&crate::passes::facts::normalize(a)).map(|g| (false, g))));
        }
        for exclude in &graph.context.excludes {
            let (negated, pattern) = match exclude.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, exclude.as_str()),
            };
            if let Some(g) = glob(&crate::passes::facts::normalize(pattern)) {
                rules.push((!negated, g));
            }
        }
        Ignore { rules }
    }

    fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for (exclude, glob) in &self.rules {
            if ancestors(path).any(|a| glob.is_match(a)) {
                excluded = *exclude;
            }
        }
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_cover_paths_below_them() {
        assert!(source_covers(".", "src/main.rs"));
        assert!(source_covers("src", "src/main.rs"));
        assert!(!source_covers("src", "srcx/main.rs"));
        assert!(source_covers("*.py", "app.py"));
        assert!(!source_covers("*.py", "pkg/app.py"));
        assert!(source_covers("./Cargo.toml", "Cargo.toml"));
    }
}
