//! An overlay upper directory (what one RUN changed) → layer entries:
//! overlay's whiteouts (0/0 character devices) become OCI whiteouts, its
//! opaque directories (`trusted.overlay.opaque=y`) OCI opaque markers;
//! hard links within the directory stay hard links.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::oci::layer::{Content, Entry, EntryKind};

/// The entries of `dir`, leaving out the relative paths in `skip` when
/// they are empty directories or empty files (mount points a runtime
/// created).
pub fn entries(dir: &Path, skip: &[String]) -> io::Result<Vec<Entry>> {
    let mut res = Vec::new();
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    walk(dir, "", skip, &mut inodes, &mut res)?;
    Ok(res)
}

fn walk(dir: &Path, rel: &str, skip: &[String], inodes: &mut HashMap<(u64, u64), String>, out: &mut Vec<Entry>) -> io::Result<()> {
    let mut children: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let meta = fs::symlink_metadata(child.path())?;
        let ft = meta.file_type();
        let is_empty_stub = (ft.is_dir() && fs::read_dir(child.path())?.next().is_none()) || (ft.is_file() && meta.len() == 0);
        if skip.iter().any(|s| s == &path) && is_empty_stub {
            continue;
        }
        let base = |kind| Entry { path: path.clone(), kind, mode: meta.mode() & 0o7777, uid: meta.uid() as u64, gid: meta.gid() as u64, mtime: meta.mtime().max(0) as u64 };
        if ft.is_char_device() && meta.rdev() == 0 {
            out.push(base(EntryKind::Whiteout));
        } else if ft.is_dir() {
            out.push(base(EntryKind::Dir));
            let opaque = xattr::get(child.path(), "trusted.overlay.opaque").ok().flatten().is_some_and(|v| v == b"y");
            if opaque {
                out.push(base(EntryKind::Opaque));
            }
            walk(&child.path(), &path, skip, inodes, out)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(child.path())?.to_string_lossy().into_owned();
            out.push(base(EntryKind::Symlink(target)));
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = inodes.get(&(meta.dev(), meta.ino())) {
                    out.push(base(EntryKind::Hardlink(first.clone())));
                    continue;
                }
                inodes.insert((meta.dev(), meta.ino()), path.clone());
            }
            out.push(base(EntryKind::File(Content::Disk { path: child.path(), size: meta.len() })));
        }
        // Sockets, FIFOs and other devices made by a build are left out.
    }
    Ok(())
}
