//! Writing files so that a crash never leaves half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The most a file people write (a suite, a target) may hold.
pub(crate) const MAX_TEXT_BYTES: u64 = 16 << 20;

/// Read a file people write: a regular file (a FIFO, a device or a folder is
/// refused without blocking), at most [`MAX_TEXT_BYTES`], in UTF-8.
pub(crate) fn read_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting.
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)?;
    let metadata = file.metadata()?;
    let kind = metadata.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a folder"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a special file"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is {what}, not a regular file"),
        ));
    }
    let too_big = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it is larger than {} MiB, the most a suite or target file may hold",
                MAX_TEXT_BYTES >> 20
            ),
        )
    };
    if metadata.len() > MAX_TEXT_BYTES {
        return Err(too_big());
    }
    // The file may grow while it is read: never read more than the limit.
    let mut bytes = Vec::new();
    file.take(MAX_TEXT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_TEXT_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// `path` made absolute against the current folder (as it is, if that fails).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Where a run's scratch folder goes (its Postgres cluster, its checkouts):
/// `TMPDIR` when it is set; otherwise `/dev/shm` when it is a folder this
/// process may write (memory: copying the cached cluster and removing it at
/// the end cost little there); otherwise the system's temp folder.
pub(crate) fn scratch_root() -> PathBuf {
    if std::env::var_os("TMPDIR").is_some_and(|d| !d.is_empty()) {
        return std::env::temp_dir();
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && nix::unistd::access(shm, nix::unistd::AccessFlags::W_OK).is_ok() {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

/// Every folder a run's scratch folder may be in (for `replay gc`).
pub(crate) fn scratch_roots() -> Vec<PathBuf> {
    let mut roots = vec![scratch_root(), std::env::temp_dir()];
    roots.dedup();
    roots
}

/// Write `bytes` to `path` through a temp file in the same folder, renamed over it.
/// A file that already holds exactly `bytes` is left alone (no write, no fsync:
/// a cached rerun that renders the same table costs nothing).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::create_dir_all(folder_of(path))?;
    stage(path, bytes)?.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The folder `path` is in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The new contents of `path`, written and synced into a temp file beside it
/// (secrets scrubbed), not yet in place: `persist(path)` puts it there in one
/// rename; dropping it removes it. Writing several files all or none stages
/// them all first, so that a full disk or a read-only folder changes nothing.
pub(crate) fn stage(path: &Path, bytes: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    // No secret of the run reaches a file, whatever put it in the text.
    let scrubbed;
    let bytes = match std::str::from_utf8(bytes) {
        Ok(text) => {
            scrubbed = crate::support::redact::scrub(text);
            scrubbed.as_bytes()
        }
        Err(_) => bytes,
    };
    stage_in(folder_of(path), bytes)
}

fn stage_in(dir: &Path, bytes: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    // A temp file is private; what we write is meant to be read (records, pins).
    std::fs::set_permissions(
        file.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.toml");
        std::fs::write(&plain, "a = 1\n").unwrap();
        assert_eq!(super::read_text(&plain).unwrap(), "a = 1\n");

        // A symlink to /dev/zero once grew memory to 7.7 GB.
        let zero = dir.path().join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let error = super::read_text(&zero).unwrap_err().to_string();
        assert!(
            error.contains("a character device, not a regular file"),
            "{error}"
        );

        // A FIFO with no writer once hung the tool; now it is refused at once.
        let fifo = dir.path().join("fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let error = super::read_text(&fifo).unwrap_err().to_string();
        assert!(error.contains("a FIFO"), "{error}");

        let folder = dir.path().join("folder.toml");
        std::fs::create_dir(&folder).unwrap();
        assert!(
            super::read_text(&folder)
                .unwrap_err()
                .to_string()
                .contains("a folder")
        );

        // Sparse: 17 MiB on paper, nothing on disk.
        let big = dir.path().join("big.toml");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(17 << 20)
            .unwrap();
        let error = super::read_text(&big).unwrap_err().to_string();
        assert!(error.contains("larger than 16 MiB"), "{error}");
    }

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.json");
        super::write_atomically(&path, b"one").unwrap();
        super::write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        // The same bytes again: the file is not replaced (a rename would give a new inode).
        use std::os::unix::fs::MetadataExt;
        let before = std::fs::metadata(&path).unwrap().ino();
        super::write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), before);
        super::write_atomically(&path, b"three").unwrap();
        assert_ne!(std::fs::metadata(&path).unwrap().ino(), before);
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }
}
