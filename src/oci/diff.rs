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

/// The entries of `dir`.
pub fn entries(dir: &Path) -> io::Result<Vec<Entry>> {
    let mut res = Vec::new();
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    walk(dir, "", &mut inodes, &mut res)?;
    Ok(res)
}

/// Removes from `dir` the mount points a runtime created there: the empty
/// files and empty directories at `paths` (relative), deepest first, so
/// that parents left empty go too. What a step put there stays.
pub fn remove_mount_stubs(dir: &Path, paths: &[String]) -> io::Result<()> {
    let mut paths: Vec<&String> = paths.iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    for path in paths {
        let full = dir.join(path);
        let Ok(meta) = fs::symlink_metadata(&full) else { continue };
        if meta.is_file() && meta.len() == 0 {
            fs::remove_file(&full)?;
        } else if meta.is_dir() && fs::read_dir(&full)?.next().is_none() && !is_opaque(&full) {
            fs::remove_dir(&full)?;
        }
    }
    Ok(())
}

fn is_opaque(dir: &Path) -> bool {
    xattr::get(dir, "trusted.overlay.opaque").ok().flatten().is_some_and(|v| v == b"y")
}

fn walk(dir: &Path, rel: &str, inodes: &mut HashMap<(u64, u64), String>, out: &mut Vec<Entry>) -> io::Result<()> {
    let mut children: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let meta = fs::symlink_metadata(child.path())?;
        let ft = meta.file_type();
        let base = |kind| Entry { path: path.clone(), kind, mode: meta.mode() & 0o7777, uid: meta.uid() as u64, gid: meta.gid() as u64, mtime: meta.mtime().max(0) as u64 };
        if ft.is_char_device() && meta.rdev() == 0 {
            out.push(base(EntryKind::Whiteout));
        } else if ft.is_dir() {
            out.push(base(EntryKind::Dir));
            if is_opaque(&child.path()) {
                out.push(base(EntryKind::Opaque));
            }
            walk(&child.path(), &path, inodes, out)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_stubs_go_and_what_the_step_wrote_stays() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("run/secrets")).unwrap();
        fs::write(d.join("run/secrets/tok"), "").unwrap();
        fs::create_dir_all(d.join("cache")).unwrap();
        fs::create_dir_all(d.join("etc")).unwrap();
        fs::write(d.join("etc/resolv.conf"), "").unwrap();
        fs::write(d.join("etc/app.conf"), "x").unwrap();
        fs::create_dir_all(d.join("work")).unwrap();
        fs::write(d.join("work/out"), "data").unwrap();
        let stubs = ["run/secrets/tok", "run/secrets", "run", "cache", "etc/resolv.conf", "etc", "work"].map(String::from);
        remove_mount_stubs(d, &stubs).unwrap();
        let paths: Vec<String> = entries(d).unwrap().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["etc", "etc/app.conf", "work", "work/out"]);
    }
}
