//! Image references (`registry:5000/org/name:tag@sha256:…`) as docker
//! understands them: checked loosely enough to accept every real reference
//! and strictly enough to refuse anything that is not one.

/// True when `s` (after `${ARG}` references are replaced by a placeholder)
/// has the shape of an image reference.
pub fn is_valid(s: &str) -> bool {
    let s = substitute_args(s);
    if s.is_empty() || s.len() > 4096 {
        return false;
    }
    let (name_tag, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (s.as_str(), None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty()
                && alg.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && hex.len() >= 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        });
        if !ok {
            return false;
        }
    }
    let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (&name_tag[..last_slash + i], Some(&name_tag[last_slash + i + 1..])),
        None => (name_tag, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return false;
        }
    }
    let parts: Vec<&str> = name.split('/').collect();
    parts.iter().enumerate().all(|(i, part)| {
        let is_host = i == 0
            && parts.len() > 1
            && (part.contains('.') || part.contains(':') || *part == "localhost");
        if is_host {
            let (host, port) = part.split_once(':').unwrap_or((part, "1"));
            !host.is_empty()
                && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && !port.is_empty()
                && port.chars().all(|c| c.is_ascii_digit())
        } else {
            component_ok(part)
        }
    })
}

fn component_ok(part: &str) -> bool {
    let b = part.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
        && b[b.len() - 1].is_ascii_lowercase() | b[b.len() - 1].is_ascii_digit()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

/// Replaces each `${NAME}` with `x`, so the rest can be checked.
fn substitute_args(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        match rest[i..].find('}') {
            Some(j) => {
                out.push('x');
                rest = &rest[i + j + 1..];
            }
            None => return format!("{out}{}", &rest[i..]),
        }
    }
    out.push_str(rest);
    out
}

/// The `${NAME}` references in a `from=` value, with their byte ranges.
pub fn arg_refs(s: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut res = Vec::new();
    let mut at = 0;
    while let Some(i) = s[at..].find("${") {
        let start = at + i;
        match s[start..].find('}') {
            Some(j) => {
                let inner = &s[start + 2..start + j];
                let name = inner.split(':').next().unwrap_or(inner);
                res.push((start..start + j + 1, name));
                at = start + j + 1;
            }
            None => break,
        }
    }
    res
}

/// `s` with each `${NAME}` replaced by the default of the global arg
/// `NAME`; references without a default are kept.
pub fn expand_defaults(s: &str, args: &[crate::spec::ArgDecl]) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (range, name) in arg_refs(s) {
        out.push_str(&s[at..range.start]);
        match args.iter().rev().find(|a| a.name.value == name).and_then(|a| a.default.as_ref()) {
            Some(default) => out.push_str(default),
            None => out.push_str(&s[range.clone()]),
        }
        at = range.end;
    }
    out.push_str(&s[at..]);
    out
}

/// Whether a stage name could be what a `from=` value with `${ARG}`s
/// expands to: each reference matches any text.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let refs = arg_refs(pattern);
    let mut literals = Vec::new();
    let mut at = 0;
    for (range, _) in &refs {
        literals.push(&pattern[at..range.start]);
        at = range.end;
    }
    literals.push(&pattern[at..]);
    let (first, rest) = literals.split_first().expect("at least one literal");
    let Some(mut remaining) = name.strip_prefix(first) else { return false };
    for (i, lit) in rest.iter().enumerate() {
        let is_last = i + 1 == rest.len();
        if is_last {
            return remaining.ends_with(lit);
        }
        match remaining.find(lit) {
            Some(j) => remaining = &remaining[j + lit.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_references() {
        for it in [
            "debian:bookworm-slim",
            "gcr.io/distroless/cc-debian12",
            "localhost:5000/app:1.0",
            "rust:${RUST_VERSION}-bookworm",
            "${BASE}",
            "python:3.12-slim@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "registry.example.com:443/team/app_name:v1.2.3",
        ] {
            assert!(is_valid(it), "{it}");
        }
    }

    #[test]
    fn refuses_non_references() {
        for it in ["", "Debian", "debian:", "a b", "debian:bookworm\nRUN x", "-x", "x/", "x:-tag", "x@sha256:zz"] {
            assert!(!is_valid(it), "{it:?}");
        }
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("${BASE}", "anything"));
        assert!(pattern_matches("base-${V}", "base-debian"));
        assert!(!pattern_matches("base-${V}", "build"));
        assert!(pattern_matches("${A}-x-${B}", "a-x-b"));
        assert!(!pattern_matches("${A}-x", "a-y"));
    }
}
