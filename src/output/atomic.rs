//! Output files written whole or not at all: a crash or a full disk never
//! leaves a truncated `output.json`, report or overlay behind.
//!
//! The bytes go to a temporary file beside the target (same folder, so the
//! rename cannot cross file systems), are flushed to disk, and the temporary
//! file is renamed over the target. A reader sees the old file or the new
//! one, never half of one.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (see the module docs). A full disk is
/// reported as such, naming the file; the previous content of `path`, if
/// any, is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temporary_path(path);
    let written = write_and_sync(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_ok() {
        // The rename itself reaches the disk with the folder's entry; best effort (some
        // file systems refuse to sync a folder), the file is whole either way.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
    }
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        let why = if e.raw_os_error() == Some(libc::ENOSPC) {
            "the disk is full".to_string()
        } else {
            e.to_string()
        };
        return Err(anyhow::anyhow!("cannot write {}: {why}", path.display()));
    }
    Ok(())
}

/// Encodes `image` as PNG in memory and writes it with [`write_atomic`].
pub fn save_png_atomic(image: &image::RgbImage, path: &Path) -> Result<()> {
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    write_atomic(path, png.get_ref())
}

fn write_and_sync(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `dir/.name.tmp-<pid>`: hidden, beside the target, unique per process.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.json");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary file left behind: {names:?}");
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.json");
        std::fs::write(&path, "old").unwrap();
        // A folder where the temporary file would go: creating it fails.
        std::fs::create_dir(temporary_path(&path)).unwrap();
        let err = write_atomic(&path, b"new").unwrap_err().to_string();
        assert!(err.contains("output.json"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    }

    #[test]
    fn a_full_disk_is_reported_as_such() {
        // /dev/full answers every write with ENOSPC; the rename never happens.
        if !Path::new("/dev/full").exists() {
            eprintln!("skipped: no /dev/full");
            return;
        }
        let err = write_and_sync(Path::new("/dev/full"), b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    }
}
