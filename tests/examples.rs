//! Every example spec in specs/ compiles through the real CLI; the output
//! is snapshotted, byte-identical across runs, and splits into exactly
//! the instructions the emitter meant.

mod support;

use support::{buildspec, root, split_dockerfile, stderr, stdout};

#[test]
fn every_example_compiles_to_its_snapshot() {
    insta::glob!("../specs", "*/buildspec.kdl", |path| {
        let dir = path.parent().unwrap();
        let out = buildspec(&["compile"], dir);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        assert_eq!(stderr(&out), "", "no warnings expected");
        let first = stdout(&out);
        let again = stdout(&buildspec(&["compile"], dir));
        assert_eq!(first, again, "output differs between runs");

        let tmp = tempfile::tempdir().unwrap();
        let out_dir = tmp.path().join("out");
        let written = buildspec(&["compile", "-o", out_dir.to_str().unwrap()], dir);
        assert!(written.status.success(), "{}", stderr(&written));
        let dockerfile = std::fs::read_to_string(out_dir.join("Dockerfile")).unwrap();
        assert_eq!(dockerfile, first, "-o writes what stdout shows");
        let dockerignore = std::fs::read_to_string(out_dir.join(".dockerignore")).unwrap();
        insta::assert_snapshot!(format!("{first}\n----- .dockerignore -----\n{dockerignore}"));
    });
}

#[test]
fn emitted_instructions_split_back_exactly() {
    for entry in std::fs::read_dir(root().join("specs")).unwrap() {
        let path = entry.unwrap().path().join("buildspec.kdl");
        let text = std::fs::read_to_string(&path).unwrap();
        let source = buildspec::source::SourceFile::new("buildspec.kdl", text);
        let opts = buildspec::CompileOpts::new();
        let compiled = buildspec::compile(&source, &opts).unwrap();
        let split = split_dockerfile(&compiled.dockerfile);
        let expected: Vec<(&str, &str)> =
            compiled.instructions.iter().map(|i| (i.keyword, i.text.as_str())).collect();
        let got: Vec<(&str, &str)> = split.iter().map(|i| (i.keyword.as_str(), i.text.as_str())).collect();
        assert_eq!(got, expected, "{}", path.display());
    }
}
