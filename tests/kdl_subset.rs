//! The fast KDL reader against the kdl crate: whatever the reader accepts,
//! the crate must parse to the same names, values and spans. Checked on
//! every spec, fragment and generated spec in the repository, on those
//! texts with random edits, and on random token soup.

use buildspec::syntax::kdl_subset;
use kdl::KdlDocument;
use proptest::prelude::*;
use std::path::Path;

/// Everything the spec front end reads of a document, spans included.
fn describe(doc: &KdlDocument, out: &mut String) {
    use std::fmt::Write;
    let span = doc.span();
    write!(out, "doc@{}+{}[", span.offset(), span.len()).unwrap();
    for node in doc.nodes() {
        let (s, n) = (node.span(), node.name().span());
        write!(out, "node@{}+{} {:?}@{}+{}", s.offset(), s.len(), node.name().value(), n.offset(), n.len()).unwrap();
        assert!(node.ty().is_none(), "the reader never makes type annotations");
        for e in node.entries() {
            let s = e.span();
            write!(out, " entry@{}+{}", s.offset(), s.len()).unwrap();
            if let Some(k) = e.name() {
                write!(out, " {:?}@{}+{}=", k.value(), k.span().offset(), k.span().len()).unwrap();
            }
            write!(out, "{:?}", e.value()).unwrap();
        }
        if let Some(children) = node.children() {
            out.push_str(" {");
            describe(children, out);
            out.push('}');
        }
        out.push(';');
    }
    out.push(']');
}

fn describe_nodes(doc: &KdlDocument) -> String {
    // The top-level document's own span is not read; its nodes' are.
    let mut out = String::new();
    for node in doc.nodes() {
        let mut one = KdlDocument::new();
        one.nodes_mut().push(node.clone());
        describe(&one, &mut out);
    }
    out
}

/// `None` when the reader leaves the text to the crate; else panics
/// unless the crate reads it the same.
fn agree(text: &str) -> Option<()> {
    let fast = kdl_subset::parse(text, 0)?;
    let reference = KdlDocument::parse(text).unwrap_or_else(|e| panic!("the reader accepted what kdl refuses: {e:?}\n{text}"));
    assert_eq!(describe_nodes(&fast), describe_nodes(&reference), "on:\n{text}");
    let shifted = kdl_subset::parse(text, 1000).expect("the base changes nothing but spans");
    assert_eq!(shifted.nodes().first().map(|n| n.span().offset()), reference.nodes().first().map(|n| n.span().offset() + 1000));
    Some(())
}

/// The repository's KDL: specs, fragments, fixtures, and the generated
/// specs in the snapshots (read once).
fn corpus() -> &'static [(String, String)] {
    static CORPUS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = Vec::new();
        for dir in ["specs", "tests", "bench"] {
            for entry in walkdir::WalkDir::new(root.join(dir)).sort_by_file_name() {
                let entry = entry.unwrap();
                let name = entry.path().to_string_lossy().into_owned();
                let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
                if name.ends_with(".kdl") {
                    texts.push((name, text));
                } else if name.contains("__generated__") && name.ends_with(".snap") {
                    // An insta header, then the generated file.
                    let body = text.splitn(3, "---\n").nth(2).unwrap_or_default().to_owned();
                    texts.push((name, body));
                }
            }
        }
        texts
    })
}

#[test]
fn the_reader_reads_every_spec_in_the_repository_as_kdl_does() {
    let corpus = corpus();
    assert!(corpus.len() > 40, "found only {} KDL texts", corpus.len());
    let mut read = 0;
    for (name, text) in corpus {
        if agree(text).is_some() {
            read += 1;
        } else if name.contains("/specs/") {
            panic!("the example spec {name} is outside the reader's subset: it would be parsed slowly");
        }
    }
    assert!(read * 10 >= corpus.len() * 8, "the reader took only {read} of {} texts", corpus.len());
}

#[test]
fn outside_the_subset_the_crate_decides() {
    for text in [
        "a /-b",
        "/-a\nb",
        "a (t)1",
        "a 1.5",
        "a 0x10",
        "a \"\"\"\n  x\\n\n  \"\"\"",
        "a \"\"\"x\n\"\"\"",
        "a \\\n b",
        "a\r\nb",
        "a \"x\\\n y\"",
        "a b\u{a0}c",
        "a #inf",
        "a \"unterminated",
        "a {",
        "a }",
        "a b=",
        "a true",
        "a \"x\"\"y\"",
        "a b(c)",
        "(t)a",
        "1 a",
        "a #\"x\ny\"#",
        "a #\"\"\"\n x\n  \"\"\"#",
        "a ##\"x\"#",
    ] {
        assert!(kdl_subset::parse(text, 0).is_none(), "the reader took {text:?}");
    }
}

#[test]
fn spans_start_at_the_base() {
    let doc = kdl_subset::parse("a b=\"c\" {\n  d 1\n}\n", 40).unwrap();
    let a = &doc.nodes()[0];
    assert_eq!((a.span().offset(), a.span().len()), (40, 17));
    assert_eq!((a.entries()[0].span().offset(), a.entries()[0].span().len()), (42, 5));
    let d = &a.children().unwrap().nodes()[0];
    assert_eq!((d.span().offset(), d.span().len()), (52, 3));
}

/// Pieces of KDL, valid and not, for soups.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "node", "run", "copy", "a-b", "x.y", "-", "+", ".", "_", "\"str\"", "\"\"", "\"a\\nb\"", "\"\\u{1F600}\"", "\"\\u{}\"",
        "\"\\q\"", "\"é→\"", "#\"raw\"#", "##\"r\"#\"##", "#\"", "#true", "#false", "#null", "#nan", "#tru", "1", "-7", "+3",
        "1_000", "1.5", "0x1f", "1e3", ".5", "-.5", "99999999999999999999999999999999999999999", "=", " = ", " ", "\t",
        "\n", ";", "{", "}", " { ", " }\n", "// c\n", "/* c */", "/* /* n */ */", "/*", "*/", "/-", "\\", "(t)", "\"\"\"",
        "true", "null", "k=v", "k=\"v\"", "k=1", "k = 2", "é", "\r\n", "\u{a0}", "\u{2028}", "\u{200e}", "#", "\"", "'",
        "[", "]", ",", "\"\"\"\n", "  x\n", "\n  ", "  \"\"\"", "#\"\"\"\n", "\"\"\"#", "\"\"\"##", "\\n",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn soups_agree(pieces in prop::collection::vec(piece(), 0..24)) {
        agree(&pieces.concat());
    }

    #[test]
    fn edited_specs_agree(pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), cut in 0usize..6, insert in piece()) {
        let corpus = corpus();
        let (_, text) = &corpus[pick.index(corpus.len())];
        let mut at = at.index(text.len() + 1);
        while !text.is_char_boundary(at) { at -= 1; }
        let mut end = (at + cut).min(text.len());
        while !text.is_char_boundary(end) { end += 1; }
        agree(&format!("{}{insert}{}", &text[..at], &text[end..]));
    }
}
