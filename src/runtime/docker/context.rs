//! The build context of a revision's image: its Dockerfile, the checkout, the
//! target's helper files, the build inputs and any wheels, as one tar.
//!
//! The tar is deterministic (sorted entries, no times, no owners), so its
//! sha256 names the image: the same tree with the same recipe is one image,
//! and a host file (`host_files`) with other contents is another image.
//! The Dockerfile copies the build inputs before the rest of the checkout, so
//! the dependency layer is reused by every revision with the same inputs.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::runtime::RuntimeError;

/// Where things are inside a revision's image.
pub(crate) const SRC: &str = "/replay/src";
pub(crate) const ENV: &str = "/replay/env";
pub(crate) const TARGET: &str = "/replay/target";
pub(crate) const WHEELS: &str = "/replay/wheels";
pub(crate) const HOST_FILES: &str = crate::spec::target::HOST_FILES_DIR;
/// The server and the migrations run as `nobody`, never as root.
pub(crate) const USER: &str = "65534:65534";

/// What a revision's Dockerfile says.
pub(crate) struct Recipe<'a> {
    pub base: &'a str,
    /// The target's `workdir`, relative to the checkout (empty: the checkout).
    pub workdir: &'a Path,
    /// Build inputs (relative to the workdir) that exist.
    pub inputs: &'a [String],
    pub has_wheels: bool,
    /// Host files (`host_files`) are copied in, to [`HOST_FILES`].
    pub has_files: bool,
    pub env: &'a [(String, String)],
    /// The ambient variables the target passes (`pass_env`): build arguments.
    pub args: &'a [&'a str],
    pub run: &'a [Vec<String>],
}

/// The folder the commands run in, inside the image.
pub(crate) fn workdir(workdir: &Path) -> String {
    let relative = workdir.to_string_lossy();
    let relative = relative.trim_matches('/');
    if relative.is_empty() || relative == "." {
        SRC.to_string()
    } else {
        format!("{SRC}/{relative}")
    }
}

/// The Dockerfile of a revision's image.
pub(crate) fn dockerfile(recipe: &Recipe<'_>) -> String {
    let mut text = format!("FROM {}\n", recipe.base);
    text.push_str(&format!("COPY target/ {TARGET}/\n"));
    if recipe.has_wheels {
        text.push_str(&format!("COPY wheels/ {WHEELS}/\n"));
    }
    if recipe.has_files {
        text.push_str(&format!("COPY files/ {HOST_FILES}/\n"));
    }
    let dir = workdir(recipe.workdir);
    text.push_str(&format!("WORKDIR {dir}\n"));
    for (key, value) in recipe.env {
        text.push_str(&format!("ENV {key}={}\n", json(value)));
    }
    for name in recipe.args {
        text.push_str(&format!("ARG {name}\n"));
    }
    if !recipe.inputs.is_empty() {
        text.push_str(&format!("COPY inputs/ {dir}/\n"));
    }
    for argv in recipe.run {
        text.push_str(&format!(
            "RUN [{}]\n",
            argv.iter().map(|a| json(a)).collect::<Vec<_>>().join(", ")
        ));
    }
    text.push_str(&format!("COPY src/ {SRC}/\n"));
    text.push_str(&format!("USER {USER}\n"));
    text
}

fn json(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// A written context: the tar and its sha256.
pub(crate) struct Context {
    pub tar: PathBuf,
    pub hash: String,
}

/// What goes into a context.
pub(crate) struct Parts<'a> {
    pub dockerfile: &'a str,
    pub checkout: &'a Path,
    /// The target's `workdir`, relative to the checkout.
    pub workdir: &'a Path,
    pub helpers: &'a [PathBuf],
    /// Build inputs (relative to the workdir) that exist.
    pub inputs: &'a [String],
    pub wheels: Option<&'a Path>,
    /// Host files: (path inside the image, path on this machine).
    pub files: &'a [(String, PathBuf)],
}

/// Write the context tar to `path`.
pub(crate) fn write(parts: &Parts<'_>, path: &Path) -> Result<Context, RuntimeError> {
    let io = |context: String| move |source| RuntimeError::Io { context, source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(format!("create {}", parent.display())))?;
    }
    let file = std::fs::File::create(path).map_err(io(format!("create {}", path.display())))?;
    let mut tar = tar::Builder::new(HashingWriter {
        inner: std::io::BufWriter::new(file),
        hasher: Sha256::new(),
    });
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    // Plain entries only: the engine (API 1.41) refuses GNU sparse headers
    // ("unhandled tar header type 83"), and linkers write sparse binaries.
    tar.sparse(false);
    let add_bytes = |tar: &mut tar::Builder<HashingWriter>, name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
    };
    let write_error = io(format!("write {}", path.display()));
    (|| -> std::io::Result<()> {
        add_bytes(&mut tar, "Dockerfile", parts.dockerfile.as_bytes())?;
        add_dir(&mut tar, "target")?;
        for helper in parts.helpers {
            if let Some(name) = helper.file_name() {
                tar.append_path_with_name(helper, Path::new("target").join(name))?;
            }
        }
        if !parts.inputs.is_empty() {
            add_dir(&mut tar, "inputs")?;
            for input in parts.inputs {
                tar.append_path_with_name(
                    parts.checkout.join(parts.workdir).join(input),
                    Path::new("inputs").join(input),
                )?;
            }
        }
        if let Some(wheels) = parts.wheels {
            add_tree(&mut tar, wheels, Path::new("wheels"))?;
        }
        if !parts.files.is_empty() {
            add_dir(&mut tar, "files")?;
            let mut files: Vec<&(String, PathBuf)> = parts.files.iter().collect();
            files.sort();
            for (inside, host) in files {
                let relative = inside
                    .strip_prefix(HOST_FILES)
                    .unwrap_or(inside)
                    .trim_start_matches('/');
                let name = Path::new("files").join(relative);
                if let Some(folder) = name.parent() {
                    add_dir(&mut tar, &folder.to_string_lossy())?;
                }
                // Followed: a host file may be a link to the file itself.
                let mut file = std::fs::File::open(host)?;
                tar.append_file(&name, &mut file)?;
            }
        }
        add_tree(&mut tar, parts.checkout, Path::new("src"))?;
        Ok(())
    })()
    .map_err(write_error)?;
    let writer = tar
        .into_inner()
        .map_err(io(format!("write {}", path.display())))?;
    let HashingWriter { mut inner, hasher } = writer;
    inner
        .flush()
        .map_err(io(format!("write {}", path.display())))?;
    Ok(Context {
        tar: path.to_path_buf(),
        hash: hex::encode(hasher.finalize()),
    })
}

fn add_dir(tar: &mut tar::Builder<HashingWriter>, name: &str) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, format!("{name}/"), std::io::empty())
}

/// Add a folder's contents under `name`, sorted, leaving out `.git`.
fn add_tree(tar: &mut tar::Builder<HashingWriter>, dir: &Path, name: &Path) -> std::io::Result<()> {
    tar.append_dir(name, dir)?;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let file_name = entry.file_name();
        if file_name == ".git" {
            continue;
        }
        let path = entry.path();
        let inside = name.join(&file_name);
        let kind = entry.file_type()?;
        if kind.is_dir() {
            add_tree(tar, &path, &inside)?;
        } else {
            tar.append_path_with_name(&path, &inside)?;
        }
    }
    Ok(())
}

/// A writer that hashes what passes through it.
struct HashingWriter {
    inner: std::io::BufWriter<std::fs::File>,
    hasher: Sha256,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dependency_layer_comes_before_the_checkout() {
        let text = dockerfile(&Recipe {
            base: "replay/base:abc",
            workdir: Path::new(""),
            inputs: &["requirements.txt".into()],
            has_wheels: true,
            has_files: false,
            env: &[("A".into(), "x \"y\"".into())],
            args: &[],
            run: &[vec![
                "python3".into(),
                "-m".into(),
                "venv".into(),
                ENV.into(),
            ]],
        });
        assert_eq!(
            text,
            "FROM replay/base:abc\nCOPY target/ /replay/target/\nCOPY wheels/ /replay/wheels/\nWORKDIR /replay/src\nENV A=\"x \\\"y\\\"\"\nCOPY inputs/ /replay/src/\nRUN [\"python3\", \"-m\", \"venv\", \"/replay/env\"]\nCOPY src/ /replay/src/\nUSER 65534:65534\n"
        );
    }

    #[test]
    fn a_workdir_and_passed_variables_reach_the_dockerfile() {
        let text = dockerfile(&Recipe {
            base: "b",
            workdir: Path::new("backend"),
            inputs: &["req.txt".into()],
            has_wheels: false,
            has_files: false,
            env: &[],
            args: &["PIP_INDEX"],
            run: &[vec!["true".into()]],
        });
        assert_eq!(
            text,
            "FROM b\nCOPY target/ /replay/target/\nWORKDIR /replay/src/backend\nARG PIP_INDEX\nCOPY inputs/ /replay/src/backend/\nRUN [\"true\"]\nCOPY src/ /replay/src/\nUSER 65534:65534\n"
        );
        assert_eq!(workdir(Path::new("")), SRC);
    }

    #[test]
    fn a_context_is_named_by_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let checkout = dir.path().join("co");
        std::fs::create_dir_all(checkout.join("pkg")).unwrap();
        std::fs::create_dir_all(checkout.join(".git")).unwrap();
        std::fs::write(checkout.join("a.py"), "one").unwrap();
        std::fs::write(checkout.join("pkg/b.py"), "two").unwrap();
        std::fs::write(checkout.join(".git/HEAD"), "ref").unwrap();
        let parts = Parts {
            dockerfile: "FROM x\n",
            checkout: &checkout,
            workdir: Path::new(""),
            helpers: &[],
            inputs: &["a.py".into()],
            wheels: None,
            files: &[],
        };
        let one = write(&parts, &dir.path().join("one.tar")).unwrap();
        // Times do not matter, contents and what goes in do.
        std::fs::write(checkout.join("a.py"), "one").unwrap();
        std::fs::write(checkout.join(".git/HEAD"), "other").unwrap();
        let two = write(&parts, &dir.path().join("two.tar")).unwrap();
        assert_eq!(one.hash, two.hash);
        std::fs::write(checkout.join("pkg/b.py"), "three").unwrap();
        let three = write(&parts, &dir.path().join("three.tar")).unwrap();
        assert_ne!(one.hash, three.hash);
        let mut archive = tar::Archive::new(std::fs::File::open(&three.tar).unwrap());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "Dockerfile",
                "target/",
                "inputs/",
                "inputs/a.py",
                "src",
                "src/a.py",
                "src/pkg",
                "src/pkg/b.py"
            ]
        );
    }

    #[test]
    fn a_host_file_goes_to_its_folder_and_its_contents_name_the_context() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let checkout = dir.path().join("co");
        std::fs::create_dir_all(&checkout).unwrap();
        std::fs::write(checkout.join("a.py"), "one").unwrap();
        let engine = dir.path().join("query-engine");
        std::fs::write(&engine, "engine v1").unwrap();
        // A sparse file (a hole, then data), as a linker may leave a binary.
        let sparse = dir.path().join("sparse");
        {
            use std::io::{Seek, SeekFrom};
            let mut file = std::fs::File::create(&sparse).unwrap();
            file.seek(SeekFrom::Start(1 << 20)).unwrap();
            file.write_all(b"end").unwrap();
        }
        std::fs::set_permissions(&engine, std::fs::Permissions::from_mode(0o750)).unwrap();
        // A link to it, as `target/debug/query-engine` may be: the file is copied.
        let link = dir.path().join("engine-link");
        std::os::unix::fs::symlink(&engine, &link).unwrap();
        let files = [
            (
                "/replay/files/QUERY_ENGINE/engine-link".to_string(),
                link.clone(),
            ),
            ("/replay/files/SPARSE/sparse".to_string(), sparse.clone()),
        ];
        let parts = Parts {
            dockerfile: "FROM x\n",
            checkout: &checkout,
            workdir: Path::new(""),
            helpers: &[],
            inputs: &[],
            wheels: None,
            files: &files,
        };
        let one = write(&parts, &dir.path().join("one.tar")).unwrap();
        let mut archive = tar::Archive::new(std::fs::File::open(&one.tar).unwrap());
        let mut kinds = Vec::new();
        let mut entries: Vec<(String, u32, Vec<u8>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mode = e.header().mode().unwrap();
                kinds.push(e.header().entry_type());
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
                (name, mode, bytes)
            })
            .filter(|(name, _, _)| name.starts_with("files"))
            .collect();
        assert!(kinds.iter().all(|k| k.is_file() || k.is_dir()), "{kinds:?}");
        let (_, _, sparse_bytes) = entries.pop().unwrap();
        assert_eq!(sparse_bytes.len(), (1 << 20) + 3);
        assert!(sparse_bytes.ends_with(b"end"));
        entries.pop(); // files/SPARSE/
        assert_eq!(
            entries,
            [
                ("files/".to_string(), 0o755, vec![]),
                ("files/QUERY_ENGINE/".to_string(), 0o755, vec![]),
                (
                    "files/QUERY_ENGINE/engine-link".to_string(),
                    0o755,
                    b"engine v1".to_vec()
                ),
            ]
        );
        std::fs::write(&engine, "engine v2").unwrap();
        let two = write(&parts, &dir.path().join("two.tar")).unwrap();
        assert_ne!(one.hash, two.hash, "another engine is another image");
        let dockerfile = dockerfile(&Recipe {
            base: "b",
            workdir: Path::new(""),
            inputs: &[],
            has_wheels: false,
            has_files: true,
            env: &[],
            args: &["QUERY_ENGINE"],
            run: &[vec!["true".into()]],
        });
        assert!(
            dockerfile
                .starts_with("FROM b\nCOPY target/ /replay/target/\nCOPY files/ /replay/files/\n"),
            "{dockerfile}"
        );
    }
}
