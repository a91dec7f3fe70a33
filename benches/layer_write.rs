//! Layer-writing throughput: buildspec's layer writer (tar, sha256 of the
//! tar, compression, sha256 of the blob, into the blob store) over a
//! directory, against the limit of the same work done by plain tools on
//! the same bytes: `sha256sum` of the tar plus `gzip -6` of it (each run
//! alone, times added).
//!
//! `cargo bench --bench layer_write -- DIR [RUNS]` prints one markdown
//! table row per compression (medians of RUNS, default 3).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use buildspec::oci::layer::{write_layer, Compression};
use buildspec::oci::store::Store;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn time_command(cmd: &str) -> f64 {
    let started = Instant::now();
    let status = Command::new("bash").args(["-c", cmd]).stdout(Stdio::null()).status().expect("bash");
    assert!(status.success(), "{cmd} failed");
    started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: cargo bench --bench layer_write -- DIR [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let dir = Path::new(dir);
    let work = tempfile::tempdir().expect("temp dir");
    // The same bytes for the plain tools: the uncompressed layer tar.
    let entries = buildspec::oci::diff::entries(dir).expect("reading the directory");
    let tar_path = work.path().join("layer.tar");
    let mut tar_bytes = 0u64;
    {
        let store = Store::open(&work.path().join("probe")).unwrap();
        let (_, size, _) = store.put_with(|w| write_layer(entries.clone(), 0, Compression::Gzip, w).map(|(_, l)| l)).unwrap();
        let _ = size;
    }
    {
        // Uncompressed: decompress what we wrote.
        let probe = std::fs::read_dir(work.path().join("probe/blobs/sha256")).unwrap().next().unwrap().unwrap().path();
        let mut gz = flate2::read::MultiGzDecoder::new(std::fs::File::open(&probe).unwrap());
        let mut out = std::fs::File::create(&tar_path).unwrap();
        tar_bytes += std::io::copy(&mut gz, &mut out).unwrap();
    }
    let mb = tar_bytes as f64 / 1e6;
    let tar = tar_path.display();
    let sha = median((0..runs).map(|_| time_command(&format!("sha256sum {tar}"))).collect());
    let gzip = median((0..runs).map(|_| time_command(&format!("gzip -6 -c {tar} > /dev/null"))).collect());
    let zstd_available = Command::new("zstd").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    let zstd = zstd_available.then(|| median((0..runs).map(|_| time_command(&format!("zstd -3 -q -c {tar} > /dev/null"))).collect()));
    println!("{} files, {mb:.1} MB of tar, medians of {runs} runs\n", entries.len());
    println!("| compression | buildspec layer write | plain sha256sum + compressor | limit | buildspec ÷ limit |");
    println!("|---|---|---|---|---|");
    for compression in [Compression::Gzip, Compression::Zstd] {
        let ours = median(
            (0..runs)
                .map(|i| {
                    let store = Store::open(&work.path().join(format!("store-{}-{i}", compression.name()))).unwrap();
                    let entries = entries.clone();
                    let started = Instant::now();
                    store.put_with(|w| write_layer(entries, 0, compression, w).map(|(_, l)| l)).unwrap();
                    started.elapsed().as_secs_f64()
                })
                .collect(),
        );
        let (plain, tool) = match compression {
            Compression::Gzip => (sha + gzip, "sha256sum + gzip -6"),
            Compression::Zstd => match zstd {
                Some(z) => (sha + z, "sha256sum + zstd -3"),
                None => continue,
            },
        };
        println!(
            "| {} | {ours:.2} s ({:.0} MB/s) | {tool}: {plain:.2} s | {:.0} MB/s | {:.0}% |",
            compression.name(),
            mb / ours,
            mb / plain,
            100.0 * plain / ours
        );
    }
}
