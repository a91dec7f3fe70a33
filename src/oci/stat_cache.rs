//! Content digests of context files, remembered by their stat: a file
//! whose device, inode, size, mtime and ctime are unchanged is not read
//! again. This is what lets a no-change rebuild key its COPY steps by
//! content (as BuildKit does) without re-hashing the context.
//!
//! The cache is one JSON file per context directory, loaded at the start
//! of a build and replaced atomically at the end; concurrent builds can
//! only lose each other's additions, never corrupt it (and every entry is
//! checked against a fresh stat before it is believed).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::oci::digest::{Digest, HashingWriter};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }
}

#[derive(Debug)]
pub struct StatCache {
    file: PathBuf,
    entries: BTreeMap<PathBuf, (Stamp, String)>,
    dirty: bool,
    /// Files read and hashed in this build (for tests and the summary).
    pub hashed: usize,
}

impl StatCache {
    /// The cache of `context` kept under `dir`.
    pub fn load(dir: &Path, context: &Path) -> StatCache {
        let file = dir.join(format!("{}.json", &Digest::of(context.as_os_str().as_encoded_bytes()).hex()[..32]));
        let entries = fs::read(&file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        StatCache { file, entries, dirty: false, hashed: 0 }
    }

    /// The sha256 of a regular file's content.
    pub fn digest(&mut self, path: &Path) -> io::Result<Digest> {
        let meta = fs::metadata(path)?;
        let stamp = Stamp::of(&meta);
        if let Some((known, digest)) = self.entries.get(path)
            && *known == stamp
            && let Some(d) = crate::oci::store::parse_digest(digest)
        {
            return Ok(d);
        }
        let mut hasher = HashingWriter::new(io::sink());
        io::copy(&mut fs::File::open(path)?, &mut hasher)?;
        let (_, digest, _) = hasher.finish();
        // A file changed while it was read: do not remember it.
        if Stamp::of(&fs::metadata(path)?) == stamp {
            self.entries.insert(path.to_path_buf(), (stamp, digest.to_string()));
            self.dirty = true;
        }
        self.hashed += 1;
        Ok(digest)
    }

    /// Writes the cache back if anything was added.
    pub fn save(&self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        fs::create_dir_all(self.file.parent().unwrap_or(Path::new(".")))?;
        crate::oci::store::write_atomic(&self.file, &serde_json::to_vec(&self.entries).map_err(io::Error::other)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_files_are_not_read_again_and_changed_ones_are() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        fs::write(&file, "one").unwrap();
        let mut cache = StatCache::load(&dir.path().join("cache"), dir.path());
        let first = cache.digest(&file).unwrap();
        assert_eq!(first, Digest::of(b"one"));
        cache.save().unwrap();
        let mut again = StatCache::load(&dir.path().join("cache"), dir.path());
        assert_eq!(again.digest(&file).unwrap(), first);
        assert_eq!(again.hashed, 0, "an unchanged file is answered from its stat");
        fs::write(&file, "two!").unwrap();
        assert_eq!(again.digest(&file).unwrap(), Digest::of(b"two!"));
        assert_eq!(again.hashed, 1);
    }
}
