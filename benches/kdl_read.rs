//! KDL reading throughput: the kdl crate's parser against the fast reader
//! of the spec subset (`syntax::kdl_subset`), interleaved run by run on the
//! example specs and the generated specs in the snapshots.
//!
//! `cargo bench --bench kdl_read -- [RUNS]` prints each reader's median
//! MB/s and the median of the per-run ratios (default 15 runs).

use std::time::Instant;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn texts() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    for entry in walkdir::WalkDir::new(root.join("specs")).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.path().extension().is_some_and(|x| x == "kdl") {
            texts.push(std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    for entry in walkdir::WalkDir::new(root.join("tests/snapshots")).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.path().to_string_lossy().contains("__generated__") {
            let snap = std::fs::read_to_string(entry.path()).unwrap();
            texts.push(snap.splitn(3, "---\n").nth(2).unwrap_or_default().to_owned());
        }
    }
    texts
}

fn main() {
    let runs: usize = std::env::args().skip(1).find(|a| a != "--bench").and_then(|a| a.parse().ok()).unwrap_or(15);
    let texts = texts();
    let bytes: usize = texts.iter().map(String::len).sum();
    let rounds = 20;
    let (mut crate_mbs, mut subset_mbs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        for _ in 0..rounds {
            for text in &texts {
                std::hint::black_box(kdl::KdlDocument::parse(text).ok());
            }
        }
        let by_crate = started.elapsed().as_secs_f64();
        let started = Instant::now();
        for _ in 0..rounds {
            for text in &texts {
                assert!(std::hint::black_box(buildspec::syntax::kdl_subset::parse(text, 0)).is_some());
            }
        }
        let by_subset = started.elapsed().as_secs_f64();
        crate_mbs.push((bytes * rounds) as f64 / by_crate / 1e6);
        subset_mbs.push((bytes * rounds) as f64 / by_subset / 1e6);
        ratios.push(by_crate / by_subset);
    }
    println!(
        "{} texts, {bytes} bytes, {runs} runs: kdl crate {:.1} MB/s, kdl_subset {:.1} MB/s, per-run ratio median {:.1}x",
        texts.len(),
        median(crate_mbs),
        median(subset_mbs),
        median(ratios)
    );
}
