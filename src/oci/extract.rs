//! Extracting a layer into a root directory, treating it as hostile: no
//! entry may write outside the root, whatever it holds. Paths are resolved
//! lexically under the root (`..` cannot climb above it, absolute paths
//! are taken as relative to it); no parent directory that is a symbolic
//! link is ever followed; an existing symbolic link in the final position
//! is replaced, not written through; hard links must point inside the
//! root, at a regular file; device nodes and FIFOs are skipped (counted).
//! OCI whiteouts delete, opaque markers empty a directory.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Why an entry was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("layer entry {path:?} would be written through the symbolic link {link:?}")]
    SymlinkParent { path: String, link: String },
    #[error("hard link {path:?} points outside the root, or at something that is not a file ({target:?})")]
    HardlinkEscape { path: String, target: String },
    #[error("layer entry {path:?} has an unsupported type")]
    Unsupported { path: String },
    #[error("reading the layer: {0}")]
    Io(#[from] io::Error),
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

/// Extracts an uncompressed layer tar into `root`.
pub fn extract(layer: impl Read, root: &Path) -> Result<Report, Error> {
    use std::os::unix::fs::PermissionsExt;
    let mut report = Report::default();
    let mut archive = tar::Archive::new(layer);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(parts) = confine(&raw) else { continue };
        let (name, parents) = parts.split_last().expect("not empty");
        let dir = parent_dir(root, parents, &raw)?;
        // Whiteouts.
        if name == ".wh..wh..opq" {
            for child in fs::read_dir(&dir)? {
                remove_any(&child?.path())?;
            }
            report.whiteouts += 1;
            continue;
        }
        if let Some(gone) = name.strip_prefix(".wh.") {
            remove_any(&dir.join(gone))?;
            report.whiteouts += 1;
            continue;
        }
        let dest = dir.join(name);
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
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
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_any(&dest)?;
                let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&dest)?;
                io::copy(&mut entry, &mut file)?;
                file.set_permissions(fs::Permissions::from_mode(mode))?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name()?.map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
                remove_any(&dest)?;
                // The link itself is stored as is; it is never followed
                // while extracting (see parent_dir).
                std::os::unix::fs::symlink(&target, &dest)?;
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
                continue;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink => continue,
            _ => return Err(Error::Unsupported { path: raw }),
        }
        report.written += 1;
    }
    Ok(report)
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
        extract(flate2::read::GzDecoder::new(blob.as_slice()), &s.root).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(s.root.join("app/run")).unwrap().permissions().mode() & 0o777, 0o755);
        assert_eq!(fs::read_link(s.root.join("app/link")).unwrap(), Path::new("run"));
    }
}
