//! Writing spec strings into Dockerfile text so that they mean exactly
//! themselves. Dockerfile instructions that expand variables run their
//! words through BuildKit's shell-like lexer; these functions escape for
//! it. `${NAME}`, `${NAME:-word}`, `${NAME:+word}` and `$NAME` stay
//! references to build args and env vars; `$$` and any other `$` is a
//! literal dollar sign.

/// Characters that need no escaping anywhere in a word.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_./:@%+=,~^*?[]#".contains(c)
}

/// Splits `s` into literal text and variable references.
fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut res = Vec::new();
    let bytes = s.as_bytes();
    let mut lit_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let reference_len = reference_len(&s[i..]);
        res.push(Piece::Literal(&s[lit_start..i]));
        match reference_len {
            Some(n) => {
                res.push(Piece::Reference(&s[i..i + n]));
                i += n;
            }
            None => {
                res.push(Piece::Dollar);
                // `$$` is one literal dollar.
                i += if bytes.get(i + 1) == Some(&b'$') { 2 } else { 1 };
            }
        }
        lit_start = i;
    }
    res.push(Piece::Literal(&s[lit_start..]));
    res
}

enum Piece<'a> {
    Literal(&'a str),
    Reference(&'a str),
    Dollar,
}

/// Length of a variable reference at the start of `s` (which starts with
/// `$`), if it is one.
fn reference_len(s: &str) -> Option<usize> {
    let name_len = |t: &str| {
        let n = t.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(t.len());
        (n > 0 && !t.starts_with(|c: char| c.is_ascii_digit())).then_some(n)
    };
    let rest = &s[1..];
    if let Some(inner) = rest.strip_prefix('{') {
        let n = name_len(inner)?;
        let after = &inner[n..];
        if after.starts_with('}') {
            return Some(1 + 1 + n + 1);
        }
        for op in [":-", ":+"] {
            if let Some(word) = after.strip_prefix(op) {
                let end = word.find('}')?;
                let word = &word[..end];
                if word.chars().all(|c| is_plain(c) || c == '-') {
                    return Some(1 + 1 + n + 2 + end + 1);
                }
                return None;
            }
        }
        return None;
    }
    name_len(rest).map(|n| n + 1)
}

/// `s` with its variable references replaced by `lookup` (unset: empty,
/// `${N:-w}` / `${N:+w}` as in a shell) and `$$` by `$`: what BuildKit
/// makes of the escaped word, for backends that do not go through it.
pub fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    for piece in pieces(s) {
        match piece {
            Piece::Literal(lit) => out.push_str(lit),
            Piece::Dollar => out.push('$'),
            Piece::Reference(r) => {
                let inner = r.trim_start_matches('$').trim_start_matches('{').trim_end_matches('}');
                let (name, op) = match inner.find(":-").or_else(|| inner.find(":+")) {
                    Some(i) => (&inner[..i], Some((&inner[i..i + 2], &inner[i + 2..]))),
                    None => (inner, None),
                };
                let value = lookup(name).filter(|v| !v.is_empty());
                match op {
                    None => out.push_str(&value.unwrap_or_default()),
                    Some((":-", word)) => out.push_str(&value.unwrap_or_else(|| word.to_owned())),
                    Some((_, word)) => {
                        if value.is_some() {
                            out.push_str(word)
                        }
                    }
                }
            }
        }
    }
    out
}

/// A word for an unquoted position (COPY paths, WORKDIR, flag values):
/// every unusual character is backslash-escaped.
pub fn bare(s: &str) -> String {
    let mut out = String::new();
    for piece in pieces(s) {
        match piece {
            Piece::Reference(r) => out.push_str(r),
            Piece::Dollar => out.push_str("\\$"),
            Piece::Literal(lit) => {
                for c in lit.chars() {
                    if !is_plain(c) && (c != '-' || out.is_empty()) {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
        }
    }
    out
}

/// A double-quoted word (ENV, LABEL and ARG values): only `"`, `\` and
/// literal `$` are escaped.
pub fn quoted(s: &str) -> String {
    let mut out = String::from('"');
    for piece in pieces(s) {
        match piece {
            Piece::Reference(r) => out.push_str(r),
            Piece::Dollar => out.push_str("\\$"),
            Piece::Literal(lit) => {
                for c in lit.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
        }
    }
    out.push('"');
    out
}

/// The shortest safe form: bare when nothing needs escaping, else quoted.
pub fn word(s: &str) -> String {
    let b = bare(s);
    if !s.is_empty() && !b.contains('\\') { b } else { quoted(s) }
}

/// A JSON array of strings taken literally (exec form: SHELL, ENTRYPOINT,
/// CMD, HEALTHCHECK CMD).
pub fn json_literal(items: &[&str]) -> String {
    serde_json::to_string(items).expect("strings serialize")
}

/// A JSON array of words that the lexer expands (COPY/ADD/VOLUME).
pub fn json_words(items: &[&str]) -> String {
    let escaped: Vec<String> = items.iter().map(|s| bare(s)).collect();
    serde_json::to_string(&escaped).expect("strings serialize")
}

/// The script a `run` hands its shell. A multi-line script in a POSIX
/// shell gets `set -e` first, so it stops at its first failing command as
/// a reader of the spec expects; not a script that already starts with
/// it, a `#!` script (left to its interpreter), or one command continued
/// over lines. The one rule for every backend.
pub fn shell_script(script: &str, posix_shell: bool) -> std::borrow::Cow<'_, str> {
    let multi_line = script.trim_end().contains('\n');
    let already = script.lines().next().is_some_and(|l| l.trim_end() == "set -e");
    if posix_shell && multi_line && !already && !script.starts_with("#!") && !is_continued_command(script) {
        std::borrow::Cow::Owned(format!("set -e\n{script}"))
    } else {
        std::borrow::Cow::Borrowed(script)
    }
}

/// Whether a script is one command continued over lines (each line but
/// the last ends in a lone `\`) that a POSIX shell reads exactly as a
/// Dockerfile's shell-form `RUN` joins it: no quote, comment or heredoc a
/// line break could fall inside, no blank or `#` line the Dockerfile would
/// skip, no `\\` before the break. Such a script can be written as a
/// continued `RUN` and read back from one.
pub fn is_continued_command(script: &str) -> bool {
    let lines: Vec<&str> = script.split('\n').collect();
    let Some((last, rest)) = lines.split_last() else { return false };
    !rest.is_empty()
        && script.trim() == script
        && !script.starts_with(['[', '-'])
        && !script.contains(['\'', '#', '\r'])
        && !script.contains("<<")
        && rest.iter().all(|l| l.ends_with('\\') && !l.ends_with("\\\\"))
        && !last.ends_with('\\')
        && lines.iter().all(|l| !l.trim().is_empty() && l.trim() != "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_survive_and_literals_are_escaped() {
        assert_eq!(bare("/opt/${APP}/bin"), "/opt/${APP}/bin");
        assert_eq!(bare("a b"), "a\\ b");
        assert_eq!(bare("--x"), "\\--x");
        assert_eq!(bare("a-b"), "a-b");
        assert_eq!(bare("price$"), "price\\$");
        assert_eq!(bare("$$HOME"), "\\$HOME");
        assert_eq!(bare("<<EOF"), "\\<\\<EOF");
        assert_eq!(quoted("say \"hi\" \\ $5"), "\"say \\\"hi\\\" \\\\ \\$5\"");
        assert_eq!(quoted("${PATH}:/x"), "\"${PATH}:/x\"");
        assert_eq!(word("1.82"), "1.82");
        assert_eq!(word(""), "\"\"");
        assert_eq!(word("${X:-a b}"), "\"\\${X:-a b}\"");
        let vars = |n: &str| (n == "A").then(|| "1".to_owned());
        assert_eq!(expand("${A}/$A/${B:-d}/${A:+w}/$$/x$", &vars), "1/1/d/w/$/x$");
    }

    #[test]
    fn continued_commands() {
        assert!(is_continued_command("apt-get update \\\n && apt-get install -y curl"));
        for not in [
            "one line",
            "echo 'a \\\n b'",
            "a # c \\\n b",
            "a \\\n\n b",
            "a \\\\\n b",
            "a\n b",
            "a \\\n b \\",
            "cat <<EOF \\\n x",
        ] {
            assert!(!is_continued_command(not), "{not:?}");
        }
    }

    #[test]
    fn set_e_once() {
        assert_eq!(shell_script("a\nb", true), "set -e\na\nb");
        assert_eq!(shell_script("set -e\na\nb", true), "set -e\na\nb");
        assert_eq!(shell_script("a \\\n b", true), "a \\\n b");
        assert_eq!(shell_script("#!/usr/bin/env python3\nprint(1)", true), "#!/usr/bin/env python3\nprint(1)");
        assert_eq!(shell_script("a\nb", false), "a\nb");
        assert_eq!(shell_script("a", true), "a");
    }
}
