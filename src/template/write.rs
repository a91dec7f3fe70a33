//! Writes a [`Plan`](super::Plan): the one place the template half does
//! IO. Every file is written to a temporary name beside its place first
//! and renamed into place only when all were written, so a failure leaves
//! no half-written spec. (No fsync per file: a thousand of them were most
//! of a large `generate`; the rename keeps each file whole.)

use std::io::Write;
use std::path::Path;

use super::PlannedFile;

/// Writes the files whose action writes, below `root`.
pub fn write(root: &Path, files: &[PlannedFile]) -> std::io::Result<usize> {
    let mut temps = Vec::new();
    for file in files.iter().filter(|f| f.action.writes()) {
        let dest = root.join(&file.path);
        let dir = dest.parent().unwrap_or(root);
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::Builder::new().prefix(".buildspec-").suffix(".tmp").tempfile_in(dir)?;
        tmp.write_all(file.text.as_bytes())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        temps.push((tmp, dest));
    }
    let n = temps.len();
    for (tmp, dest) in temps {
        tmp.persist(&dest).map_err(|e| e.error)?;
    }
    Ok(n)
}
