//! Extracting a layer into a root directory, treating it as hostile: no
//! entry may write outside the root, whatever it holds. Paths are resolved
//! lexically under the root (`..` cannot climb above it, absolute paths
//! are taken as relative to it); no parent directory that is a symbolic
//! link is ever followed; an existing symbolic link in the final position
//! is replaced, not written through; hard links must point inside the
//! root, at a regular file; device nodes and FIFOs are skipped (counted).
//! OCI whiteouts delete, opaque markers empty a directory.
//!
//! What is written keeps the entry's owner (when extracting as root) and
//! modification time, as a container engine's unpacking does: programs in
//! the image compare them (Python's `__pycache__` holds each module's
//! source time, and recompiles every module whose source looks newer).
//!
//! A layer is bounded as it is read, before any of it is kept: it may
//! expand to at most [`Limits::max_bytes`] and hold at most
//! [`Limits::max_entries`] entries (a gzip or tar bomb stops there), and no
//! entry's metadata records (PAX headers, GNU long names) may together be
//! larger than [`Limits::max_record`] (the tar reader holds them in memory).

use std::cell::Cell;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// How much one layer may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Uncompressed bytes of the whole tar.
    pub max_bytes: u64,
    /// Entries, metadata records included.
    pub max_entries: u64,
    /// Bytes of the metadata records (PAX headers, GNU long names and
    /// links) before one entry, in all.
    pub max_record: u64,
}

impl Default for Limits {
    /// 32 GiB, 4,000,000 entries, 1 MiB per record: several times the
    /// largest layers of toolchain and CUDA images.
    fn default() -> Limits {
        Limits { max_bytes: 32 << 30, max_entries: 4_000_000, max_record: 1 << 20 }
    }
}

/// Why an entry was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("layer entry {path:?} would be written through the symbolic link {link:?}")]
    SymlinkParent { path: String, link: String },
    #[error("hard link {path:?} points outside the root, or at something that is not a file ({target:?})")]
    HardlinkEscape { path: String, target: String },
    #[error("layer entry {path:?} has an unsupported type")]
    Unsupported { path: String },
    #[error("the layer expands to more than {limit} bytes (the limit): a decompression bomb, or a layer too large to build with")]
    TooLarge { limit: u64 },
    #[error("the layer holds more than {limit} entries (the limit)")]
    TooManyEntries { limit: u64 },
    #[error("the layer has metadata records (PAX headers, long names) before one entry larger than {limit} bytes in all (the limit)")]
    RecordTooLarge { limit: u64 },
    #[error("reading the layer: {0}")]
    Io(#[from] io::Error),
}

/// What [`Bounded`] ran into, so the error says which limit it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exceeded {
    Bytes,
    Record,
}

/// The reader under the tar reader: counts every byte against the layer's
/// limit, and the bytes read since the last entry came out against what
/// that entry's data and one metadata record may take. The tar reader
/// reads metadata records into memory while it looks for the next entry;
/// this stops it before a huge one.
struct Bounded<R> {
    inner: R,
    read: u64,
    max_bytes: u64,
    /// Bytes that may still be read before the next entry comes out.
    allowance: Rc<Cell<u64>>,
    exceeded: Rc<Cell<Option<Exceeded>>>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let allowed = self.allowance.get().min(self.max_bytes.saturating_sub(self.read));
        if allowed == 0 && !buf.is_empty() {
            let which = if self.read >= self.max_bytes { Exceeded::Bytes } else { Exceeded::Record };
            self.exceeded.set(Some(which));
            return Err(io::Error::other("layer limit reached"));
        }
        let take = buf.len().min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..take])?;
        self.read += n as u64;
        self.allowance.set(self.allowance.get() - n as u64);
        Ok(n)
    }
}


/// What an extraction did besides writing files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub written: usize,
    /// Device nodes and FIFOs left out.
    pub skipped_devices: Vec<String>,
    pub whiteouts: usize,
}

/// The path of `name` under the root, with `.` and `..` resolved
/// lexically (never above the root); `None` for the root itself.
pub fn confine(name: &str) -> Option<Vec<String>> {
    let mut parts: Vec<String> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p.to_owned()),
        }
    }
    (!parts.is_empty()).then_some(parts)
}

/// The directory for `parts[..n]` under `root`, created as needed, having
/// checked that no component is a symbolic link.
fn parent_dir(root: &Path, parts: &[String], entry: &str) -> Result<PathBuf, Error> {
    let mut dir = root.to_path_buf();
    for part in parts {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Error::SymlinkParent { path: entry.to_owned(), link: dir.display().to_string() });
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                fs::remove_file(&dir)?;
                fs::create_dir(&dir)?;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => fs::create_dir(&dir)?,
            Err(err) => return Err(err.into()),
        }
    }
    Ok(dir)
}

/// Removes whatever is at `path` (file, link, or directory tree) without
/// following links.
fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Extracts an uncompressed layer tar into `root`, within the default
/// [`Limits`].
pub fn extract(layer: impl Read, root: &Path) -> Result<Report, Error> {
    extract_within(layer, root, Limits::default())
}

/// Extracts an uncompressed layer tar into `root`, within `limits`.
pub fn extract_within(layer: impl Read, root: &Path, limits: Limits) -> Result<Report, Error> {
    // Headers of the entries between two that come out: one record each.
    let between = limits.max_record + 8 * 512;
    let allowance = Rc::new(Cell::new(between));
    let exceeded = Rc::new(Cell::new(None));
    let bounded = Bounded { inner: layer, read: 0, max_bytes: limits.max_bytes, allowance: allowance.clone(), exceeded: exceeded.clone() };
    let limit_error = |error: io::Error| match exceeded.get() {
        Some(Exceeded::Bytes) => Error::TooLarge { limit: limits.max_bytes },
        Some(Exceeded::Record) => Error::RecordTooLarge { limit: limits.max_record },
        None => Error::Io(error),
    };
    let mut report = Report::default();
    let mut dir_times = Vec::new();
    let mut archive = tar::Archive::new(bounded);
    let mut entries_seen = 0u64;
    for entry in archive.entries().map_err(limit_error)? {
        let mut entry = entry.map_err(limit_error)?;
        entries_seen += 1;
        if entries_seen > limits.max_entries {
            return Err(Error::TooManyEntries { limit: limits.max_entries });
        }
        // This entry's data (padded), then the next entry's headers.
        allowance.set((entry.size().saturating_add(511) / 512 * 512).saturating_add(between));
        extract_entry(&mut entry, root, &mut report, &mut dir_times).map_err(|e| match e {
            Error::Io(io) => limit_error(io),
            other => other,
        })?;
    }
    // A directory's time is set once nothing more is written into it (a
    // later entry of the layer may have removed it).
    for (dir, mtime) in dir_times {
        match set_mtime(&dir, mtime) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(report)
}

/// Gives `path` (not followed if a symbolic link) the entry's owner. Only
/// root may give a file away: as anyone else, files stay the extractor's.
fn set_owner(path: &Path, header: &tar::Header) -> io::Result<()> {
    let (Ok(uid), Ok(gid)) = (header.uid(), header.gid()) else { return Ok(()) };
    let (Ok(uid), Ok(gid)) = (u32::try_from(uid), u32::try_from(gid)) else { return Ok(()) };
    match std::os::unix::fs::lchown(path, Some(uid), Some(gid)) {
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => Ok(()),
        other => other,
    }
}

/// Sets the access and modification times of `path` (not followed if a
/// symbolic link) to `mtime`.
fn set_mtime(path: &Path, mtime: u64) -> io::Result<()> {
    let time = filetime::FileTime::from_unix_time(i64::try_from(mtime).unwrap_or(i64::MAX), 0);
    filetime::set_symlink_file_times(path, time, time)
}

/// Writes one entry under `root`; a directory's time is left to the
/// caller (`dir_times`), since what is written into it later changes it.
fn extract_entry<R: Read>(entry: &mut tar::Entry<'_, R>, root: &Path, report: &mut Report, dir_times: &mut Vec<(PathBuf, u64)>) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    {
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(parts) = confine(&raw) else { return Ok(()) };
        let (name, parents) = parts.split_last().expect("not empty");
        let dir = parent_dir(root, parents, &raw)?;
        // Whiteouts.
        if name == ".wh..wh..opq" {
            for child in fs::read_dir(&dir)? {
                remove_any(&child?.path())?;
            }
            report.whiteouts += 1;
            return Ok(());
        }
        if let Some(gone) = name.strip_prefix(".wh.") {
            remove_any(&dir.join(gone))?;
            report.whiteouts += 1;
            return Ok(());
        }
        let dest = dir.join(name);
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        let mtime = entry.header().mtime().unwrap_or(0);
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&dest) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => {
                        remove_any(&dest)?;
                        fs::create_dir(&dest)?;
                    }
                    Err(_) => fs::create_dir(&dest)?,
                }
                // Owner before mode: a change of owner clears set-id bits.
                set_owner(&dest, entry.header())?;
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode))?;
                dir_times.push((dest, mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_any(&dest)?;
                let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&dest)?;
                io::copy(entry, &mut file)?;
                drop(file);
                set_owner(&dest, entry.header())?;
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode))?;
                set_mtime(&dest, mtime)?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name()?.map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
                remove_any(&dest)?;
                // The link itself is stored as is; it is never followed
                // while extracting (see parent_dir).
                std::os::unix::fs::symlink(&target, &dest)?;
                set_owner(&dest, entry.header())?;
                set_mtime(&dest, mtime)?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name()?.map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
                let escape = || Error::HardlinkEscape { path: raw.clone(), target: target.clone() };
                let target_parts = confine(&target).ok_or_else(escape)?;
                let (target_name, target_parents) = target_parts.split_last().expect("not empty");
                let target_dir = parent_dir(root, target_parents, &raw).map_err(|_| escape())?;
                let source = target_dir.join(target_name);
                match fs::symlink_metadata(&source) {
                    Ok(meta) if meta.is_file() => {}
                    _ => return Err(escape()),
                }
                remove_any(&dest)?;
                fs::hard_link(&source, &dest)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                report.skipped_devices.push(parts.join("/"));
                return Ok(());
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink => return Ok(()),
            _ => return Err(Error::Unsupported { path: raw }),
        }
        report.written += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar with raw (unchecked) names, the way an attacker writes one.
    fn evil_tar(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, link, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            if !link.is_empty() {
                header.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            header.set_cksum();
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    struct Sandbox {
        _dir: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
    }

    fn sandbox() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), "untouched").unwrap();
        Sandbox { _dir: dir, root, outside }
    }

    fn outside_untouched(s: &Sandbox) {
        let names: Vec<_> = fs::read_dir(&s.outside).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["secret"], "nothing new outside the root");
        assert_eq!(fs::read_to_string(s.outside.join("secret")).unwrap(), "untouched");
    }

    #[test]
    fn dot_dot_stays_inside() {
        let s = sandbox();
        let tar = evil_tar(&[("../outside/evil", tar::EntryType::Regular, "", b"x"), ("a/../../../outside/secret", tar::EntryType::Regular, "", b"pwned")]);
        extract(tar.as_slice(), &s.root).unwrap();
        outside_untouched(&s);
        assert!(s.root.join("outside/evil").exists() && s.root.join("outside/secret").exists());
    }

    #[test]
    fn absolute_paths_are_relative_to_the_root() {
        let s = sandbox();
        let abs = format!("{}/abs", s.outside.display());
        let tar = evil_tar(&[(&abs, tar::EntryType::Regular, "", b"x")]);
        extract(tar.as_slice(), &s.root).unwrap();
        outside_untouched(&s);
        assert!(s.root.join(abs.trim_start_matches('/')).exists());
    }

    #[test]
    fn symlinked_parents_are_refused() {
        let s = sandbox();
        let target = s.outside.display().to_string();
        let tar = evil_tar(&[("link", tar::EntryType::Symlink, &target, b""), ("link/secret", tar::EntryType::Regular, "", b"pwned")]);
        let err = extract(tar.as_slice(), &s.root).unwrap_err();
        assert!(matches!(err, Error::SymlinkParent { .. }), "{err}");
        outside_untouched(&s);
    }

    #[test]
    fn a_symlink_in_the_final_position_is_replaced_not_followed() {
        let s = sandbox();
        let target = s.outside.join("secret").display().to_string();
        let tar = evil_tar(&[("file", tar::EntryType::Symlink, &target, b""), ("file", tar::EntryType::Regular, "", b"new")]);
        extract(tar.as_slice(), &s.root).unwrap();
        outside_untouched(&s);
        assert_eq!(fs::read_to_string(s.root.join("file")).unwrap(), "new");
    }

    #[test]
    fn hardlinks_out_of_the_root_are_refused() {
        let s = sandbox();
        let target = s.outside.join("secret").display().to_string();
        for link in ["../outside/secret", target.as_str()] {
            let tar = evil_tar(&[("h", tar::EntryType::Link, link, b"")]);
            let err = extract(tar.as_slice(), &s.root).unwrap_err();
            assert!(matches!(err, Error::HardlinkEscape { .. }), "{link}: {err}");
        }
        // Through a symlinked directory inside the root.
        let tar = evil_tar(&[
            ("d", tar::EntryType::Symlink, s.outside.to_str().unwrap(), b""),
            ("h", tar::EntryType::Link, "d/secret", b""),
        ]);
        assert!(extract(tar.as_slice(), &s.root).is_err());
        outside_untouched(&s);
        // A hard link inside the root works.
        let s = sandbox();
        let tar = evil_tar(&[("a", tar::EntryType::Regular, "", b"data"), ("b", tar::EntryType::Link, "a", b"")]);
        extract(tar.as_slice(), &s.root).unwrap();
        assert_eq!(fs::read_to_string(s.root.join("b")).unwrap(), "data");
    }

    #[test]
    fn device_nodes_are_skipped() {
        let s = sandbox();
        let tar = evil_tar(&[("dev/sda", tar::EntryType::Block, "", b""), ("dev/mem", tar::EntryType::Char, "", b""), ("p", tar::EntryType::Fifo, "", b"")]);
        let report = extract(tar.as_slice(), &s.root).unwrap();
        assert_eq!(report.skipped_devices, ["dev/sda", "dev/mem", "p"]);
        assert!(!s.root.join("dev/sda").exists());
    }

    #[test]
    fn whiteouts_delete_and_opaque_markers_empty() {
        let s = sandbox();
        let lower = evil_tar(&[("etc/a", tar::EntryType::Regular, "", b"1"), ("etc/b", tar::EntryType::Regular, "", b"2"), ("var/x/y", tar::EntryType::Regular, "", b"3")]);
        extract(lower.as_slice(), &s.root).unwrap();
        let upper = evil_tar(&[("etc/.wh.a", tar::EntryType::Regular, "", b""), ("var/x/.wh..wh..opq", tar::EntryType::Regular, "", b""), ("var/x/z", tar::EntryType::Regular, "", b"4")]);
        let report = extract(upper.as_slice(), &s.root).unwrap();
        assert_eq!(report.whiteouts, 2);
        assert!(!s.root.join("etc/a").exists() && s.root.join("etc/b").exists());
        assert!(!s.root.join("var/x/y").exists() && s.root.join("var/x/z").exists());
        // A whiteout cannot reach outside either.
        let evil = evil_tar(&[("../outside/.wh.secret", tar::EntryType::Regular, "", b"")]);
        extract(evil.as_slice(), &s.root).unwrap();
        outside_untouched(&s);
    }

    #[test]
    fn a_layer_written_by_the_writer_round_trips() {
        use crate::oci::layer::{write_layer, Entry, EntryKind};
        let s = sandbox();
        let entries = vec![
            Entry { path: "app/run".into(), kind: EntryKind::File(crate::oci::layer::Content::Bytes(b"#!/bin/sh\n".to_vec())), mode: 0o755, uid: 0, gid: 0, mtime: 9 },
            Entry { path: "app/link".into(), kind: EntryKind::Symlink("run".into()), mode: 0o777, uid: 0, gid: 0, mtime: 9 },
        ];
        let (blob, _) = write_layer(entries, 0, crate::oci::layer::Compression::Gzip, Vec::new()).unwrap();
        extract(flate2::read::MultiGzDecoder::new(blob.as_slice()), &s.root).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(s.root.join("app/run")).unwrap().permissions().mode() & 0o777, 0o755);
        assert_eq!(fs::read_link(s.root.join("app/link")).unwrap(), Path::new("run"));
    }

    #[test]
    fn owners_and_times_are_kept() {
        use crate::oci::layer::{write_layer, Content, Entry, EntryKind};
        use std::os::unix::fs::MetadataExt;
        let s = sandbox();
        let epoch = 1_700_000_000;
        let entries = vec![
            Entry { path: "home/app".into(), kind: EntryKind::Dir, mode: 0o750, uid: 1000, gid: 1001, mtime: 1_600_000_000 },
            Entry { path: "home/app/mod.py".into(), kind: EntryKind::File(Content::Bytes(b"x = 1\n".to_vec())), mode: 0o4755, uid: 1000, gid: 1001, mtime: 1_600_000_001 },
            Entry { path: "home/app/link".into(), kind: EntryKind::Symlink("mod.py".into()), mode: 0o777, uid: 1000, gid: 1001, mtime: 1_600_000_002 },
        ];
        let (blob, _) = write_layer(entries, epoch, crate::oci::layer::Compression::Gzip, Vec::new()).unwrap();
        extract(flate2::read::MultiGzDecoder::new(blob.as_slice()), &s.root).unwrap();
        let meta = |p: &str| fs::symlink_metadata(s.root.join(p)).unwrap();
        // The directory's time holds although files were written into it after it.
        assert_eq!(meta("home/app").mtime(), 1_600_000_000);
        assert_eq!(meta("home/app/mod.py").mtime(), 1_600_000_001);
        assert_eq!(meta("home/app/link").mtime(), 1_600_000_002);
        assert_eq!(meta("home").mtime(), epoch as i64, "a parent the writer added is at the epoch");
        // Only root can give files away (CI runs the tests as root).
        if fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
            for p in ["home/app", "home/app/mod.py", "home/app/link"] {
                assert_eq!((meta(p).uid(), meta(p).gid()), (1000, 1001), "{p}");
            }
            assert_eq!(meta("home/app/mod.py").mode() & 0o7777, 0o4755, "set-id bits survive the change of owner");
        }
    }

    fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(size);
        header.set_cksum();
        header
    }

    fn small_limits() -> Limits {
        Limits { max_bytes: 1 << 20, max_entries: 100, max_record: 64 << 10 }
    }

    #[test]
    fn a_hard_link_to_a_symlink_is_refused() {
        let s = sandbox();
        let target = s.outside.join("secret").display().to_string();
        let tar = evil_tar(&[("l", tar::EntryType::Symlink, &target, b""), ("h", tar::EntryType::Link, "l", b"")]);
        let err = extract(tar.as_slice(), &s.root).unwrap_err();
        assert!(matches!(err, Error::HardlinkEscape { .. }), "{err}");
        outside_untouched(&s);
    }

    #[test]
    fn duplicate_entries_replace_what_came_before() {
        let s = sandbox();
        let target = s.outside.display().to_string();
        let tar = evil_tar(&[
            ("f", tar::EntryType::Regular, "", b"first"),
            ("f", tar::EntryType::Regular, "", b"second"),
            ("d", tar::EntryType::Directory, "", b""),
            ("d/x", tar::EntryType::Regular, "", b"x"),
            ("d", tar::EntryType::Regular, "", b"now a file"),
            ("l", tar::EntryType::Symlink, &target, b""),
            ("l", tar::EntryType::Directory, "", b""),
            ("l/inside", tar::EntryType::Regular, "", b"in"),
        ]);
        extract(tar.as_slice(), &s.root).unwrap();
        assert_eq!(fs::read_to_string(s.root.join("f")).unwrap(), "second");
        assert_eq!(fs::read_to_string(s.root.join("d")).unwrap(), "now a file");
        assert!(fs::symlink_metadata(s.root.join("l")).unwrap().is_dir());
        assert_eq!(fs::read_to_string(s.root.join("l/inside")).unwrap(), "in");
        outside_untouched(&s);
    }

    #[test]
    fn an_opaque_whiteout_climbing_out_empties_only_the_root() {
        let s = sandbox();
        let tar = evil_tar(&[("a", tar::EntryType::Regular, "", b"1"), ("../../outside/.wh..wh..opq", tar::EntryType::Regular, "", b""), ("../../.wh..wh..opq", tar::EntryType::Regular, "", b"")]);
        extract(tar.as_slice(), &s.root).unwrap();
        assert_eq!(fs::read_dir(&s.root).unwrap().count(), 0);
        outside_untouched(&s);
    }

    #[test]
    fn a_huge_pax_record_stops_at_its_limit_without_reading_it_into_memory() {
        let s = sandbox();
        let declared = 8u64 << 30; // 8 GiB of record, streamed: never held
        let header = header("PaxHeaders/x", tar::EntryType::XHeader, declared);
        let layer = io::Cursor::new(header.as_bytes().to_vec()).chain(io::repeat(b'9').take(declared));
        let err = extract_within(layer, &s.root, small_limits()).unwrap_err();
        assert!(matches!(err, Error::RecordTooLarge { limit } if limit == 64 << 10), "{err}");
    }

    #[test]
    fn malformed_pax_records_are_errors_or_ignored_never_a_write_outside() {
        for record in [&b"garbage without a length\n"[..], b"99999999999999999999 path=x\n", b"12 path=../../outside/p\n", b"5 a\n", b"\xff\xfe\n"] {
            let s = sandbox();
            let mut tar = Vec::new();
            tar.extend_from_slice(header("PaxHeaders/x", tar::EntryType::XHeader, record.len() as u64).as_bytes());
            tar.extend_from_slice(record);
            tar.resize(tar.len().div_ceil(512) * 512, 0);
            tar.extend_from_slice(header("plain", tar::EntryType::Regular, 1).as_bytes());
            tar.push(b'x');
            tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
            let _ = extract(tar.as_slice(), &s.root);
            outside_untouched(&s);
        }
    }

    #[test]
    fn long_names_are_confined_and_an_over_long_component_is_an_error() {
        let s = sandbox();
        let deep = format!("{}file", "d/".repeat(2000));
        let mut builder = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        builder.append_data(&mut h, &deep, &b"x"[..]).unwrap();
        let tar = builder.into_inner().unwrap();
        extract(tar.as_slice(), &s.root).unwrap();
        assert!(s.root.join(&deep).is_file());
        let long = format!("../{}", "n".repeat(300));
        let mut builder = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        builder.append_data(&mut h, "placeholder", &b"x"[..]).unwrap();
        let mut tar = builder.into_inner().unwrap();
        // A GNU long name record naming a 300-byte component.
        let mut raw = Vec::new();
        let mut ln = tar::Header::new_gnu();
        ln.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
        ln.set_entry_type(tar::EntryType::GNULongName);
        ln.set_size(long.len() as u64 + 1);
        ln.set_cksum();
        raw.extend_from_slice(ln.as_bytes());
        raw.extend_from_slice(long.as_bytes());
        raw.push(0);
        raw.resize(raw.len().div_ceil(512) * 512, 0);
        raw.append(&mut tar);
        let err = extract(raw.as_slice(), &s.root).unwrap_err();
        assert!(matches!(err, Error::Io(_)), "{err}");
        outside_untouched(&s);
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_size_limit() {
        use std::io::Write;
        let s = sandbox();
        let size = 64u64 << 20;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(header("zeros", tar::EntryType::Regular, size).as_bytes()).unwrap();
        io::copy(&mut io::repeat(0).take(size), &mut gz).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "{} bytes compressed", bomb.len());
        let err = extract_within(flate2::read::GzDecoder::new(bomb.as_slice()), &s.root, small_limits()).unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit } if limit == 1 << 20), "{err}");
    }

    #[test]
    fn a_tar_bomb_stops_at_the_entry_limit() {
        let s = sandbox();
        let names: Vec<String> = (0..150).map(|i| format!("f{i}")).collect();
        let entries: Vec<(&str, tar::EntryType, &str, &[u8])> = names.iter().map(|n| (n.as_str(), tar::EntryType::Regular, "", &b""[..])).collect();
        let tar = evil_tar(&entries);
        let err = extract_within(tar.as_slice(), &s.root, small_limits()).unwrap_err();
        assert!(matches!(err, Error::TooManyEntries { limit: 100 }), "{err}");
        assert!(extract_within(evil_tar(&entries[..100]).as_slice(), &s.root, small_limits()).is_ok());
    }
}
