//! A build's private working directory inside the cache (overlay mounts,
//! runc bundles, RUN upper directories before they are renamed into the
//! cache), and the reaping of those left by builds that died.
//!
//! Each scratch directory `bXXXX` has a lock file `bXXXX.lock` that its
//! build holds locked for its whole life. A build that was killed (even by
//! `kill -9`) drops the lock with its process, so the next build can tell
//! a dead build's directory from a live one: it unmounts what the dead one
//! left mounted and removes the directory. Nothing is removed while any
//! mount remains under it, so a removal never reaches through a mount.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: fs::File,
}

impl Scratch {
    /// Reaps dead builds' directories under `root`, then makes this one's.
    pub fn create(root: &Path) -> io::Result<Scratch> {
        fs::create_dir_all(root)?;
        reap(root);
        loop {
            let (file, lock_path) = tempfile::Builder::new().prefix("b").suffix(".lock").tempfile_in(root)?.keep().map_err(|e| e.error)?;
            file.lock()?;
            // A reaper may have taken the lock file between its creation
            // and our lock: then it is gone, and we start again.
            let held = file.metadata()?.ino();
            if fs::metadata(&lock_path).map(|m| m.ino()).ok() != Some(held) {
                continue;
            }
            let dir = lock_path.with_extension("");
            fs::create_dir(&dir)?;
            return Ok(Scratch { dir, lock_path, _lock: file });
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if remove_unmounted(&self.dir) {
            let _ = fs::remove_file(&self.lock_path);
        }
    }
}

/// Removes the directories of builds that no longer hold their lock.
fn reap(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else { return };
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for name in &names {
        if let Some(stem) = name.strip_suffix(".lock") {
            let lock_path = root.join(name);
            let Ok(file) = fs::OpenOptions::new().write(true).open(&lock_path) else { continue };
            if file.try_lock().is_ok() && remove_unmounted(&root.join(stem)) {
                let _ = fs::remove_file(&lock_path);
            }
        } else if !names.contains(&format!("{name}.lock")) {
            // A directory whose lock is gone: its build ended or died.
            remove_unmounted(&root.join(name));
        }
    }
}

/// Unmounts everything mounted under `dir` (lazily: a dead build's
/// container may still hold it), then removes `dir` if no mount is left.
fn remove_unmounted(dir: &Path) -> bool {
    if !dir.exists() {
        return true;
    }
    let mut mounts = mounts_under(dir);
    // Deepest first.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    for m in &mounts {
        let _ = Command::new("umount").arg("-l").arg(m).stderr(Stdio::null()).status();
    }
    if !mounts_under(dir).is_empty() {
        return false;
    }
    fs::remove_dir_all(dir).is_ok()
}

/// Mount points at or under `dir`, from /proc/self/mountinfo.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(dir) = fs::canonicalize(dir) else { return Vec::new() };
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .map(PathBuf::from)
        .filter(|m| m.starts_with(&dir))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            out.push((bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_builds_directory_is_reaped_and_a_live_one_is_not() {
        let root = tempfile::tempdir().unwrap();
        let live = Scratch::create(root.path()).unwrap();
        fs::write(live.path().join("file"), "x").unwrap();
        // A dead build: its lock file exists but nobody holds it.
        fs::create_dir(root.path().join("bdead")).unwrap();
        fs::write(root.path().join("bdead/file"), "x").unwrap();
        fs::write(root.path().join("bdead.lock"), "").unwrap();
        // An orphan directory without a lock.
        fs::create_dir(root.path().join("borphan")).unwrap();
        let other = Scratch::create(root.path()).unwrap();
        assert!(live.path().join("file").exists(), "a live build's directory stays");
        assert!(!root.path().join("bdead").exists() && !root.path().join("bdead.lock").exists());
        assert!(!root.path().join("borphan").exists());
        let (a, b) = (live.path().to_path_buf(), other.path().to_path_buf());
        drop(live);
        drop(other);
        assert!(!a.exists() && !b.exists());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape_mountinfo(r"/x\04"), r"/x\04");
    }
}
