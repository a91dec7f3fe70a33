//! Layer bytes → files under a temporary root: whatever the tar holds,
//! nothing is written outside the root (a sibling directory with one file
//! is checked after each input), and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), "untouched").unwrap();
    let limits = buildspec::oci::extract::Limits { max_bytes: 64 << 20, max_entries: 10_000, max_record: 1 << 20 };
    let _ = buildspec::oci::extract::extract_within(data, &root, limits);
    let names: Vec<_> = std::fs::read_dir(&outside).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["secret"], "a file appeared outside the root");
    assert_eq!(std::fs::read_to_string(outside.join("secret")).unwrap(), "untouched");
    let siblings: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(siblings.len(), 2, "something appeared beside the root: {siblings:?}");
});
