//! Spec text → Dockerfile: never a panic, and every emitted instruction
//! re-splits (by the tests' independent splitter) into exactly the
//! instructions the emitter meant: no value injects an instruction.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/split.rs"]
mod split;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let source = buildspec::source::SourceFile::new("buildspec.kdl", text.to_owned());
    match buildspec::compile(&source, &buildspec::CompileOpts::new()) {
        Err(failure) => assert!(failure.n_errors() > 0, "a failure without an error"),
        Ok(compiled) => {
            let got: Vec<(String, String)> = split::split_dockerfile(&compiled.dockerfile).into_iter().map(|i| (i.keyword, i.text)).collect();
            let want: Vec<(String, String)> = compiled.instructions.iter().map(|i| (i.keyword.to_owned(), i.text.clone())).collect();
            assert_eq!(got, want, "the Dockerfile splits into other instructions than the emitter meant:\n{}", compiled.dockerfile);
        }
    }
});
