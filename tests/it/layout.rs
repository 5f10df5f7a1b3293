//! The shape of `src/` stays what `src/lib.rs` and the README say: data flows
//! cli → jobs → engine → results → report, over revisions, runtime, suite,
//! spec and support. A module that imports against that flow fails here.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::repo_root;

/// Each folder of `src/` and its layer: a module may import only from its own
/// folder and from folders of a lower layer. Two folders of one layer never
/// import each other.
const LAYERS: &[(&str, u8)] = &[
    ("support", 0),
    ("spec", 1),
    ("suite", 2),
    ("revisions", 2),
    ("mutate", 2),
    ("runtime", 3),
    ("results", 3),
    ("engine", 4),
    ("report", 5),
    ("jobs", 6),
    ("cli", 7),
];

fn layer(folder: &str) -> Option<u8> {
    LAYERS.iter().find(|(f, _)| *f == folder).map(|(_, l)| *l)
}

/// Every `crate::<folder>` a file names, with its line number.
fn imports(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let name: String = rest[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push((number + 1, name));
            rest = &rest[at + 7..];
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// What imports what against the flow, as `file:line: a imports b` lines.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let Some(folder) = relative
            .components()
            .next()
            .filter(|_| relative.components().count() > 1)
        else {
            continue; // lib.rs and main.rs sit above the flow
        };
        let folder = folder.as_os_str().to_string_lossy().into_owned();
        let Some(own) = layer(&folder) else {
            out.push(format!(
                "src/{folder}/ has no layer: add it to LAYERS in tests/it/layout.rs, to src/lib.rs and to the README"
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, name) in imports(&text) {
            let Some(theirs) = layer(&name) else {
                continue; // a macro at the crate root, e.g. crate::exit_codes_help!
            };
            if name != folder && theirs >= own {
                out.push(format!(
                    "src/{}:{line}: {folder} imports {name}, against the flow",
                    relative.display()
                ));
            }
        }
    }
    out
}

#[test]
fn no_module_imports_against_the_flow() {
    let found = violations(&repo_root().join("src"));
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_check_finds_an_import_against_the_flow() {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in [
        ("lib.rs", "pub mod results;"),
        ("results/mod.rs", "use crate::suite::Cell;\n"),
        (
            "results/record.rs",
            "use crate::support::files;\nuse crate::jobs::Error;\n",
        ),
        ("report/mod.rs", "fn f() { crate::cli::out(\"x\"); }\n"),
        ("jobs/mod.rs", "use crate::jobs::check;\n"),
        ("widgets/mod.rs", "\n"),
    ] {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    assert_eq!(
        violations(dir.path()),
        [
            "src/report/mod.rs:1: report imports cli, against the flow",
            "src/results/record.rs:2: results imports jobs, against the flow",
            "src/widgets/ has no layer: add it to LAYERS in tests/it/layout.rs, to src/lib.rs and to the README",
        ]
    );
}

#[test]
fn every_folder_says_what_lives_there_and_the_docs_name_it() {
    let root = repo_root();
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut folders = BTreeMap::new();
    for entry in std::fs::read_dir(root.join("src")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            folders.insert(name, path);
        }
    }
    assert_eq!(folders.len(), LAYERS.len(), "{:?}", folders.keys());
    for (name, path) in &folders {
        let module = std::fs::read_to_string(path.join("mod.rs")).unwrap();
        let doc: Vec<&str> = module
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect();
        assert!(
            doc.len() >= 2,
            "src/{name}/mod.rs opens with what lives there and what it may import"
        );
        assert!(
            lib.contains(&format!("{name}/")),
            "src/lib.rs names {name}/"
        );
        assert!(
            readme.contains(&format!("`src/{name}/`")),
            "the README's layout section names `src/{name}/`"
        );
    }
}
