//! Dockerfile text → spec: never a panic; what import writes is KDL that
//! parses (whether or not it compiles is import's own report).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(imported) = buildspec::import::import(text, None, "Dockerfile") {
        let source = buildspec::source::SourceFile::new("buildspec.kdl", imported.kdl.clone());
        let parsed = buildspec::syntax::parse(&source);
        assert!(
            parsed.diagnostics.iter().all(|d| d.code != buildspec::diag::Code::KdlSyntax),
            "import wrote KDL that does not parse:\n{}",
            imported.kdl
        );
    }
});
