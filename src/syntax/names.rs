//! Known node and property names per position, and "did you mean"
//! suggestions for misspelt ones.

pub const TOP_LEVEL: &[&str] = &["buildspec", "context", "include", "lint", "arg", "builder", "test", "runtime"];
pub const LINT: &[&str] = &["allow"];
pub const CONTEXT: &[&str] = &["exclude", "include"];
pub const STAGE: &[&str] = &[
    "workdir",
    "user",
    "env",
    "arg",
    "shell",
    "expose",
    "volume",
    "label",
    "stopsignal",
    "entrypoint",
    "cmd",
    "healthcheck",
    "copy",
    "add",
    "run",
    "packages",
    "deps",
    "include",
];
pub const DEPS: &[&str] = &["copy", "add", "run", "include"];
pub const RUN: &[&str] = &["cache", "secret", "ssh", "bind", "tmpfs"];

/// The closest of `candidates` to `name`, if it is close enough to be a
/// plausible typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name_lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|it| (strsim::jaro_winkler(&name_lower, &it.to_ascii_lowercase()), it))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, it)| it)
}

/// "did you mean `x`?" or a list of what is allowed.
pub fn help_for(name: &str, candidates: &[&str]) -> String {
    match suggest(name, candidates.iter().copied()) {
        Some(it) => format!("did you mean `{it}`?"),
        None if candidates.is_empty() => "this node takes no properties".to_owned(),
        None => format!("expected one of: {}", candidates.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("wrokdir", STAGE.iter().copied()), Some("workdir"));
        assert_eq!(suggest("entrypiont", STAGE.iter().copied()), Some("entrypoint"));
        assert_eq!(suggest("zzzz", STAGE.iter().copied()), None);
    }
}
