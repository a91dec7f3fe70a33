//! An instruction splitter for Dockerfiles, written independently of the
//! emitter and following BuildKit's parser rules: the tests and the fuzz
//! targets (fuzz/, which includes this file by path) check that what the
//! emitter wrote splits into exactly the instructions it meant.

/// One instruction as BuildKit's parser would see it: its keyword
/// (uppercased) and its lines, heredoc bodies included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitInstruction {
    pub keyword: String,
    pub text: String,
}

/// Splits Dockerfile text into instructions: skips blank and comment
/// lines, joins `\` continuations, and for RUN/COPY/ADD consumes the body
/// of every `<<WORD` heredoc up to its terminator line.
pub fn split_dockerfile(text: &str) -> Vec<SplitInstruction> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut res = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let mut logical = String::new();
        let mut raw = vec![line];
        let mut current = line;
        loop {
            let t = current.trim_end_matches([' ', '\t']);
            if let Some(stripped) = t.strip_suffix('\\') {
                logical.push_str(stripped);
                i += 1;
                // Comment lines inside a continuation are dropped.
                while i < lines.len() && lines[i].trim_start().starts_with('#') {
                    i += 1;
                }
                if i >= lines.len() {
                    break;
                }
                current = lines[i];
                raw.push(current);
            } else {
                logical.push_str(current);
                i += 1;
                break;
            }
        }
        let keyword = logical.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for word in logical.split_whitespace() {
                let Some(marker) = word.strip_prefix("<<") else { continue };
                let strip_tabs = marker.starts_with('-');
                let marker = marker.trim_start_matches('-');
                let delim = marker.trim_matches(|c| c == '\'' || c == '"');
                loop {
                    if i >= lines.len() {
                        break;
                    }
                    let body = lines[i];
                    raw.push(body);
                    i += 1;
                    let cmp = if strip_tabs { body.trim_start_matches('\t') } else { body };
                    if cmp == delim {
                        break;
                    }
                }
            }
        }
        res.push(SplitInstruction { keyword, text: raw.join("\n") });
    }
    res
}
