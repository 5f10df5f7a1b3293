//! What a target's commands see of the environment: a small base, the
//! variables the target passes through (`pass_env`) and sets (`[env]`), and
//! the tool's own; nothing else of the caller's environment.
//!
//! A variable the server reads (a `DATABASE_*`, `PYTHONPATH`, a proxy) that
//! reached it from the caller unsaid would change outcomes that the cell
//! cache, the records and `replay fix` say nothing about: a later run with
//! another environment would be answered from cells measured under this one.
//! So every variable a command gets is either fixed here, keyed (`pass_env`
//! values key the build, the target hash and so the cells; `[env]` is text of
//! the target file), or one of the few below that say where things are on
//! this machine rather than what the server does.

use std::path::Path;

use indexmap::IndexMap;

use crate::spec::target::Target;
use crate::spec::template::Vars;

/// Taken from the tool's environment when set, and not keyed: where the
/// programs are (`PATH`: the programs the build runs from it key the build,
/// [`super::build_key`]), the home folder the tools keep their caches and
/// settings in (pip, uv, npm, prisma: `~/.cache`), who runs the commands
/// (`USER`, `LOGNAME`: the user the processes run as anyway) and which
/// certificates a download trusts (`SSL_CERT_FILE`, `SSL_CERT_DIR`: like the
/// system's own store, they decide whether a download succeeds, never what it
/// holds; a build that cannot verify fails, exit 4).
pub(crate) const PASSED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Set to the same value for every run on every machine and runtime, whatever
/// the caller's are, so they need no key: the locale (a server's messages,
/// sorting and encodings follow it; `LC_*` and `LC_ALL` are not passed) and the
/// time zone (a server that computes an expiry in local time). A target that
/// needs another sets it in `[env]`, or lists it in `pass_env` to take the
/// caller's (keyed then).
pub(crate) const FIXED: &[(&str, &str)] = &[("LANG", "C.UTF-8"), ("TZ", "UTC")];

/// The base of every command's environment on this machine: [`FIXED`], and
/// the [`PASSED`] variables the tool has. The run's Postgres starts from it too.
pub(crate) fn base() -> Vec<(String, String)> {
    base_from(|name| std::env::var(name).ok())
}

fn base_from(ambient: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = PASSED
        .iter()
        .filter_map(|name| Some((name.to_string(), ambient(name)?)))
        .collect();
    env.extend(FIXED.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// The whole environment of a local command (the runtime adds `REPLAY_RUN_ID`):
/// [`base`], then the `pass_env` variables as the caller has them (one the
/// caller has not set is unset here too, even a base one), then `[env]`, each
/// replacing what came before, then a `TMPDIR` inside the run's scratch folder (`tmp`) unless one
/// was given, so that the temp folders of an interrupted build go with the run.
pub(crate) fn local(target: &Target, vars: &Vars, tmp: &Path) -> Vec<(String, String)> {
    layered(
        base(),
        target,
        &target.pass_env,
        vars,
        Some(tmp.to_string_lossy().into_owned()),
    )
}

/// What a command container gets on top of its image's environment (the
/// image sets [`FIXED`]; the engine sets the container's own `PATH`, `HOME`,
/// `HOSTNAME`): the `pass_env` values (a host file's variable names its copy
/// in the image, `host_files`), then `[env]`. Nothing of the host's
/// environment reaches a container otherwise.
pub(crate) fn container(target: &Target, vars: &Vars) -> Vec<(String, String)> {
    layered(
        Vec::new(),
        target,
        &target.pass_env_in_container(),
        vars,
        None,
    )
}

/// The `ENV` lines of a revision's image: [`FIXED`] (but those the target
/// passes through: the build steps get the `pass_env` values as build
/// arguments, which an `ENV` of the same name would hide), then `[env]`.
pub(crate) fn image(target: &Target, vars: &Vars) -> Vec<(String, String)> {
    let mut env: IndexMap<String, String> = FIXED
        .iter()
        .filter(|(k, _)| !target.pass_env.iter().any(|(n, _)| n == k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.extend(declared(target, vars));
    env.into_iter().collect()
}

/// The target's `[env]`, leaving out what cannot be filled in yet.
pub(crate) fn declared(target: &Target, vars: &Vars) -> Vec<(String, String)> {
    target
        .env
        .iter()
        .filter_map(|(key, value)| Some((key.clone(), value.render(vars).ok()?)))
        .collect()
}

fn layered(
    base: Vec<(String, String)>,
    target: &Target,
    passed: &[(String, Option<String>)],
    vars: &Vars,
    tmp: Option<String>,
) -> Vec<(String, String)> {
    let mut env: IndexMap<String, String> = base.into_iter().collect();
    // The values the target was loaded with: those its keys were made from.
    for (name, value) in passed {
        match value {
            Some(value) => env.insert(name.clone(), value.clone()),
            None => env.shift_remove(name),
        };
    }
    env.extend(declared(target, vars));
    if let Some(tmp) = tmp
        && !target.env.contains_key("TMPDIR")
        && !target
            .pass_env
            .iter()
            .any(|(n, v)| n == "TMPDIR" && v.is_some())
    {
        env.insert("TMPDIR".into(), tmp);
    }
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dir: &Path, text: &str) -> Target {
        let path = dir.join("t.toml");
        std::fs::write(&path, text).unwrap();
        Target::load(&path).unwrap()
    }

    const RECIPE: &str = "[local.build]\nrun = [\"true\"]\n[local.migrate]\nrun = [\"true\"]\n\
                          [local.boot]\nrun = \"true\"\n[ready]\nhttp = \"/\"\n";

    #[test]
    fn the_base_passes_only_its_few_names_and_fixes_the_locale_and_the_time_zone() {
        let ambient = |name: &str| match name {
            "PATH" => Some("/bin".to_string()),
            "HOME" => Some("/home/me".to_string()),
            "LANG" => Some("de_DE.UTF-8".to_string()),
            "TZ" => Some("Europe/Berlin".to_string()),
            _ => Some(format!("{name}-value")),
        };
        let base = base_from(ambient);
        let names: Vec<&str> = base.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "PATH",
                "HOME",
                "USER",
                "LOGNAME",
                "SSL_CERT_FILE",
                "SSL_CERT_DIR",
                "LANG",
                "TZ"
            ]
        );
        assert!(
            base.contains(&("LANG".into(), "C.UTF-8".into())),
            "{base:?}"
        );
        assert!(base.contains(&("TZ".into(), "UTC".into())), "{base:?}");
        // Unset ones stay unset.
        let some = base_from(|name| (name == "PATH").then(|| "/bin".to_string()));
        assert_eq!(
            some.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["PATH", "LANG", "TZ"]
        );
    }

    #[test]
    fn pass_env_and_env_replace_the_base_and_tmpdir_comes_last() {
        let dir = tempfile::tempdir().unwrap();
        let plain = target(
            dir.path(),
            &format!("name = \"t\"\n[env]\nLANG = \"fr_FR.UTF-8\"\nA = \"1\"\n{RECIPE}"),
        );
        let env = layered(
            vec![("LANG".into(), "C.UTF-8".into())],
            &plain,
            &plain.pass_env,
            &Vars::default(),
            Some("/run/tmp".into()),
        );
        assert_eq!(
            env,
            [
                ("LANG".to_string(), "fr_FR.UTF-8".to_string()),
                ("A".into(), "1".into()),
                ("TMPDIR".into(), "/run/tmp".into()),
            ]
        );
        let own_tmp = target(
            dir.path(),
            &format!("name = \"t\"\n[env]\nTMPDIR = \"/mine\"\n{RECIPE}"),
        );
        let env = layered(
            vec![],
            &own_tmp,
            &own_tmp.pass_env,
            &Vars::default(),
            Some("/run/tmp".into()),
        );
        assert_eq!(env, [("TMPDIR".to_string(), "/mine".to_string())]);
        // A container gets no base and no TMPDIR from the host; its image fixes the locale.
        assert_eq!(
            container(&plain, &Vars::default()),
            [
                ("LANG".to_string(), "fr_FR.UTF-8".to_string()),
                ("A".into(), "1".into())
            ]
        );
        assert_eq!(
            image(&plain, &Vars::default()),
            [
                ("LANG".to_string(), "fr_FR.UTF-8".to_string()),
                ("TZ".into(), "UTC".into()),
                ("A".into(), "1".into())
            ]
        );
    }
}
