//! The bundled default, compiled into the binary so that `replay demo` works
//! from any folder: the LiteLLM suite and the twin.

/// (path relative to the repository root, contents)
pub(crate) const FILES: &[(&str, &str)] = &[
    (
        "matrices/litellm/suite.toml",
        include_str!("../../matrices/litellm/suite.toml"),
    ),
    (
        "matrices/litellm/world.toml",
        include_str!("../../matrices/litellm/world.toml"),
    ),
    (
        "matrices/litellm/mutants.toml",
        include_str!("../../matrices/litellm/mutants.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_delete.toml",
        include_str!("../../matrices/litellm/scenarios/key_delete.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_generate.toml",
        include_str!("../../matrices/litellm/scenarios/key_generate.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_info.toml",
        include_str!("../../matrices/litellm/scenarios/key_info.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_list.toml",
        include_str!("../../matrices/litellm/scenarios/key_list.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_regenerate.toml",
        include_str!("../../matrices/litellm/scenarios/key_regenerate.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_update.toml",
        include_str!("../../matrices/litellm/scenarios/key_update.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_delete_missing_key.toml",
        include_str!("../../matrices/litellm/scenarios/key_delete_missing_key.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_list_alias.toml",
        include_str!("../../matrices/litellm/scenarios/key_list_alias.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_list_team.toml",
        include_str!("../../matrices/litellm/scenarios/key_list_team.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_regenerate_path.toml",
        include_str!("../../matrices/litellm/scenarios/key_regenerate_path.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_update_budget_denied.toml",
        include_str!("../../matrices/litellm/scenarios/key_update_budget_denied.toml"),
    ),
    (
        "matrices/litellm/scenarios/key_update_missing_key.toml",
        include_str!("../../matrices/litellm/scenarios/key_update_missing_key.toml"),
    ),
    (
        "matrices/litellm/targets/twin.toml",
        include_str!("../../matrices/litellm/targets/twin.toml"),
    ),
    (
        "testdata/twin/CHANGELOG.md",
        include_str!("../../testdata/twin/CHANGELOG.md"),
    ),
    (
        "testdata/twin/README.md",
        include_str!("../../testdata/twin/README.md"),
    ),
    (
        "testdata/twin/auth.py",
        include_str!("../../testdata/twin/auth.py"),
    ),
    (
        "testdata/twin/errors.py",
        include_str!("../../testdata/twin/errors.py"),
    ),
    (
        "testdata/twin/keys.py",
        include_str!("../../testdata/twin/keys.py"),
    ),
    (
        "testdata/twin/migrate.py",
        include_str!("../../testdata/twin/migrate.py"),
    ),
    (
        "testdata/twin/request.py",
        include_str!("../../testdata/twin/request.py"),
    ),
    (
        "testdata/twin/requirements.txt",
        include_str!("../../testdata/twin/requirements.txt"),
    ),
    (
        "testdata/twin/schema.sql",
        include_str!("../../testdata/twin/schema.sql"),
    ),
    (
        "testdata/twin/server.py",
        include_str!("../../testdata/twin/server.py"),
    ),
    (
        "testdata/twin/teams.py",
        include_str!("../../testdata/twin/teams.py"),
    ),
    (
        "testdata/twin/users.py",
        include_str!("../../testdata/twin/users.py"),
    ),
];

/// Write the bundled files under `root`.
pub(crate) fn extract(root: &std::path::Path) -> std::io::Result<()> {
    for (path, text) in FILES {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every file of the twin and of the suite is bundled (adding one without
    /// bundling it would make the demo differ from the repository).
    #[test]
    fn every_file_is_bundled() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = Vec::new();
        for dir in ["matrices/litellm", "testdata/twin"] {
            collect(root, &root.join(dir), &mut on_disk);
        }
        on_disk.retain(|p| {
            !p.contains("__pycache__")
                && !p.contains("litellm.toml")
                && !p.contains("litellm_launcher")
        });
        on_disk.sort();
        let mut bundled: Vec<String> = super::FILES.iter().map(|(p, _)| p.to_string()).collect();
        bundled.sort();
        assert_eq!(bundled, on_disk);
    }

    fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
}
