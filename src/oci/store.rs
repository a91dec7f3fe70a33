//! A content-addressed blob store on disk (`DIR/blobs/sha256/<hex>`),
//! written atomically: a blob appears under its name only when complete.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::oci::digest::{Digest, HashingWriter};

#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn open(dir: &Path) -> io::Result<Store> {
        fs::create_dir_all(dir.join("blobs/sha256"))?;
        fs::create_dir_all(dir.join("tmp"))?;
        Ok(Store { dir: dir.to_path_buf() })
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// Where a note about an imported source is kept.
    pub fn memo_path(&self, id: &Digest) -> PathBuf {
        self.dir.join("tmp").join(format!("memo-{}", &id.hex()[..32]))
    }

    pub fn has(&self, digest: &Digest) -> bool {
        self.path(digest).exists()
    }

    pub fn put(&self, bytes: &[u8]) -> io::Result<(Digest, u64)> {
        self.put_stream(bytes)
    }

    /// Streams a blob into the store; returns its digest and size.
    pub fn put_stream(&self, mut reader: impl Read) -> io::Result<(Digest, u64)> {
        let (digest, size, _) = self.put_with(|w| io::copy(&mut reader, w))?;
        Ok((digest, size))
    }

    /// Streams a blob that must have `expected` as its digest: one that
    /// does not is not kept, and its digest and size are the `Err`.
    pub fn put_expected(&self, mut reader: impl Read, expected: &Digest) -> io::Result<Result<u64, (Digest, u64)>> {
        let (digest, size, _, kept) = self.put_if(|w| io::copy(&mut reader, w), |digest| digest == expected)?;
        Ok(if kept { Ok(size) } else { Err((digest, size)) })
    }

    /// Writes a blob with a writer function (for layers being produced).
    pub fn put_with<T>(&self, f: impl FnOnce(&mut dyn Write) -> io::Result<T>) -> io::Result<(Digest, u64, T)> {
        let (digest, size, res, _) = self.put_if(f, |_| true)?;
        Ok((digest, size, res))
    }

    /// Writes a blob, kept only when `keep` accepts its digest.
    fn put_if<T>(&self, f: impl FnOnce(&mut dyn Write) -> io::Result<T>, keep: impl FnOnce(&Digest) -> bool) -> io::Result<(Digest, u64, T, bool)> {
        let tmp = tempfile::NamedTempFile::new_in(self.dir.join("tmp"))?;
        let mut writer = HashingWriter::new(io::BufWriter::new(tmp));
        let res = f(&mut writer)?;
        let (buffered, digest, size) = writer.finish();
        if !keep(&digest) {
            return Ok((digest, size, res, false));
        }
        let tmp = buffered.into_inner().map_err(|e| e.into_error())?;
        tmp.as_file().sync_all()?;
        let dest = self.path(&digest);
        if !dest.exists() {
            tmp.persist(&dest).map_err(|e| e.error)?;
        }
        Ok((digest, size, res, true))
    }

    pub fn read(&self, digest: &Digest) -> io::Result<Vec<u8>> {
        fs::read(self.path(digest))
    }

    /// Remembers that a blob was pulled from `registry`/`repository`, so a
    /// push to another repository of that registry can mount it.
    pub fn note_origin(&self, digest: &Digest, registry: &str, repository: &str) -> io::Result<()> {
        let line = format!("{registry} {repository}");
        if self.origins(digest).iter().any(|(r, p)| format!("{r} {p}") == line) {
            return Ok(());
        }
        let dir = self.dir.join("origins");
        fs::create_dir_all(&dir)?;
        // One short append: atomic with O_APPEND, so concurrent builds
        // can only add lines.
        let mut f = fs::OpenOptions::new().create(true).append(true).open(dir.join(digest.hex()))?;
        f.write_all(format!("{line}\n").as_bytes())
    }

    /// Where a blob was pulled from: (registry, repository) pairs.
    pub fn origins(&self, digest: &Digest) -> Vec<(String, String)> {
        let text = fs::read_to_string(self.dir.join("origins").join(digest.hex())).unwrap_or_default();
        text.lines().filter_map(|l| l.split_once(' ')).map(|(r, p)| (r.to_owned(), p.to_owned())).collect()
    }
}

/// Replaces `path` with `bytes` atomically: written beside it under a
/// temporary name, then renamed, so a reader (or a killed writer) never
/// sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(parent)?;
    fs::write(tmp.path(), bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A digest from its string form, checked.
pub fn parse_digest(s: &str) -> Option<Digest> {
    let hex = s.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Digest::of_hex(hex))
}
