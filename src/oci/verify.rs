//! `buildspec cache verify`: a full check of an `--backend oci` cache
//! directory. Every blob of the store must hash to the digest it is named
//! by; every step entry must parse and name a blob that is there, of the
//! size it records, whose uncompressed bytes hash to the diff id it
//! records. The cache is only read.
//!
//! A build writes each file whole and renames it into place, so a build
//! killed at any point leaves temporary files (counted as `leftovers`,
//! which no build reads) but never a problem this check reports.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::oci::digest::{Digest, HashingReader};
use crate::oci::source::LayerRef;
use crate::oci::store::parse_digest;

/// What the check found.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub blobs: usize,
    pub steps: usize,
    /// Files that are not entries: temporary files of writes cut short.
    pub leftovers: usize,
    /// One line per problem, sorted: the path and what is wrong with it.
    pub problems: Vec<String>,
}

/// Checks the cache at `dir`. An IO error that stops the walk itself (an
/// unreadable directory) is an `Err`; a bad file is a problem in the report.
pub fn verify(dir: &Path) -> io::Result<Report> {
    if !dir.join("store").is_dir() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} is not a buildspec cache (no store/ in it)", dir.display())));
    }
    let mut report = Report::default();
    let blobs_dir = dir.join("store/blobs/sha256");
    for path in sorted_files(&blobs_dir)? {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let Some(named) = parse_digest(&format!("sha256:{name}")) else {
            report.problems.push(format!("{}: not named by a sha256 digest", path.display()));
            continue;
        };
        report.blobs += 1;
        match hash_file(&path) {
            Ok(actual) if actual == named => {}
            Ok(actual) => report.problems.push(format!("{}: its bytes hash to {actual}, not to its name", path.display())),
            Err(e) => report.problems.push(format!("{}: unreadable: {e}", path.display())),
        }
    }
    let mut checked_layers = std::collections::BTreeMap::new();
    for path in sorted_files(&dir.join("steps"))? {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if parse_digest(&format!("sha256:{name}")).is_none() {
            report.leftovers += 1;
            continue;
        }
        report.steps += 1;
        let layer = fs::read(&path).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).and_then(|v| LayerRef::from_json(&v));
        let Some(layer) = layer else {
            report.problems.push(format!("{}: not a step entry (digest, diff_id, size, media_type)", path.display()));
            continue;
        };
        let blob = blobs_dir.join(layer.digest.hex());
        // Entries that say the same of one blob are checked once.
        let said = (layer.digest.to_string(), layer.size, layer.diff_id.to_string(), layer.media_type.clone());
        let problem = checked_layers.entry(said).or_insert_with(|| check_layer(&blob, &layer)).clone();
        if let Some(problem) = problem {
            report.problems.push(format!("{}: {problem}", path.display()));
        }
    }
    for path in sorted_files(&dir.join("store/tmp"))? {
        if !path.file_name().unwrap_or_default().to_string_lossy().starts_with("memo-") {
            report.leftovers += 1;
        }
    }
    Ok(report)
}

/// What is wrong with the blob a step entry names, if anything.
fn check_layer(blob: &Path, layer: &LayerRef) -> Option<String> {
    let meta = match fs::metadata(blob) {
        Ok(m) => m,
        Err(_) => return Some(format!("names blob {}, which the store does not hold", layer.digest)),
    };
    if meta.len() != layer.size {
        return Some(format!("says blob {} has {} bytes; it has {}", layer.digest, layer.size, meta.len()));
    }
    let limit = crate::oci::extract::Limits::default().max_bytes;
    let diff_id = fs::File::open(blob)
        .and_then(|f| crate::oci::layer::decompress(&layer.media_type, f))
        .and_then(|tar| HashingReader::new(io::Read::take(tar, limit + 1)).finish());
    match diff_id {
        Ok((diff_id, _)) if diff_id == layer.diff_id => None,
        Ok((diff_id, _)) => Some(format!("says blob {} unpacks to {}; it unpacks to {diff_id}", layer.digest, layer.diff_id)),
        Err(e) => Some(format!("blob {} does not decompress as {}: {e}", layer.digest, layer.media_type)),
    }
}

fn hash_file(path: &Path) -> io::Result<Digest> {
    HashingReader::new(fs::File::open(path)?).finish().map(|(d, _)| d)
}

/// The regular files directly in `dir`, sorted; none when it is missing.
fn sorted_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::store::Store;

    /// A cache with one gzip layer and its step entry.
    fn cache_with_one_step() -> (tempfile::TempDir, LayerRef) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let tar = b"not really a tar, but bytes with a digest".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let (digest, size) = store.put(&gz.finish().unwrap()).unwrap();
        let layer = LayerRef { digest, diff_id: Digest::of(&tar), size, media_type: crate::oci::image::MEDIA_LAYER_GZIP.to_owned() };
        fs::create_dir_all(dir.path().join("steps")).unwrap();
        fs::write(dir.path().join("steps").join("a".repeat(64)), serde_json::to_vec(&layer.to_json()).unwrap()).unwrap();
        (dir, layer)
    }

    #[test]
    fn a_sound_cache_has_no_problems() {
        let (dir, _) = cache_with_one_step();
        fs::write(dir.path().join("steps/.tmpXYZ"), b"half").unwrap();
        let report = verify(dir.path()).unwrap();
        assert_eq!((report.blobs, report.steps, report.leftovers), (1, 1, 1));
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn each_kind_of_damage_is_a_problem() {
        // A blob's bytes changed in place.
        let (dir, layer) = cache_with_one_step();
        let blob = dir.path().join("store/blobs/sha256").join(layer.digest.hex());
        let mut bytes = fs::read(&blob).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        fs::write(&blob, &bytes).unwrap();
        let problems = verify(dir.path()).unwrap().problems;
        assert!(problems.iter().any(|p| p.contains("hash to")), "{problems:?}");
        // A step entry naming a missing blob.
        let (dir, layer) = cache_with_one_step();
        fs::remove_file(dir.path().join("store/blobs/sha256").join(layer.digest.hex())).unwrap();
        assert!(verify(dir.path()).unwrap().problems[0].contains("does not hold"));
        // A step entry with the wrong diff id.
        let (dir, mut layer) = cache_with_one_step();
        layer.diff_id = Digest::of(b"other");
        fs::write(dir.path().join("steps").join("a".repeat(64)), serde_json::to_vec(&layer.to_json()).unwrap()).unwrap();
        assert!(verify(dir.path()).unwrap().problems[0].contains("unpacks to"));
        // A second entry for the same blob that records another diff id.
        let (dir, mut layer) = cache_with_one_step();
        layer.diff_id = Digest::of(b"other");
        fs::write(dir.path().join("steps").join("c".repeat(64)), serde_json::to_vec(&layer.to_json()).unwrap()).unwrap();
        let problems = verify(dir.path()).unwrap().problems;
        assert!(problems.len() == 1 && problems[0].contains(&"c".repeat(64)), "{problems:?}");
        // A step entry cut short.
        let (dir, _) = cache_with_one_step();
        fs::write(dir.path().join("steps").join("b".repeat(64)), b"{\"digest\":").unwrap();
        assert!(verify(dir.path()).unwrap().problems[0].contains("not a step entry"));
        // Not a cache at all.
        assert!(verify(&dir.path().join("steps")).is_err());
    }
}
