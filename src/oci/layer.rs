//! Writing a layer: a tar of sorted entries (parents first), with owners
//! and modes kept, times clamped to SOURCE_DATE_EPOCH, compressed with
//! gzip (zlib-rs, over every core: `parallel_gzip`) or zstd (libzstd) at a
//! pinned level, and described by
//! its diff id (the sha256 of the tar) and digest (the sha256 of the
//! compressed blob). The same entries always give the same bytes.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::oci::digest::{Digest, HashingWriter};

/// The gzip level every layer is written with (part of reproducibility).
pub const GZIP_LEVEL: u32 = 6;
/// The zstd level, likewise.
pub const ZSTD_LEVEL: i32 = 3;

/// How layers are compressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    /// gzip: what every image tool reads.
    #[default]
    Gzip,
    /// zstd: smaller and faster to unpack; needs a recent reader
    /// (containerd 1.5+, docker 23+, podman 4+).
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => crate::oci::image::MEDIA_LAYER_GZIP,
            Compression::Zstd => crate::oci::image::MEDIA_LAYER_ZSTD,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// A reader of a layer blob's tar, by the blob's media type (gzip, zstd
/// or none, docker's names included).
pub fn decompress<'a>(media_type: &str, blob: impl io::Read + 'a) -> io::Result<Box<dyn io::Read + 'a>> {
    let blob = io::BufReader::new(blob);
    Ok(if media_type.ends_with("gzip") {
        // Every member: a blob may be several gzip members (ours are).
        Box::new(flate2::read::MultiGzDecoder::new(blob))
    } else if media_type.ends_with("zstd") {
        Box::new(zstd::stream::read::Decoder::with_buffer(blob)?)
    } else {
        Box::new(blob)
    })
}

/// The compressor in front of the blob's hasher.
enum Encoder<W: Write> {
    Gzip(crate::oci::parallel_gzip::ParallelGzip<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

impl<W: Write> Encoder<W> {
    fn new(compression: Compression, out: W) -> io::Result<Encoder<W>> {
        Ok(match compression {
            Compression::Gzip => Encoder::Gzip(crate::oci::parallel_gzip::ParallelGzip::new(out, GZIP_LEVEL)),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?),
        })
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

/// The bytes of a regular file: in memory, or read from disk while the
/// layer is written (so a layer never has to fit in memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Bytes(Vec<u8>),
    /// A file and the size it had when listed; a file that changes size
    /// before it is written is an error, not a corrupt layer.
    Disk { path: std::path::PathBuf, size: u64 },
}

impl Content {
    pub fn size(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Disk { size, .. } => *size,
        }
    }
}

/// What one path of a layer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File(Content),
    Dir,
    Symlink(String),
    /// A hard link to another path of the same layer.
    Hardlink(String),
    /// An OCI whiteout: the path is deleted from the layers below.
    Whiteout,
    /// An OCI opaque marker: the directory's content below is hidden.
    Opaque,
}

/// One path of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative path, `/`-separated, without a leading `/`.
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

/// A written layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// sha256 of the compressed blob.
    pub digest: Digest,
    /// Size of the compressed blob.
    pub size: u64,
}

/// Sorts entries so that a directory comes before what is in it, with a
/// byte-wise order between siblings, and adds missing parent directories
/// (0755, root, at the epoch).
pub fn normalize(entries: Vec<Entry>, epoch: u64) -> Vec<Entry> {
    let mut by_path: BTreeMap<Vec<String>, Entry> = BTreeMap::new();
    for mut entry in entries {
        entry.mtime = entry.mtime.min(epoch);
        let parts: Vec<String> = entry.path.split('/').filter(|p| !p.is_empty() && *p != ".").map(str::to_owned).collect();
        if parts.is_empty() {
            continue;
        }
        for n in 1..parts.len() {
            by_path.entry(parts[..n].to_vec()).or_insert_with(|| Entry {
                path: parts[..n].join("/"),
                kind: EntryKind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: epoch,
            });
        }
        entry.path = parts.join("/");
        // An opaque marker sits inside its directory, after the directory
        // itself and before what the layer adds to it.
        let mut key = parts;
        if entry.kind == EntryKind::Opaque {
            key.push(".wh..wh..opq".to_owned());
        }
        by_path.insert(key, entry);
    }
    // Component-wise order puts `a` before `a/b` and `a/b` before `a-c`.
    by_path.into_values().collect()
}

/// Writes the layer of `entries` to `out`, returning its digests.
pub fn write_layer<W: Write>(entries: Vec<Entry>, epoch: u64, compression: Compression, out: W) -> io::Result<(W, Layer)> {
    let compressed = HashingWriter::new(out);
    let encoder = Encoder::new(compression, compressed)?;
    let uncompressed = HashingWriter::new(encoder);
    let mut tar = tar::Builder::new(uncompressed);
    tar.mode(tar::HeaderMode::Complete);
    for entry in normalize(entries, epoch) {
        append(&mut tar, &entry)?;
    }
    let uncompressed = tar.into_inner()?;
    let (gz, diff_id, _) = uncompressed.finish();
    let compressed = gz.finish()?;
    let (out, digest, size) = compressed.finish();
    Ok((out, Layer { diff_id, digest, size }))
}

fn append<W: Write>(tar: &mut tar::Builder<W>, entry: &Entry) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_mode(entry.mode & 0o7777);
    header.set_uid(entry.uid);
    header.set_gid(entry.gid);
    header.set_mtime(entry.mtime);
    let (dir, name) = match entry.path.rsplit_once('/') {
        Some((d, n)) => (format!("{d}/"), n),
        None => (String::new(), entry.path.as_str()),
    };
    match &entry.kind {
        EntryKind::File(content) => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(content.size());
            match content {
                Content::Bytes(data) => tar.append_data(&mut header, &entry.path, data.as_slice()),
                Content::Disk { path, size } => {
                    let file = std::fs::File::open(path)?;
                    if file.metadata()?.len() != *size {
                        return Err(io::Error::other(format!("{} changed while the layer was written", path.display())));
                    }
                    tar.append_data(&mut header, &entry.path, io::Read::take(file, *size))
                }
            }
        }
        EntryKind::Dir => {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            tar.append_data(&mut header, format!("{}/", entry.path), io::empty())
        }
        EntryKind::Symlink(target) => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, &entry.path, target)
        }
        EntryKind::Hardlink(target) => {
            header.set_entry_type(tar::EntryType::Link);
            header.set_size(0);
            tar.append_link(&mut header, &entry.path, target)
        }
        EntryKind::Whiteout | EntryKind::Opaque => {
            let marker = if entry.kind == EntryKind::Opaque {
                format!("{}/.wh..wh..opq", entry.path)
            } else {
                format!("{dir}.wh.{name}")
            };
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(0);
            header.set_mode(0);
            tar.append_data(&mut header, marker, io::empty())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, data: &str, mtime: u64) -> Entry {
        Entry { path: path.to_owned(), kind: EntryKind::File(Content::Bytes(data.as_bytes().to_vec())), mode: 0o644, uid: 0, gid: 0, mtime }
    }

    #[test]
    fn parents_come_first_and_are_added() {
        let order: Vec<String> = normalize(vec![file("b/z", "", 0), file("a-c", "", 0), file("a/b", "", 0)], 0)
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(order, ["a", "a/b", "a-c", "b", "b/z"]);
    }

    #[test]
    fn same_entries_same_bytes_whatever_the_order_and_times() {
        let a = vec![file("usr/bin/app", "binary", 1_700_000_000), file("etc/app.conf", "x=1", 5)];
        let b = vec![file("etc/app.conf", "x=1", 5), file("usr/bin/app", "binary", 1_800_000_000)];
        let (blob_a, layer_a) = write_layer(a, 0, Compression::Gzip, Vec::new()).unwrap();
        let (blob_b, layer_b) = write_layer(b, 0, Compression::Gzip, Vec::new()).unwrap();
        assert_eq!(blob_a, blob_b);
        assert_eq!(layer_a, layer_b);
        assert_eq!(layer_a.digest, Digest::of(&blob_a));
        assert_eq!(layer_a.size, blob_a.len() as u64);
        // The diff id is the digest of the uncompressed tar.
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(blob_a.as_slice()), &mut tar).unwrap();
        assert_eq!(layer_a.diff_id, Digest::of(&tar));
        let names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                assert_eq!(e.header().mtime().unwrap(), 0, "times clamped to the epoch");
                e.path().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        assert_eq!(names, ["etc/", "etc/app.conf", "usr/", "usr/bin/", "usr/bin/app"]);
    }

    #[test]
    fn whiteouts_are_written_as_oci_markers() {
        let gone = Entry { path: "etc/old".into(), kind: EntryKind::Whiteout, mode: 0, uid: 0, gid: 0, mtime: 0 };
        let opaque = Entry { path: "var/cache".into(), kind: EntryKind::Opaque, mode: 0, uid: 0, gid: 0, mtime: 0 };
        let (blob, _) = write_layer(vec![gone, opaque], 0, Compression::Gzip, Vec::new()).unwrap();
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(blob.as_slice()), &mut tar).unwrap();
        let names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["etc/", "etc/.wh.old", "var/", "var/cache/.wh..wh..opq"]);
    }
}
