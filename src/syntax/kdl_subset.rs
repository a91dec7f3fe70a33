//! A fast reader for the part of KDL v2 that specs are written in, making
//! the same `KdlDocument` (names, values and spans) as the kdl crate.
//!
//! The kdl crate stays the reference: it is the data model, it reads
//! everything this reader does not, and it reports every syntax error.
//! This reader exists because the crate's parser (combinators with error
//! recovery) reads about 2 MB/s, which made parsing more than half of
//! `generate` and `compile --all` over a large monorepo; this one reads
//! specs about fifty times faster.
//!
//! The subset: nodes with bare, quoted or raw (`#"…"#`) names; arguments
//! and `key=value` properties whose values are strings (bare, quoted with
//! the simple escapes and `\u{…}`, raw, multi-line without escapes), decimal integers or
//! `#true`/`#false`/`#null`; children blocks; `;`, newline and `//`
//! terminators; `//` and nested `/* */` comments; spaces and tabs; ASCII
//! outside strings and comments. Anything else (slashdash, type
//! annotations, escapes in multi-line strings, line continuations, other numbers,
//! carriage returns, Unicode spaces or newlines, invalid KDL) makes
//! [`parse`] answer `None`, and the caller asks the kdl crate. So the
//! reader never has to judge invalid input: it only has to read valid
//! input in its subset exactly as the crate does, which
//! `tests/kdl_subset.rs` checks against the crate on every spec, template
//! output and generated input it has.
//!
//! Spans follow the crate's: a node runs from its name to the end of the
//! spaces after its last entry or children block (not its terminator); an
//! entry from its key (or value) to the end of its value; a children
//! document from its first node to the end of its last.

use kdl::{KdlDocument, KdlEntry, KdlIdentifier, KdlNode, KdlValue};

/// Deeper children than this are left to the kdl crate.
const MAX_DEPTH: usize = 64;

/// Reads `text` when it is in the subset, its spans counted from `base`
/// (its place in the spec's offset space). `None` means "not in the
/// subset", never "invalid".
pub fn parse(text: &str, base: usize) -> Option<KdlDocument> {
    if !text.chars().all(plain_char) {
        return None;
    }
    let mut reader = Reader { text, bytes: text.as_bytes(), pos: 0, base, depth: 0 };
    let doc = reader.nodes()?;
    (reader.pos == reader.bytes.len()).then_some(doc)
}

/// About where `text` leaves the subset (for a file too large for the
/// kdl crate to be asked): the first character outside the reader's
/// classes, or where the reader stopped, whichever comes first.
pub fn stops_at(text: &str) -> usize {
    let odd_char = text.char_indices().find(|&(_, c)| !plain_char(c)).map_or(text.len(), |(i, _)| i);
    let mut reader = Reader { text, bytes: text.as_bytes(), pos: 0, base: 0, depth: 0 };
    let stopped = match reader.nodes() {
        Some(_) => reader.pos,
        None => reader.pos,
    };
    odd_char.min(stopped).min(text.len())
}

/// Characters the reader's simple classes cover: no carriage returns,
/// control characters, Unicode spaces or newlines, byte-order marks or
/// the code points KDL refuses.
fn plain_char(c: char) -> bool {
    match c {
        '\t' | '\n' => true,
        c if c.is_ascii() => !c.is_ascii_control(),
        '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200f}' | '\u{2028}'..='\u{202f}' | '\u{205f}' | '\u{2066}'..='\u{2069}' | '\u{3000}' | '\u{feff}' => false,
        c => !c.is_control(),
    }
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    base: usize,
    depth: usize,
}

/// A string-like token: its value and where it starts.
struct Str {
    value: String,
    start: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn span(&self, start: usize) -> (usize, usize) {
        (self.base + start, self.pos - start)
    }

    /// `nodes := line-space* (node (terminator line-space* node)*)? terminator? line-space*`,
    /// ending before a `}` or at the end of the text.
    fn nodes(&mut self) -> Option<KdlDocument> {
        let mut doc = KdlDocument::new();
        self.line_space()?;
        let start = self.pos;
        let mut end = start;
        while !matches!(self.peek(), None | Some(b'}')) {
            let node = self.node()?;
            end = self.pos;
            doc.nodes_mut().push(node);
            match self.peek() {
                None | Some(b'}') => break,
                Some(b';' | b'\n') => self.pos += 1,
                Some(b'/') if self.peek_at(1) == Some(b'/') => self.line_comment(),
                Some(_) => return None,
            }
            self.line_space()?;
        }
        doc.set_span((self.base + start, end - start));
        Some(doc)
    }

    /// One node, up to (not including) its terminator.
    fn node(&mut self) -> Option<KdlNode> {
        let start = self.pos;
        let name = self.string()?;
        let mut name_id = KdlIdentifier::from(name.value);
        name_id.set_span(self.span(name.start));
        let mut node = KdlNode::new(name_id);
        loop {
            let spaced = self.node_space()?;
            match self.peek() {
                None | Some(b'\n' | b';' | b'}') => break,
                Some(b'/') if self.peek_at(1) == Some(b'/') => break,
                Some(b'{') => {
                    node.set_children(self.children()?);
                    self.node_space()?;
                    match self.peek() {
                        None | Some(b'\n' | b';' | b'}') => break,
                        Some(b'/') if self.peek_at(1) == Some(b'/') => break,
                        Some(_) => return None,
                    }
                }
                Some(_) if !spaced => return None,
                Some(_) => {
                    let entry = self.entry()?;
                    node.entries_mut().push(entry);
                }
            }
        }
        node.set_span(self.span(start));
        Some(node)
    }

    fn children(&mut self) -> Option<KdlDocument> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1; // `{`
        let doc = self.nodes()?;
        if self.peek() != Some(b'}') {
            return None;
        }
        self.pos += 1;
        self.depth -= 1;
        Some(doc)
    }

    /// An argument or a `key=value` property.
    fn entry(&mut self) -> Option<KdlEntry> {
        let start = self.pos;
        let mut entry = match self.value_or_string()? {
            Token::Value(value) => KdlEntry::new(value),
            Token::Str(key) => {
                let after_key = self.pos;
                self.node_space()?;
                if self.peek() == Some(b'=') {
                    let mut key_id = KdlIdentifier::from(key.value);
                    key_id.set_span((self.base + key.start, after_key - key.start));
                    self.pos += 1;
                    self.node_space()?;
                    let value = match self.value_or_string()? {
                        Token::Value(value) => value,
                        Token::Str(s) => KdlValue::String(s.value),
                    };
                    KdlEntry::new_prop(key_id, value)
                } else {
                    self.pos = after_key;
                    KdlEntry::new(KdlValue::String(key.value))
                }
            }
        };
        entry.set_span(self.span(start));
        Some(entry)
    }

    fn value_or_string(&mut self) -> Option<Token> {
        let value = match (self.peek()?, self.peek_at(1)) {
            (b'#', Some(b't' | b'f' | b'n')) => {
                let word = self.bare_word();
                match word {
                    "#true" => KdlValue::Bool(true),
                    "#false" => KdlValue::Bool(false),
                    "#null" => KdlValue::Null,
                    _ => return None,
                }
            }
            (b'0'..=b'9', _) | (b'+' | b'-', Some(b'0'..=b'9')) => {
                let word = self.bare_word();
                let digits = word.strip_prefix('+').unwrap_or(word);
                let unsigned = digits.strip_prefix('-').unwrap_or(digits);
                if !unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
                    return None;
                }
                KdlValue::Integer(digits.replace('_', "").parse::<i128>().ok()?)
            }
            (b'.' | b'+' | b'-', Some(b'.' | b'0'..=b'9')) => return None,
            _ => return self.string().map(Token::Str),
        };
        self.check_delimited()?;
        Some(Token::Value(value))
    }

    /// A bare identifier, a quoted string or a single-line raw string.
    fn string(&mut self) -> Option<Str> {
        let start = self.pos;
        let value = match self.peek()? {
            b'"' => self.quoted()?,
            b'#' => self.raw()?,
            b'0'..=b'9' => return None,
            _ => {
                let word = self.bare_word();
                if word.is_empty() || matches!(word, "true" | "false" | "null" | "inf" | "-inf" | "nan") {
                    return None;
                }
                let second = word.as_bytes().get(1).copied();
                if matches!((word.as_bytes()[0], second), (b'+' | b'-', Some(b'0'..=b'9' | b'.')) | (b'.', Some(b'0'..=b'9'))) {
                    return None;
                }
                word.to_owned()
            }
        };
        self.check_delimited()?;
        Some(Str { value, start })
    }

    /// The run of identifier characters from here (ASCII only: anything
    /// else is left to the kdl crate by the delimiter check).
    fn bare_word(&mut self) -> &str {
        let start = self.pos;
        if self.peek() == Some(b'#') {
            self.pos += 1;
        }
        while let Some(b) = self.peek() {
            if b <= b' ' || b >= 0x7f || b"\\/(){};[]\"#=".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// What may follow a value: space, a terminator, a children block,
    /// a comment, `=` (after a key) or the end.
    fn check_delimited(&self) -> Option<()> {
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\n' | b';' | b'}' | b'{' | b'=') => Some(()),
            Some(b'/') if matches!(self.peek_at(1), Some(b'/' | b'*')) => Some(()),
            Some(_) => None,
        }
    }

    /// `"…"` on one line, with the escapes `\n \r \t \\ \" \b \f \s \u{…}`.
    fn quoted(&mut self) -> Option<String> {
        if self.bytes[self.pos..].starts_with(b"\"\"\"") {
            return self.multi_line(0);
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let stop = rest.find(['"', '\\', '\n'])?;
            out.push_str(&rest[..stop]);
            self.pos += stop;
            if self.bytes[self.pos] == b'"' {
                self.pos += 1;
                return Some(out);
            }
            if self.bytes[self.pos] == b'\n' {
                return None;
            }
            let (c, len) = match self.peek_at(1)? {
                b'n' => ('\n', 2),
                b'r' => ('\r', 2),
                b't' => ('\t', 2),
                b'\\' => ('\\', 2),
                b'"' => ('"', 2),
                b'b' => ('\u{8}', 2),
                b'f' => ('\u{c}', 2),
                b's' => (' ', 2),
                b'u' => {
                    let hex = self.text[self.pos + 2..].strip_prefix('{')?;
                    let close = hex.find('}')?;
                    let digits = &hex[..close];
                    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return None;
                    }
                    (char::from_u32(u32::from_str_radix(digits, 16).ok()?)?, 2 + 1 + close + 1)
                }
                _ => return None,
            };
            out.push(c);
            self.pos += len;
        }
    }

    /// `#"…"#` with any number of hashes, on one line.
    fn raw(&mut self) -> Option<String> {
        let hashes = self.bytes[self.pos..].iter().take_while(|b| **b == b'#').count();
        let open = self.pos + hashes;
        if self.bytes.get(open) != Some(&b'"') {
            return None;
        }
        if self.bytes[open..].starts_with(b"\"\"\"") {
            self.pos = open;
            return self.multi_line(hashes);
        }
        let close: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
        let body = &self.text[open + 1..];
        let end = body.find(close.as_str())?;
        let value = &body[..end];
        if value.contains('\n') {
            return None;
        }
        self.pos = open + 1 + end + close.len();
        Some(value.to_owned())
    }

    /// A multi-line string from its opening `"""` (behind `hashes` for a
    /// raw one): the lines between the opening and the closing line, less
    /// the closing line's indentation; lines of only spaces become empty.
    /// Left to the crate: escapes, and `"""` anywhere but the close.
    fn multi_line(&mut self, hashes: usize) -> Option<String> {
        let body_start = self.pos + 3;
        if self.peek_at(3) != Some(b'\n') {
            return None;
        }
        let mut lines = Vec::new();
        let mut at = body_start + 1;
        let (prefix, close) = loop {
            let line_end = self.text[at..].find('\n').map(|n| at + n);
            let line = &self.text[at..line_end.unwrap_or(self.text.len())];
            let content = line.trim_start_matches([' ', '\t']);
            if let Some(after) = content.strip_prefix("\"\"\"") {
                if after.bytes().take_while(|b| *b == b'#').count() < hashes {
                    return None;
                }
                let indent = line.len() - content.len();
                break (&line[..indent], at + indent + 3 + hashes);
            }
            if line.contains("\"\"\"") || (hashes == 0 && line.contains('\\')) {
                return None;
            }
            lines.push(line);
            at = line_end? + 1;
        };
        let mut value = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                value.push('\n');
            }
            let blank = |s: &str| s.bytes().all(|b| b == b' ' || b == b'\t');
            match line.strip_prefix(prefix) {
                Some(rest) if !blank(rest) => value.push_str(rest),
                _ if blank(line) => {}
                Some(_) => {}
                None => return None,
            }
        }
        self.pos = close;
        Some(value)
    }

    /// Spaces, tabs and block comments inside a node; whether there were
    /// any. `None` for a line continuation or a slashdash.
    fn node_space(&mut self) -> Option<bool> {
        let start = self.pos;
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(b' ' | b'\t'), _) => self.pos += 1,
                (Some(b'/'), Some(b'*')) => self.block_comment()?,
                (Some(b'/'), Some(b'-')) | (Some(b'\\'), _) => return None,
                _ => return Some(self.pos > start),
            }
        }
    }

    /// Node space, newlines and comments between nodes.
    fn line_space(&mut self) -> Option<()> {
        loop {
            self.node_space()?;
            match (self.peek(), self.peek_at(1)) {
                (Some(b'\n'), _) => self.pos += 1,
                (Some(b'/'), Some(b'/')) => self.line_comment(),
                _ => return Some(()),
            }
        }
    }

    /// `// …` through its newline.
    fn line_comment(&mut self) {
        match self.text[self.pos..].find('\n') {
            Some(n) => self.pos += n + 1,
            None => self.pos = self.bytes.len(),
        }
    }

    /// `/* … */`, nested.
    fn block_comment(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match (self.peek()?, self.peek_at(1)) {
                (b'/', Some(b'*')) => {
                    depth += 1;
                    self.pos += 2;
                }
                (b'*', Some(b'/')) => {
                    depth -= 1;
                    self.pos += 2;
                    if depth == 0 {
                        return Some(());
                    }
                }
                _ => self.pos += 1,
            }
        }
    }
}

enum Token {
    Value(KdlValue),
    Str(Str),
}
