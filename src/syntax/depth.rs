//! How deeply KDL text nests its children blocks, found by one linear scan
//! before any parser sees the text. The parsers (the fast reader, the kdl
//! crate, the lowering) recurse once per block, so text nested deeper than
//! [`MAX_DEPTH`] is refused here with a spanned diagnostic instead of
//! overflowing the stack.
//!
//! The scan knows exactly what hides a brace: strings (quoted, with
//! escapes; multi-line; raw `#"…"#` with any number of hashes) and
//! comments (`//` lines and nested `/* */`). It does not judge whether the
//! text is valid KDL; that is the parser's job, and a parser only ever sees
//! text whose blocks nest at most `MAX_DEPTH` deep. O(n) in the text.

/// The deepest nesting of children blocks a spec (or lock file) may have.
/// Specs need three or four; this leaves room for generated ones.
pub const MAX_DEPTH: usize = 64;

/// The byte offset of the first `{` that opens a block deeper than
/// [`MAX_DEPTH`], if there is one.
pub fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => i = after_multi_line(bytes, i + 3),
            b'"' => i = after_quoted(bytes, i + 1),
            b'#' => i = after_raw(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = after_line(bytes, i + 2),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = after_block_comment(bytes, i + 2),
            _ => i += 1,
        }
    }
    None
}

/// Past the `"""` that closes a multi-line string whose text starts at
/// `i` (escapes as in a quoted string; a lone `"` is text).
fn after_multi_line(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' if bytes[i..].starts_with(b"\"\"\"") => return i + 3,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Past the `"` that closes a quoted string whose text starts at `i`.
fn after_quoted(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Past a raw string starting at the `#` at `i` (`#"…"#`, `##"…"##`, …);
/// a `#` that starts no raw string (`#true`) is stepped over.
fn after_raw(bytes: &[u8], i: usize) -> usize {
    let hashes = bytes[i..].iter().take_while(|&&b| b == b'#').count();
    let open = i + hashes;
    if bytes.get(open) != Some(&b'"') {
        return open;
    }
    // `#"""…"""#` ends only at `"""` and the hashes; `#"…"#` at `"` and them.
    let quotes = if bytes[open..].starts_with(b"\"\"\"") { 3 } else { 1 };
    let mut j = open + quotes;
    while j < bytes.len() {
        let closes = bytes[j..].iter().take(quotes).filter(|&&b| b == b'"').count() == quotes
            && bytes[(j + quotes).min(bytes.len())..].iter().take(hashes).filter(|&&b| b == b'#').count() == hashes;
        if closes {
            return j + quotes + hashes;
        }
        j += 1;
    }
    bytes.len()
}

/// Past the end of a `//` comment: any of KDL's newlines (LF, CR, VT, FF,
/// NEL, LS, PS) ends it.
fn after_line(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\n' | b'\r' | 0x0b | 0x0c => return i + 1,
            0xc2 if bytes.get(i + 1) == Some(&0x85) => return i + 2,
            0xe2 if bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) => return i + 3,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn after_block_comment(bytes: &[u8], mut i: usize) -> usize {
    let mut open = 1usize;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"/*") {
            open += 1;
            i += 2;
        } else if bytes[i..].starts_with(b"*/") {
            open -= 1;
            i += 2;
            if open == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}{}", "a {\n".repeat(depth), "}\n".repeat(depth))
    }

    #[test]
    fn the_limit_is_allowed_and_one_more_is_not() {
        assert_eq!(too_deep(&nested(MAX_DEPTH)), None);
        let text = nested(MAX_DEPTH + 1);
        assert_eq!(too_deep(&text), Some(MAX_DEPTH * 4 + 2));
        assert_eq!(&text[MAX_DEPTH * 4 + 2..][..1], "{");
    }

    #[test]
    fn braces_in_strings_and_comments_do_not_count() {
        let hidden = "{".repeat(MAX_DEPTH + 1);
        for text in [
            format!("run \"{hidden}\""),
            format!("run \"\\\"{hidden}\""),
            format!("run #\"{hidden}\"#"),
            format!("run ##\"\"#{hidden}\"##"),
            format!("run \"\"\"\n{hidden}\n\"\"\""),
            format!("// {hidden}\nrun"),
            format!("/* /* */ {hidden} */ run"),
            format!("run #true {{ }} \"{hidden}\""),
            format!("run \"\"\"\n  x \" {hidden} \\\"\"\" \n  \"\"\""),
            format!("run #\"\"\"\n  \"# {hidden}\n  \"\"\"#"),
        ] {
            assert_eq!(too_deep(&text), None, "{text}");
        }
    }

    #[test]
    fn braces_after_strings_and_comments_count() {
        let open = "a {".repeat(MAX_DEPTH + 1);
        for text in [
            format!("run \"x\" {open}"),
            format!("// c\n{open}"),
            format!("/* c */ {open}"),
            format!("run #\"x\"# {open}"),
            format!("a \"\"\"\n  x \" y\n  \"\"\"\n{open}"),
            format!("a #\"\"\"\n  x \"# y\n  \"\"\"#\n{open}"),
            format!("// c\r{open}"),
            format!("// c\u{2028}{open}"),
            format!("// c\u{85}{open}"),
            format!("// c\u{c}{open}"),
        ] {
            assert!(too_deep(&text).is_some(), "{text}");
        }
    }

    #[test]
    fn unterminated_input_ends_the_scan() {
        for text in ["run \"", "run #\"", "/* ", "//", "#", "run \"\\"] {
            assert_eq!(too_deep(text), None);
        }
    }
}
