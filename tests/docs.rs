//! The docs stay true: every ```kdl block in README.md and docs/ is a
//! complete spec that compiles, and every source file says what it is for.

mod support;

use support::root;

fn kdl_blocks(text: &str) -> Vec<(usize, String)> {
    let mut res = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```kdl" => current = Some((i + 1, String::new())),
            None => {}
            Some(_) if line.trim_start() == "```" => res.push(current.take().unwrap()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    res
}

#[test]
fn every_kdl_block_in_the_docs_compiles() {
    let mut files = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut n_blocks = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, block) in kdl_blocks(&text) {
            n_blocks += 1;
            let source = buildspec::source::SourceFile::new("buildspec.kdl", block.clone());
            let opts = buildspec::CompileOpts::new();
            if let Err(failure) = buildspec::compile(&source, &opts) {
                let opts = buildspec::diag::RenderOpts { color: false, width: 100 };
                panic!(
                    "{}:{line}: block does not compile:\n{}",
                    file.display(),
                    buildspec::diag::render(&failure.sources, &failure.diagnostics, opts)
                );
            }
        }
    }
    assert!(n_blocks > 0);
}

#[test]
fn every_source_file_has_a_doc_comment() {
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(text.starts_with("//!"), "{} has no //! doc comment", path.display());
            }
        }
    }
}
