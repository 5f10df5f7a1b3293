//! Writing files so that a crash never leaves half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// `path` made absolute against the current folder (as it is, if that fails).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Write `bytes` to `path` through a temp file in the same folder, renamed over it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // No secret of the run reaches a file, whatever put it in the text.
    let scrubbed;
    let bytes = match std::str::from_utf8(bytes) {
        Ok(text) => {
            scrubbed = crate::support::redact::scrub(text);
            scrubbed.as_bytes()
        }
        Err(_) => bytes,
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    // A temp file is private; what we write is meant to be read (records, pins).
    std::fs::set_permissions(
        file.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.json");
        super::write_atomically(&path, b"one").unwrap();
        super::write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
