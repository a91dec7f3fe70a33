//! Dockerfile text → instructions, as BuildKit 0.13's built-in frontend
//! splits it: parser directives (`syntax`, `escape`, `check`) at the top,
//! comments, line continuations with the escape character (comment and
//! blank lines inside a continuation skipped), heredocs (`<<EOF`,
//! `<<-EOF`, quoted delimiters) on RUN, COPY and ADD, `--flag=value`
//! options, and JSON (exec) or shell forms. Pure and total: every problem
//! is an [`ImportError`] with the Dockerfile's own line and column.

/// One instruction with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper-cased: `FROM`, `RUN`, …
    pub keyword: String,
    /// `--name=value` options before the arguments, in order (`--link`
    /// alone has an empty value and `bare` set).
    pub flags: Vec<Flag>,
    pub args: Args,
    /// Heredoc bodies, in the order their `<<NAME` appear.
    pub heredocs: Vec<Heredoc>,
    /// The shell-form arguments with their line breaks kept (each
    /// escape-newline as `\`-newline), when they were continued over
    /// lines with `\` and no comment or blank line between.
    pub continued: Option<String>,
    /// 1-based line and column of the keyword.
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: String,
    /// `--link` rather than `--link=…`.
    pub bare: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// The rest of the line as written (continuations joined, the
    /// escape-newline pairs removed).
    Shell(String),
    /// `["a", "b"]`.
    Json(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub body: String,
    /// `<<-`: leading tabs stripped from the body.
    pub strip_tabs: bool,
    /// A quoted delimiter: no expansion in the body.
    pub quoted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub syntax: Option<String>,
    pub escape: char,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ImportError {
    pub message: String,
    pub line: usize,
    pub column: usize,
    pub help: String,
}

const KEYWORDS: &[&str] = &[
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG",
    "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
];

/// Instructions whose arguments may open heredocs.
const HEREDOC_KEYWORDS: &[&str] = &["RUN", "COPY", "ADD"];

pub fn parse(text: &str) -> Result<Dockerfile, ImportError> {
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut escape = '\\';
    let mut syntax = None;
    let mut i = 0;
    // Parser directives: `# key=value` lines before anything else.
    let mut seen_directives = Vec::new();
    while i < lines.len() {
        let Some((key, value)) = directive(lines[i]) else { break };
        if seen_directives.contains(&key) {
            break; // a repeated directive is an ordinary comment
        }
        match key.as_str() {
            "escape" => {
                escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => return Err(err(i + 1, 1, format!("invalid escape directive `{value}`"), "the escape character is \\ or `")),
                }
            }
            "syntax" => syntax = Some(value),
            _ => {}
        }
        seen_directives.push(key);
        i += 1;
    }
    let mut instructions = Vec::new();
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let (start_line, column) = (i + 1, line.len() - trimmed.len() + 1);
        // Join continuation lines.
        let mut logical = String::new();
        let mut current = trimmed.to_owned();
        // Where in `logical` lines were joined; None once a comment or
        // blank line was skipped.
        let mut joins = Some(Vec::new());
        loop {
            let body = current.trim_end();
            match body.strip_suffix(escape) {
                Some(rest) => {
                    logical.push_str(rest);
                    if let Some(j) = joins.as_mut() {
                        j.push(logical.len());
                    }
                    i += 1;
                    // Skip comment and blank lines inside the continuation.
                    while i < lines.len() && (lines[i].trim().is_empty() || lines[i].trim_start().starts_with('#')) {
                        joins = None;
                        i += 1;
                    }
                    if i >= lines.len() {
                        break;
                    }
                    current = lines[i].to_owned();
                }
                _ => {
                    logical.push_str(&current);
                    i += 1;
                    break;
                }
            }
        }
        let (keyword, rest) = match logical.find(char::is_whitespace) {
            Some(n) => (&logical[..n], logical[n..].trim_start()),
            None => (logical.as_str(), ""),
        };
        let upper = keyword.to_ascii_uppercase();
        if !KEYWORDS.contains(&upper.as_str()) {
            let known: Vec<&str> = KEYWORDS.iter().map(|k| &k[..]).collect();
            let help = match crate::syntax::names::suggest(&upper, known.iter().copied()) {
                Some(it) => format!("did you mean {it}?"),
                None => "a Dockerfile instruction starts with FROM, RUN, COPY, …".to_owned(),
            };
            return Err(err(start_line, column, format!("unknown instruction `{keyword}`"), &help));
        }
        if upper == "ONBUILD" {
            return Err(err(start_line, column, "ONBUILD is not supported: it runs in the builds of other images, which a spec does not describe", "move the instructions into the images that build on this one"));
        }
        // Only these take `--options`; elsewhere `--x` is an argument.
        let (flags, rest) = if ["FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"].contains(&upper.as_str()) {
            flags(rest, start_line, column + keyword.len() + 1)?
        } else {
            (Vec::new(), rest)
        };
        let mut heredocs = Vec::new();
        if HEREDOC_KEYWORDS.contains(&upper.as_str()) {
            for opener in heredoc_openers(rest) {
                let mut body = Vec::new();
                loop {
                    if i >= lines.len() {
                        return Err(err(start_line, column, format!("heredoc `<<{}` is never closed", opener.name), &format!("end it with a line holding only {}", opener.name)));
                    }
                    let l = lines[i];
                    i += 1;
                    let check = if opener.strip_tabs { l.trim_start_matches('\t') } else { l };
                    if check == opener.name {
                        break;
                    }
                    body.push(if opener.strip_tabs { l.trim_start_matches('\t') } else { l });
                }
                let mut text = body.join("\n");
                text.push('\n');
                heredocs.push(Heredoc { body: text, ..opener });
            }
        }
        let continued = match joins {
            Some(joins) if escape == '\\' && !joins.is_empty() && !rest.starts_with('[') => {
                continued_text(&logical, rest.trim_end(), &joins)
            }
            _ => None,
        };
        let args = if rest.starts_with('[') {
            match serde_json::from_str::<Vec<String>>(rest.trim_end()) {
                Ok(items) => Args::Json(items),
                // Not valid JSON: the shell form, as BuildKit reads it.
                Err(_) => Args::Shell(rest.to_owned()),
            }
        } else {
            Args::Shell(rest.trim_end().to_owned())
        };
        instructions.push(Instruction { keyword: upper, flags, args, heredocs, continued, line: start_line, column });
    }
    Ok(Dockerfile { syntax, escape, instructions })
}

/// `args` (a part of `logical`) with a `\`-newline at each join that
/// falls inside it; None when none does.
fn continued_text(logical: &str, args: &str, joins: &[usize]) -> Option<String> {
    let start = (args.as_ptr() as usize).checked_sub(logical.as_ptr() as usize)?;
    let end = start + args.len();
    let inside: Vec<usize> = joins.iter().filter(|&&j| j > start && j < end).map(|j| j - start).collect();
    if inside.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(args.len() + 2 * inside.len());
    let mut from = 0;
    for j in inside {
        out.push_str(&args[from..j]);
        out.push_str("\\\n");
        from = j;
    }
    out.push_str(&args[from..]);
    Some(out)
}

fn err(line: usize, column: usize, message: impl Into<String>, help: &str) -> ImportError {
    ImportError { message: message.into(), line, column, help: help.to_owned() }
}

/// `# key=value`, a parser directive.
fn directive(line: &str) -> Option<(String, String)> {
    let body = line.trim_start().strip_prefix('#')?;
    let (key, value) = body.split_once('=')?;
    let key = key.trim().to_ascii_lowercase();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((key, value.trim().to_owned()))
}

/// Leading `--name[=value]` options; the rest of the arguments.
fn flags(mut rest: &str, line: usize, column: usize) -> Result<(Vec<Flag>, &str), ImportError> {
    let mut out = Vec::new();
    while let Some(after) = rest.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let word = &after[..end];
        let (name, value, bare) = match word.split_once('=') {
            Some((n, v)) => (n, v, false),
            None => (word, "", true),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(err(line, column, format!("malformed option `--{word}`"), "options look like --name=value"));
        }
        out.push(Flag { name: name.to_owned(), value: unquote(value), bare });
        rest = after[end..].trim_start();
    }
    Ok((out, rest))
}

/// A flag value with surrounding quotes taken off.
fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_owned();
        }
    }
    v.to_owned()
}

/// The `<<NAME`, `<<-NAME`, `<<"NAME"` openers of a line, in order
/// (not `<<<`, and not inside quotes).
fn heredoc_openers(rest: &str) -> Vec<Heredoc> {
    let mut out = Vec::new();
    let b = rest.as_bytes();
    let (mut i, mut single, mut double) = (0, false, false);
    while i < b.len() {
        match b[i] {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'<' if !single && !double && b.get(i + 1) == Some(&b'<') && b.get(i + 2) != Some(&b'<') && (i == 0 || b[i - 1] != b'<') => {
                let mut j = i + 2;
                let strip_tabs = b.get(j) == Some(&b'-');
                if strip_tabs {
                    j += 1;
                }
                let quote = b.get(j).copied().filter(|c| *c == b'"' || *c == b'\'');
                if quote.is_some() {
                    j += 1;
                }
                let start = j;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j > start {
                    out.push(Heredoc { name: rest[start..j].to_owned(), body: String::new(), strip_tabs, quoted: quote.is_some() });
                    if let Some(q) = quote
                        && b.get(j) == Some(&q)
                    {
                        j += 1;
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Instruction {
        let df = parse(text).unwrap();
        assert_eq!(df.instructions.len(), 1, "{df:?}");
        df.instructions.into_iter().next().unwrap()
    }

    #[test]
    fn continuations_join_and_skip_comments() {
        let i = one("RUN apt-get update \\\n    # a comment\n\n    && apt-get install -y curl\n");
        assert_eq!(i.args, Args::Shell("apt-get update     && apt-get install -y curl".to_owned()));
        assert_eq!((i.line, i.column), (1, 1));
    }

    #[test]
    fn the_escape_directive_changes_the_continuation() {
        let df = parse("# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir `\n  c:\\\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.instructions[1].args, Args::Shell("dir   c:\\".to_owned()));
    }

    #[test]
    fn flags_json_and_heredocs() {
        let i = one("COPY --from=build --chown=app:app --link /out /app\n");
        assert_eq!(i.flags.iter().map(|f| (f.name.as_str(), f.value.as_str(), f.bare)).collect::<Vec<_>>(), [("from", "build", false), ("chown", "app:app", false), ("link", "", true)]);
        assert_eq!(one("CMD [\"node\", \"server.js\"]").args, Args::Json(vec!["node".into(), "server.js".into()]));
        let df = parse("RUN <<EOF\nset -e\necho hi\nEOF\nRUN <<-\"END\" cat > /x\n\tone\n\tEND\n").unwrap();
        assert_eq!(df.instructions[0].heredocs[0].body, "set -e\necho hi\n");
        let second = &df.instructions[1].heredocs[0];
        assert_eq!((second.name.as_str(), second.body.as_str(), second.strip_tabs, second.quoted), ("END", "one\n", true, true));
    }

    #[test]
    fn problems_name_their_line() {
        let e = parse("FROM debian\nRUNN make\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        assert!(e.help.contains("RUN"), "{e:?}");
        assert!(parse("FROM debian\nONBUILD RUN make\n").unwrap_err().message.contains("ONBUILD"));
        assert_eq!(parse("FROM debian\nRUN <<EOF\necho\n").unwrap_err().line, 2);
        assert!(parse("COPY --=x a b").is_err());
    }
}
