//! Removing a folder that something may have mounted into.
//!
//! mmdebstrap bind-mounts the host's `/proc`, `/sys`, `/dev/pts` and
//! `/dev/shm` below its chroot; killed at a deadline, it leaves them mounted.
//! `remove_dir_all` (or `rm -rf`) on such a folder walks into the bind mount
//! and deletes the host's files. [`remove_tree`] unmounts what is mounted
//! below the folder first (lazily, deepest first) and never walks into
//! another file system. (The integration tests clean their folders with it.)

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The mount points in a `/proc/self/mountinfo` text (field 5, unescaped).
fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .collect()
}

/// The kernel writes a space, tab, newline or backslash in a path as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let octal = std::str::from_utf8(&bytes[i + 1..i + 4]).expect("ascii digits");
            out.push(u8::from_str_radix(octal, 8).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points at or below `dir` (which is absolute and resolved), the
/// deepest first.
pub fn below(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mount_points(mountinfo)
        .into_iter()
        .filter(|point| point.starts_with(dir))
        .collect();
    found.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    found.dedup();
    found
}

fn mounted_below(dir: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(below(
        &std::fs::read_to_string("/proc/self/mountinfo")?,
        dir,
    ))
}

/// Unmount everything mounted at or below `dir`: lazily (a process that
/// still uses a mount does not keep it), deepest first, until nothing is
/// left (a point may hold several mounts). An error names what stays.
pub(crate) fn unmount_below(dir: &Path) -> io::Result<()> {
    let dir = std::fs::canonicalize(dir)?;
    let mut last_error = None;
    // Each round unmounts at least the top mount of each point, or gives up.
    for _ in 0..16 {
        let points = mounted_below(&dir)?;
        if points.is_empty() {
            return Ok(());
        }
        let mut progress = false;
        for point in &points {
            match nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH) {
                Ok(()) => progress = true,
                // Gone with its parent's mount meanwhile.
                Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
                Err(errno) => last_error = Some((point.clone(), errno)),
            }
        }
        if !progress {
            break;
        }
    }
    let points = mounted_below(&dir)?;
    if points.is_empty() {
        return Ok(());
    }
    let why = match last_error {
        Some((point, errno)) => format!(": unmounting {} failed: {errno}", point.display()),
        None => String::new(),
    };
    Err(io::Error::other(format!(
        "{} has file systems mounted below it ({}){why}",
        dir.display(),
        points
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Remove `dir` and everything below it, as `remove_dir_all` does, but
/// unmount what is mounted below it first and never walk into another file
/// system (a folder on another device is refused, not emptied). A missing
/// `dir` is not an error.
pub fn remove_tree(dir: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return std::fs::remove_file(dir);
    }
    unmount_below(dir)?;
    // After the unmount: a mount point's own folder is on the parent's device.
    let meta = std::fs::symlink_metadata(dir)?;
    remove_on_device(dir, meta.dev())
}

/// Remove `dir`'s tree, staying on device `dev`.
fn remove_on_device(dir: &Path, dev: u64) -> io::Result<()> {
    let gone = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e),
        };
        let removed = if meta.is_dir() {
            if meta.dev() != dev {
                return Err(io::Error::other(format!(
                    "{} is on another file system (a mount that is still there): not removed",
                    path.display()
                )));
            }
            remove_on_device(&path, dev)
        } else {
            // A symlink is removed, never followed.
            std::fs::remove_file(&path)
        };
        match removed {
            Err(e) if !gone(&e) => return Err(e),
            _ => {}
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if !gone(&e) => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:5 / /tmp/replay-it-x/scratch/mmdebstrap.abc/proc rw - proc proc rw
41 22 0:6 / /tmp/replay-it-x/scratch/mmdebstrap.abc/dev/shm rw - tmpfs tmpfs rw
42 41 0:7 / /tmp/replay-it-x/scratch/mmdebstrap.abc/dev/shm/deeper rw - tmpfs tmpfs rw
43 22 0:8 / /tmp/replay-it-xy/proc rw - proc proc rw
44 22 0:9 / /tmp/with\\040space/m rw - tmpfs tmpfs rw
";

    #[test]
    fn the_mounts_below_a_folder_come_deepest_first_and_not_its_neighbours() {
        let found = below(MOUNTINFO, Path::new("/tmp/replay-it-x"));
        assert_eq!(
            found,
            [
                "/tmp/replay-it-x/scratch/mmdebstrap.abc/dev/shm/deeper",
                "/tmp/replay-it-x/scratch/mmdebstrap.abc/dev/shm",
                "/tmp/replay-it-x/scratch/mmdebstrap.abc/proc",
            ]
            .map(PathBuf::from)
        );
        // An escaped space in a mount point.
        assert_eq!(
            below(MOUNTINFO, Path::new("/tmp/with space")),
            [PathBuf::from("/tmp/with space/m")]
        );
        assert!(below(MOUNTINFO, Path::new("/var")).is_empty());
    }

    #[test]
    fn a_tree_without_mounts_goes_and_a_symlink_out_of_it_is_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), b"x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::write(tree.join("a/b/file"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), tree.join("a/link")).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        assert!(outside.path().join("keep").exists());
        // Missing: nothing to do.
        remove_tree(&tree).unwrap();
    }

    /// A folder on another file system (tmpfs) bind-mounted below a tree on
    /// this one, as mmdebstrap leaves the host's `/dev/shm` when it is killed.
    /// Needs root (mount); says so and passes without it.
    struct BindMount {
        sentinel_dir: tempfile::TempDir,
        tree: tempfile::TempDir,
        point: PathBuf,
    }

    fn bind_mount() -> Option<BindMount> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("not root: cannot mount, the bind-mount test checks nothing");
            return None;
        }
        let sentinel_dir = tempfile::tempdir_in("/dev/shm").unwrap();
        std::fs::write(sentinel_dir.path().join("sentinel"), b"host file").unwrap();
        let tree = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let point = tree.path().join("mmdebstrap.x/dev/shm");
        std::fs::create_dir_all(&point).unwrap();
        std::fs::write(tree.path().join("mmdebstrap.x/file"), b"x").unwrap();
        nix::mount::mount(
            Some(sentinel_dir.path()),
            &point,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
        assert!(point.join("sentinel").exists());
        Some(BindMount {
            sentinel_dir,
            tree,
            point,
        })
    }

    impl Drop for BindMount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.point, nix::mount::MntFlags::MNT_DETACH);
        }
    }

    #[test]
    fn a_tree_with_a_bind_mount_below_it_is_unmounted_and_the_mounted_files_stay() {
        let Some(mount) = bind_mount() else {
            return;
        };
        let tree = mount.tree.path().to_path_buf();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists(), "the tree stayed");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            below(&mountinfo, &tree).is_empty(),
            "still mounted: {:?}",
            below(&mountinfo, &tree)
        );
        assert_eq!(
            std::fs::read(mount.sentinel_dir.path().join("sentinel")).unwrap(),
            b"host file",
            "the bind-mounted folder's file was deleted"
        );
    }

    #[test]
    fn the_walk_never_enters_another_file_system() {
        // The unmount left out (as when it is not permitted): the walk
        // refuses the mounted folder instead of emptying it.
        let Some(mount) = bind_mount() else {
            return;
        };
        let tree = mount.tree.path().to_path_buf();
        let dev = std::fs::symlink_metadata(&tree).unwrap().dev();
        let error = remove_on_device(&tree, dev).unwrap_err().to_string();
        assert!(error.contains("on another file system"), "{error}");
        assert!(mount.sentinel_dir.path().join("sentinel").exists());
    }
}
