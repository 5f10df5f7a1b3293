//! Targets: how to build, migrate and boot one revision of a server.
//!
//! A target file lives in the suite's `targets/` folder. Its commands are
//! templates over a fixed set of placeholders, split into words like a shell
//! would split them, and run without a shell.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::spec::source::{Location, Problem, SourceFile, toml_problem};
use crate::spec::template::{RenderError, Template, Vars};

/// The placeholders target commands may use, and from which stage on.
const PLACEHOLDERS: &[(&str, Stage)] = &[
    ("checkout", Stage::Build),
    ("env", Stage::Build),
    ("target_dir", Stage::Build),
    ("master_key", Stage::Build),
    ("wheels", Stage::Build),
    ("database_url", Stage::Migrate),
    ("host", Stage::Boot),
    ("port", Stage::Boot),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Build,
    Migrate,
    Boot,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Build => "build",
            Stage::Migrate => "migrate",
            Stage::Boot => "boot",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("no target `{name}` in {}", dir.display())]
    NotFound {
        name: String,
        dir: PathBuf,
        available: Vec<String>,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the target {} has {} problem{}", path.display(), problems.len(), if problems.len() == 1 { "" } else { "s" })]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    #[error("the target `{name}` has no [local] recipe")]
    NoLocalRecipe { name: String },
    #[error("the target `{name}` has no [docker] recipe ({})", path.display())]
    NoDockerRecipe { name: String, path: PathBuf },
    /// A `host_files` variable that is unset, or names no file on this machine.
    #[error("{location}: {key} names `{variable}`, {}", match problem {
        HostFileProblem::Unset => "which is unset".to_string(),
        HostFileProblem::NotAFile(path) => format!("whose value {} is not a file", path.display()),
    })]
    HostFile {
        location: Location,
        key: String,
        variable: String,
        problem: HostFileProblem,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Spanned<String>,
    description: Option<String>,
    /// The folder of the checkout the commands run in (and `inputs` are read from).
    workdir: Option<Spanned<String>>,
    #[serde(default)]
    env: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    pass_env: Vec<Spanned<String>>,
    local: Option<RawLocal>,
    docker: Option<RawDocker>,
    ready: RawReady,
    /// `[[variant]]`s: other recipes for revisions whose files say so.
    #[serde(default)]
    variant: Vec<RawVariant>,
}

/// `[[variant]]`: what changes for the revisions that have (or lack) some
/// files; every stage it leaves out is the target's own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: Spanned<String>,
    #[serde(default)]
    exists: Vec<Spanned<String>>,
    #[serde(default)]
    absent: Vec<Spanned<String>>,
    workdir: Option<Spanned<String>>,
    #[serde(default)]
    env: IndexMap<String, Spanned<String>>,
    local: Option<RawVariantLocal>,
    docker: Option<RawVariantDocker>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariantLocal {
    build: Option<RawStage>,
    migrate: Option<RawStage>,
    boot: Option<RawBoot>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariantDocker {
    image: Option<RawImage>,
    build: Option<RawDockerBuild>,
    migrate: Option<RawStage>,
    boot: Option<RawDockerBoot>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocker {
    image: RawImage,
    build: RawDockerBuild,
    migrate: RawStage,
    boot: RawDockerBoot,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    suite: Option<String>,
    packages: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDockerBuild {
    #[serde(default)]
    inputs: Vec<Spanned<String>>,
    #[serde(default)]
    optional_inputs: Vec<Spanned<String>>,
    #[serde(default)]
    wheels: Vec<String>,
    /// `pass_env` variables whose values are paths of files on this machine:
    /// copied into the image, the variable set to the copy inside it.
    #[serde(default)]
    host_files: Vec<Spanned<String>>,
    /// The same, for variables that may be unset (then unset inside too).
    #[serde(default)]
    optional_host_files: Vec<Spanned<String>>,
    run: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDockerBoot {
    run: Spanned<String>,
    port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocal {
    build: RawStage,
    migrate: RawStage,
    boot: RawBoot,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    #[serde(default)]
    inputs: Vec<Spanned<String>>,
    #[serde(default)]
    optional_inputs: Vec<Spanned<String>>,
    run: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoot {
    run: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReady {
    http: Option<Spanned<String>>,
    sql: Option<String>,
    timeout: Option<Spanned<String>>,
}

/// A command line: one template per word.
#[derive(Debug, Clone)]
pub(crate) struct CommandLine {
    pub source: String,
    words: Vec<Template>,
}

impl CommandLine {
    /// The program, when it is written without placeholders (`python3`,
    /// `/usr/bin/node`); `None` for `{{env}}/bin/python`, which the build makes.
    pub(crate) fn program(&self) -> Option<&str> {
        self.words.first().and_then(Template::literal)
    }

    /// The program and its arguments, with placeholders filled in.
    pub(crate) fn render(&self, vars: &Vars) -> Result<Vec<String>, RenderError> {
        self.words.iter().map(|w| w.render(vars)).collect()
    }
}

/// One entry of a stage's `inputs` or `optional_inputs`: a path or a glob,
/// relative to the checkout's workdir.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    pub pattern: String,
    /// From `optional_inputs`: a revision may lack it.
    pub optional: bool,
    /// Where the target names it.
    pub location: Location,
}

#[derive(Debug, Clone)]
pub(crate) struct Recipe {
    /// Files (relative to the checkout) whose contents key this stage's cache.
    pub inputs: Vec<Input>,
    pub run: Vec<CommandLine>,
    /// The files beside the target that these commands name as
    /// `{{target_dir}}/NAME` (a launcher), names and contents: part of the key.
    pub helpers: Vec<u8>,
    /// The section the stage is written in: `local` or `docker`.
    pub section: &'static str,
}

impl Recipe {
    /// Where the stage's `inputs` are written: `local.build.inputs`,
    /// `docker.build.inputs`.
    pub(crate) fn inputs_key(&self, stage: Stage, optional: bool) -> String {
        Self::key_in(self.section, stage, optional)
    }

    fn key_in(section: &str, stage: Stage, optional: bool) -> String {
        format!(
            "{section}.{}.{}",
            stage.as_str(),
            if optional {
                "optional_inputs"
            } else {
                "inputs"
            }
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct LocalRecipe {
    pub build: Recipe,
    pub migrate: Recipe,
    pub boot: CommandLine,
}

/// The Docker runtime's recipe: a base image of Debian packages, then the same
/// stages as [`LocalRecipe`], run inside containers.
#[derive(Debug, Clone)]
pub(crate) struct DockerRecipe {
    pub image: ImageRecipe,
    pub build: Recipe,
    /// Requirement files whose wheels are downloaded on the host into the
    /// build context (`{{wheels}}`), for containers that reach no package index.
    pub wheels: Vec<String>,
    pub migrate: Recipe,
    pub boot: CommandLine,
    /// The port the server listens on inside its container (`{{port}}`).
    pub port: u16,
    /// Files of this machine that the image needs, each named by a
    /// `pass_env` variable (`host_files`, `optional_host_files`).
    pub host_files: Vec<HostFile>,
}

/// A `pass_env` variable whose value is the path of a file on this machine
/// (an engine binary, a CA bundle): the Docker runtime copies the file into
/// the image and sets the variable, inside, to the copy's path.
#[derive(Debug, Clone)]
pub(crate) struct HostFile {
    pub variable: String,
    /// Listed in `optional_host_files`: unset is allowed (and stays unset inside).
    pub optional: bool,
    pub location: Location,
}

impl HostFile {
    pub(crate) fn key(&self) -> &'static str {
        if self.optional {
            "docker.build.optional_host_files"
        } else {
            "docker.build.host_files"
        }
    }
}

/// Where a host file goes inside the image: its own folder per variable, so
/// two files of one name do not meet.
pub(crate) fn host_file_in_image(variable: &str, host_path: &Path) -> String {
    let name = host_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    format!("{HOST_FILES_DIR}/{variable}/{name}")
}

/// The folder of the host files inside an image.
pub(crate) const HOST_FILES_DIR: &str = "/replay/files";

/// What is wrong with a host file's variable when the Docker runtime is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFileProblem {
    Unset,
    NotAFile(PathBuf),
}

/// A base image: a minimal Debian root file system with these packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecipe {
    /// The Debian suite (default: bookworm).
    pub suite: String,
    pub packages: Vec<String>,
}

/// The Debian suite base images are made from when a target names none.
pub const DEFAULT_SUITE: &str = "bookworm";

#[derive(Debug, Clone)]
pub(crate) struct Ready {
    pub http: Option<String>,
    pub sql: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub description: Option<String>,
    pub path: PathBuf,
    /// sha256 over the target file and the helper files beside it.
    pub hash: String,
    pub(crate) dir: PathBuf,
    /// Relative to the checkout; empty for the checkout itself.
    pub(crate) workdir: PathBuf,
    /// The files beside the target that its commands name (`{{target_dir}}/NAME`).
    pub(crate) helpers: Vec<PathBuf>,
    pub(crate) env: IndexMap<String, Template>,
    /// The ambient variables the target declares it depends on (`pass_env`),
    /// with their values when the target was loaded (`None`: unset). They key
    /// the build cache and the target hash, so a build or a cached cell made
    /// with another value is never reused.
    pub(crate) pass_env: Vec<(String, Option<String>)>,
    /// The `pass_env` variables that name host files (`host_files` of any
    /// `[docker]` recipe): their files' sizes and times key the target too.
    pub(crate) host_file_vars: Vec<String>,
    pub(crate) local: Option<LocalRecipe>,
    pub(crate) docker: Option<DockerRecipe>,
    pub(crate) ready: Ready,
    /// The `[[variant]]`s, in file order: the first whose condition a
    /// revision meets is its recipe.
    pub(crate) variants: Vec<Variant>,
    /// The variant this target was resolved to for one revision
    /// ([`Target::for_revision`]); `None` for the target's own recipe.
    pub variant: Option<String>,
}

/// One `[[variant]]`: a condition on the revision's files and the recipe
/// (whole, the target's own stages filled in) for the revisions that meet it.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub name: String,
    /// Paths (relative to the checkout) that must all exist.
    pub exists: Vec<String>,
    /// Paths that must all be absent.
    pub absent: Vec<String>,
    workdir: Option<PathBuf>,
    env: IndexMap<String, Template>,
    local: Option<LocalRecipe>,
    docker: Option<DockerRecipe>,
}

impl Variant {
    /// Whether a revision whose files `exists` answers for meets the condition.
    pub(crate) fn matches(&self, exists: &dyn Fn(&str) -> bool) -> bool {
        self.exists.iter().all(|p| exists(p)) && !self.absent.iter().any(|p| exists(p))
    }

    /// The condition as people write it: `exists server/app.py, absent setup.py`.
    pub(crate) fn condition(&self) -> String {
        let mut parts = Vec::new();
        if !self.exists.is_empty() {
            parts.push(format!("exists {}", self.exists.join(", ")));
        }
        if !self.absent.is_empty() {
            parts.push(format!("absent {}", self.absent.join(", ")));
        }
        format!("`{}`: {}", self.name, parts.join("; "))
    }
}

/// The first variant a revision meets (first match wins), by its index.
pub(crate) fn select_variant(variants: &[Variant], exists: &dyn Fn(&str) -> bool) -> Option<usize> {
    variants.iter().position(|v| v.matches(exists))
}

/// A revision that meets no variant's condition, of a target with no recipe
/// of its own for the runtime.
#[derive(Debug, Clone)]
pub struct NoVariant {
    pub target: String,
    pub path: PathBuf,
    /// Each variant's condition, in file order.
    pub conditions: Vec<String>,
}

impl Target {
    /// The target `name` of a suite (`<suite>/targets/<name>.toml`), or a path to a target file.
    pub fn find(suite_dir: &Path, name: &str) -> Result<Self, TargetError> {
        let path = if name.ends_with(".toml") {
            PathBuf::from(name)
        } else {
            suite_dir.join("targets").join(format!("{name}.toml"))
        };
        if !path.is_file() {
            let dir = suite_dir.join("targets");
            return Err(TargetError::NotFound {
                name: name.into(),
                available: available(&dir),
                dir,
            });
        }
        Self::load(&path)
    }

    pub fn load(path: &Path) -> Result<Self, TargetError> {
        let file = SourceFile::read(path).map_err(|source| TargetError::Read {
            path: path.into(),
            source,
        })?;
        let invalid = |problems| TargetError::Invalid {
            path: path.into(),
            problems,
        };
        let raw: RawTarget =
            toml::from_str(&file.text).map_err(|e| invalid(vec![toml_problem(&file, &e)]))?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut problems = Vec::new();

        let mut env = IndexMap::new();
        for (key, value) in &raw.env {
            if let Some(template) = placeholders(&file, value, Stage::Boot, &mut problems) {
                env.insert(key.clone(), template);
            }
        }
        let mut pass_env: Vec<(String, Option<String>)> = Vec::new();
        for name in &raw.pass_env {
            let text = name.get_ref();
            let valid = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            let problem = if !valid {
                Some((
                    format!("pass_env: {text:?} is not an environment variable name"),
                    "names are letters, digits and _, e.g. \"PRISMA_QUERY_ENGINE_BINARY\"",
                ))
            } else if raw.env.contains_key(text) {
                Some((
                    format!("pass_env: `{text}` is also set in [env]"),
                    "a variable is either set by the target ([env]) or passed through from the caller (pass_env)",
                ))
            } else if pass_env.iter().any(|(n, _)| n == text) {
                Some((
                    format!("pass_env: `{text}` is listed twice"),
                    "list each variable once",
                ))
            } else {
                None
            };
            match problem {
                Some((message, hint)) => problems.push(Problem {
                    location: file.at(name.span()),
                    message,
                    hint: Some(hint.into()),
                }),
                None => pass_env.push((text.clone(), std::env::var(text).ok())),
            }
        }
        let stage = |raw: &RawStage, stage, section, problems: &mut Vec<Problem>| Recipe {
            inputs: inputs(&file, raw, stage, section, problems),
            section,
            run: raw
                .run
                .iter()
                .filter_map(|line| command(&file, line, stage, problems))
                .collect(),
            helpers: {
                let mut helpers = Vec::new();
                let sources: Vec<&str> = raw.run.iter().map(|r| r.get_ref().as_str()).collect();
                for helper in helper_files(&dir, &sources.join("\n")) {
                    helpers.extend(b"helper ");
                    helpers.extend(helper.file_name().unwrap_or_default().as_encoded_bytes());
                    helpers.extend(b"\n");
                    helpers.extend(std::fs::read(&helper).unwrap_or_default());
                    helpers.extend(b"\n");
                }
                helpers
            },
        };
        let boot_line = |line: &Spanned<String>, problems: &mut Vec<Problem>| {
            command(&file, line, Stage::Boot, problems).unwrap_or(CommandLine {
                source: String::new(),
                words: vec![],
            })
        };
        let local_recipe =
            |build: &RawStage, migrate: &RawStage, boot: &RawBoot, problems: &mut Vec<Problem>| {
                LocalRecipe {
                    build: stage(build, Stage::Build, "local", problems),
                    migrate: stage(migrate, Stage::Migrate, "local", problems),
                    boot: boot_line(&boot.run, problems),
                }
            };
        let image_recipe = |image: &RawImage, problems: &mut Vec<Problem>| {
            for package in &image.packages {
                let name = package.get_ref();
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.:".contains(c))
                {
                    problems.push(Problem {
                        location: file.at(package.span()),
                        message: format!("{name:?} is not a Debian package name"),
                        hint: Some("e.g. packages = [\"python3\", \"python3-venv\"]".into()),
                    });
                }
            }
            ImageRecipe {
                suite: image.suite.clone().unwrap_or_else(|| DEFAULT_SUITE.into()),
                packages: image.packages.iter().map(|p| p.get_ref().clone()).collect(),
            }
        };
        let docker_recipe =
            |image: ImageRecipe,
             build: &RawDockerBuild,
             migrate: &RawStage,
             boot: &RawDockerBoot,
             problems: &mut Vec<Problem>| DockerRecipe {
                image,
                build: stage(
                    &RawStage {
                        inputs: build.inputs.clone(),
                        optional_inputs: build.optional_inputs.clone(),
                        run: build.run.clone(),
                    },
                    Stage::Build,
                    "docker",
                    problems,
                ),
                wheels: build.wheels.clone(),
                migrate: stage(migrate, Stage::Migrate, "docker", problems),
                boot: boot_line(&boot.run, problems),
                port: boot.port,
                host_files: host_files(&file, build, &raw.pass_env, problems),
            };
        let local = raw
            .local
            .as_ref()
            .map(|local| local_recipe(&local.build, &local.migrate, &local.boot, &mut problems));
        let docker = raw.docker.as_ref().map(|docker| {
            let image = image_recipe(&docker.image, &mut problems);
            docker_recipe(
                image,
                &docker.build,
                &docker.migrate,
                &docker.boot,
                &mut problems,
            )
        });
        let mut variants: Vec<Variant> = Vec::new();
        for variant in &raw.variant {
            let name = variant.name.get_ref();
            let at = file.at(variant.name.span());
            let problem = |problems: &mut Vec<Problem>, message: String, hint: &str| {
                problems.push(Problem {
                    location: at.clone(),
                    message,
                    hint: Some(hint.into()),
                })
            };
            if variants.iter().any(|v| &v.name == name) {
                problem(
                    &mut problems,
                    format!("two variants are named `{name}`"),
                    "give each [[variant]] a name of its own",
                );
            }
            if variant.exists.is_empty() && variant.absent.is_empty() {
                problem(
                    &mut problems,
                    format!("variant `{name}` has no condition"),
                    "name the files that tell its revisions apart: exists = [\"backend/pyproject.toml\"] (all must exist) or absent = [\"setup.py\"] (all must be missing)",
                );
            }
            for path in variant.exists.iter().chain(&variant.absent) {
                let text = path.get_ref();
                if text.is_empty() || !inside_checkout(Path::new(text)) {
                    problems.push(Problem {
                        location: file.at(path.span()),
                        message: format!(
                            "variant `{name}`: {text:?} is not a path inside the checkout"
                        ),
                        hint: Some(
                            "write a path relative to the checkout's root, without `..`".into(),
                        ),
                    });
                }
            }
            let workdir = variant
                .workdir
                .as_ref()
                .and_then(|dir| workdir_of(&file, dir, &mut problems));
            let mut env = IndexMap::new();
            for (key, value) in &variant.env {
                if let Some(template) = placeholders(&file, value, Stage::Boot, &mut problems) {
                    env.insert(key.clone(), template);
                }
            }
            let own_local = raw.local.as_ref();
            let local = match &variant.local {
                None => None,
                Some(v) => {
                    let build = v.build.as_ref().or(own_local.map(|l| &l.build));
                    let migrate = v.migrate.as_ref().or(own_local.map(|l| &l.migrate));
                    let boot = v.boot.as_ref().or(own_local.map(|l| &l.boot));
                    match (build, migrate, boot) {
                        (Some(build), Some(migrate), Some(boot)) => {
                            Some(local_recipe(build, migrate, boot, &mut problems))
                        }
                        _ => {
                            problem(
                                &mut problems,
                                format!(
                                    "variant `{name}` has [variant.local] without all of build, migrate and boot, and the target has no [local] to take the others from"
                                ),
                                "give the variant [variant.local.build], [variant.local.migrate] and [variant.local.boot], or the target a [local] recipe of its own",
                            );
                            None
                        }
                    }
                }
            };
            let own_docker = raw.docker.as_ref();
            let docker = match &variant.docker {
                None => None,
                Some(v) => {
                    let image = v.image.as_ref().or(own_docker.map(|d| &d.image));
                    let build = v.build.as_ref().or(own_docker.map(|d| &d.build));
                    let migrate = v.migrate.as_ref().or(own_docker.map(|d| &d.migrate));
                    let boot = v.boot.as_ref().or(own_docker.map(|d| &d.boot));
                    match (image, build, migrate, boot) {
                        (Some(image), Some(build), Some(migrate), Some(boot)) => {
                            let image = image_recipe(image, &mut problems);
                            Some(docker_recipe(image, build, migrate, boot, &mut problems))
                        }
                        _ => {
                            problem(
                                &mut problems,
                                format!(
                                    "variant `{name}` has [variant.docker] without all of image, build, migrate and boot, and the target has no [docker] to take the others from"
                                ),
                                "give the variant the missing [variant.docker.*] tables, or the target a [docker] recipe of its own",
                            );
                            None
                        }
                    }
                }
            };
            variants.push(Variant {
                name: name.clone(),
                exists: variant.exists.iter().map(|p| p.get_ref().clone()).collect(),
                absent: variant.absent.iter().map(|p| p.get_ref().clone()).collect(),
                workdir,
                env,
                local,
                docker,
            });
        }
        let timeout = match &raw.ready.timeout {
            None => Duration::from_secs(60),
            Some(text) => match parse_duration(text.get_ref()) {
                Some(timeout) if timeout.is_zero() => {
                    // A zero deadline fails every boot before the server can answer.
                    problems.push(Problem {
                        location: file.at(text.span()),
                        message: format!("`timeout = {:?}` waits for nothing", text.get_ref()),
                        hint: Some("give the server time to start, e.g. \"30s\"".into()),
                    });
                    Duration::from_secs(60)
                }
                Some(timeout) => timeout,
                None => {
                    problems.push(Problem {
                        location: file.at(text.span()),
                        message: format!("`timeout = {:?}` is not a duration", text.get_ref()),
                        hint: Some("write a number with s, m or ms, e.g. \"30s\"".into()),
                    });
                    Duration::from_secs(60)
                }
            },
        };
        if let Some(http) = &raw.ready.http
            && !http.get_ref().starts_with('/')
        {
            problems.push(Problem {
                location: file.at(http.span()),
                message: format!("ready.http {:?} is not a path", http.get_ref()),
                hint: Some("e.g. http = \"/health\"".into()),
            });
        }
        let workdir = raw
            .workdir
            .as_ref()
            .and_then(|dir| workdir_of(&file, dir, &mut problems))
            .unwrap_or_default();
        if !problems.is_empty() {
            return Err(invalid(problems));
        }

        let mut hasher = Sha256::new();
        hasher.update(file.text.as_bytes());
        let helpers = helper_files(&dir, &file.text);
        for helper in &helpers {
            hasher.update(helper.file_name().unwrap_or_default().as_encoded_bytes());
            hasher.update(std::fs::read(helper).unwrap_or_default());
        }
        // The variables that name host files, in any [docker] recipe: their
        // files' sizes and times key builds and cells (the contents key the
        // image, whose context holds them).
        let mut host_file_vars: Vec<String> = Vec::new();
        for recipe in docker
            .iter()
            .chain(variants.iter().filter_map(|v| v.docker.as_ref()))
        {
            for file in &recipe.host_files {
                if !host_file_vars.contains(&file.variable) {
                    host_file_vars.push(file.variable.clone());
                }
            }
        }
        hasher.update(ambient_key(&pass_env, &host_file_vars));
        Ok(Self {
            name: raw.name.into_inner(),
            description: raw.description,
            path: path.to_path_buf(),
            hash: hex::encode(hasher.finalize()),
            dir,
            workdir,
            helpers,
            env,
            pass_env,
            host_file_vars,
            local,
            docker,
            ready: Ready {
                http: raw.ready.http.map(Spanned::into_inner),
                sql: raw.ready.sql,
                timeout,
            },
            variants,
            variant: None,
        })
    }

    /// Where the commands run in a checkout: its `workdir`, or the checkout.
    pub(crate) fn workdir(&self, checkout: &Path) -> PathBuf {
        checkout.join(&self.workdir)
    }

    /// What the ambient variables of `pass_env` add to a cache key.
    pub(crate) fn ambient_key(&self) -> Vec<u8> {
        ambient_key(&self.pass_env, &self.host_file_vars)
    }

    /// What the chosen variant adds to a cache key (build, stage, image):
    /// empty for the target's own recipe, so targets without variants keep
    /// their keys.
    pub(crate) fn variant_key(&self) -> Vec<u8> {
        match &self.variant {
            Some(name) => format!("variant {name}\n").into_bytes(),
            None => Vec::new(),
        }
    }

    /// Whether some recipe (the target's own or a variant's) runs on this
    /// runtime: `docker` for `[docker]`, else `[local]`.
    pub(crate) fn has_recipe(&self, docker: bool) -> bool {
        let own = |local: &Option<LocalRecipe>, d: &Option<DockerRecipe>| {
            if docker { d.is_some() } else { local.is_some() }
        };
        own(&self.local, &self.docker) || self.variants.iter().any(|v| own(&v.local, &v.docker))
    }

    /// The target as it builds one revision: the first variant whose
    /// condition the revision's files meet (`exists` answers for a path
    /// relative to the checkout), else the target's own recipe; `docker` says
    /// which runtime's recipe must be there. A target without variants is
    /// itself.
    pub(crate) fn for_revision(
        &self,
        docker: bool,
        exists: &dyn Fn(&str) -> bool,
    ) -> Result<std::borrow::Cow<'_, Target>, NoVariant> {
        if self.variants.is_empty() {
            return Ok(std::borrow::Cow::Borrowed(self));
        }
        let Some(index) = select_variant(&self.variants, exists) else {
            let own = if docker {
                self.docker.is_some()
            } else {
                self.local.is_some()
            };
            if own {
                return Ok(std::borrow::Cow::Borrowed(self));
            }
            return Err(NoVariant {
                target: self.name.clone(),
                path: self.path.clone(),
                conditions: self.variants.iter().map(Variant::condition).collect(),
            });
        };
        let chosen = &self.variants[index];
        let mut target = self.clone();
        target.variant = Some(chosen.name.clone());
        if let Some(workdir) = &chosen.workdir {
            target.workdir = workdir.clone();
        }
        for (key, value) in &chosen.env {
            target.env.insert(key.clone(), value.clone());
        }
        if chosen.local.is_some() {
            target.local = chosen.local.clone();
        }
        if chosen.docker.is_some() {
            target.docker = chosen.docker.clone();
        }
        target.variants = Vec::new();
        Ok(std::borrow::Cow::Owned(target))
    }

    /// The build commands of every `[local]` recipe (the target's own, then
    /// its variants'), whichever a revision gets.
    pub(crate) fn local_build_commands(&self) -> Vec<CommandLine> {
        let own = self.local.iter();
        let variants = self.variants.iter().filter_map(|v| v.local.as_ref());
        own.chain(variants)
            .flat_map(|local| local.build.run.iter().cloned())
            .collect()
    }

    pub(crate) fn local(&self) -> Result<&LocalRecipe, TargetError> {
        self.local
            .as_ref()
            .ok_or_else(|| TargetError::NoLocalRecipe {
                name: self.name.clone(),
            })
    }
}

/// `pass_env NAME=value` lines (`NAME unset` for an unset one); empty when the
/// target passes nothing, so targets without `pass_env` keep their keys. A
/// variable that names a host file (`host_files`) adds the file's size and
/// modification time, as `PATH` programs do to a build key: an engine rebuilt
/// at the same path is a new build.
fn ambient_key(pass_env: &[(String, Option<String>)], host_file_vars: &[String]) -> Vec<u8> {
    use std::os::unix::fs::MetadataExt;
    let mut key = Vec::new();
    for (name, value) in pass_env {
        match value {
            Some(value) => {
                key.extend(format!("pass_env {name}={value}").into_bytes());
                if host_file_vars.contains(name)
                    && let Ok(meta) = std::fs::metadata(value)
                {
                    key.extend(
                        format!(
                            " size={} mtime={}.{}",
                            meta.len(),
                            meta.mtime(),
                            meta.mtime_nsec()
                        )
                        .into_bytes(),
                    );
                }
                key.push(b'\n');
            }
            None => key.extend(format!("pass_env {name} unset\n").into_bytes()),
        }
    }
    key
}

impl Target {
    pub(crate) fn docker(&self) -> Result<&DockerRecipe, TargetError> {
        self.docker
            .as_ref()
            .ok_or_else(|| TargetError::NoDockerRecipe {
                name: self.name.clone(),
                path: self.path.clone(),
            })
    }

    /// The host files of every `[docker]` recipe of the target (its own and
    /// its variants'): each variable set to the path of a file on this
    /// machine, or unset where that is allowed. Checked before anything
    /// starts under `--runtime docker`.
    pub(crate) fn check_host_files(&self) -> Result<(), TargetError> {
        let recipes = self
            .docker
            .iter()
            .chain(self.variants.iter().filter_map(|v| v.docker.as_ref()));
        for recipe in recipes {
            for file in &recipe.host_files {
                let value = self
                    .pass_env
                    .iter()
                    .find(|(name, _)| *name == file.variable)
                    .and_then(|(_, value)| value.as_deref());
                let problem = match value {
                    None if file.optional => continue,
                    None => HostFileProblem::Unset,
                    Some(path) if Path::new(path).is_file() => continue,
                    Some(path) => HostFileProblem::NotAFile(PathBuf::from(path)),
                };
                return Err(TargetError::HostFile {
                    location: file.location.clone(),
                    key: file.key().to_string(),
                    variable: file.variable.clone(),
                    problem,
                });
            }
        }
        Ok(())
    }

    /// The host files of the recipe, with the values their variables take:
    /// (variable, path on this machine, path inside the image), those set.
    pub(crate) fn host_files(&self) -> Vec<(String, PathBuf, String)> {
        let Some(recipe) = self.docker.as_ref() else {
            return Vec::new();
        };
        recipe
            .host_files
            .iter()
            .filter_map(|file| {
                let (_, value) = self.pass_env.iter().find(|(n, _)| *n == file.variable)?;
                let host = PathBuf::from(value.as_deref()?);
                let inside = host_file_in_image(&file.variable, &host);
                Some((file.variable.clone(), host, inside))
            })
            .collect()
    }

    /// The values of the `pass_env` variables inside a container: a host
    /// file's variable names its copy in the image, the others are as here.
    pub(crate) fn pass_env_in_container(&self) -> Vec<(String, Option<String>)> {
        let files = self.host_files();
        self.pass_env
            .iter()
            .map(|(name, value)| {
                let inside = files
                    .iter()
                    .find(|(v, _, _)| v == name)
                    .map(|(_, _, i)| i.clone());
                (name.clone(), inside.or_else(|| value.clone()))
            })
            .collect()
    }

    /// The recipe of the base image the target's revisions are built on, if it has `[docker]`.
    pub fn docker_image(&self) -> Option<&ImageRecipe> {
        self.docker.as_ref().map(|d| &d.image)
    }
}

/// A relative path that stays inside the checkout (no `..`, not absolute).
fn inside_checkout(path: &Path) -> bool {
    path.components().all(|c| {
        matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    })
}

/// A `workdir`: a folder inside the checkout, or a problem.
fn workdir_of(
    file: &SourceFile,
    dir: &Spanned<String>,
    problems: &mut Vec<Problem>,
) -> Option<PathBuf> {
    let path = Path::new(dir.get_ref());
    if !inside_checkout(path) || dir.get_ref().is_empty() {
        problems.push(Problem {
            location: file.at(dir.span()),
            message: format!(
                "`workdir = {:?}` is not a folder inside the checkout",
                dir.get_ref()
            ),
            hint: Some("write a relative path without `..`, e.g. workdir = \"backend\"".into()),
        });
        return None;
    }
    Some(path.to_path_buf())
}

/// The target names in a targets folder.
fn available(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.path()
                        .file_stem()
                        .filter(|_| e.path().extension().is_some_and(|x| x == "toml"))
                        .map(|s| s.to_string_lossy().into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The files beside the target (launchers, scripts) that its text names as
/// `{{target_dir}}/NAME`: what the target runs, besides its own file.
fn helper_files(dir: &Path, text: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = text
        .split("{{target_dir}}/")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .next()
        })
        .map(|name| dir.join(name))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files.dedup();
    files
}

/// `[docker.build]`'s `host_files` and `optional_host_files`: variables of
/// `pass_env` (so that their values key the build), each named once.
fn host_files(
    file: &SourceFile,
    build: &RawDockerBuild,
    pass_env: &[Spanned<String>],
    problems: &mut Vec<Problem>,
) -> Vec<HostFile> {
    let mut found: Vec<HostFile> = Vec::new();
    let listed = build
        .host_files
        .iter()
        .map(|v| (v, false))
        .chain(build.optional_host_files.iter().map(|v| (v, true)));
    for (variable, optional) in listed {
        let text = variable.get_ref();
        let entry = HostFile {
            variable: text.clone(),
            optional,
            location: file.at(variable.span()),
        };
        let key = entry.key();
        let problem = if !pass_env.iter().any(|p| p.get_ref() == text) {
            Some((
                format!("{key}: `{text}` is not in pass_env"),
                format!(
                    "a host file is named by an ambient variable: add \"{text}\" to pass_env (whose values key the build)"
                ),
            ))
        } else if found.iter().any(|f| f.variable == *text) {
            Some((
                format!("{key}: `{text}` is listed twice"),
                "name each variable once, in host_files or in optional_host_files".to_string(),
            ))
        } else {
            None
        };
        match problem {
            Some((message, hint)) => problems.push(Problem {
                location: file.at(variable.span()),
                message,
                hint: Some(hint),
            }),
            None => found.push(entry),
        }
    }
    found
}

/// A stage's `inputs` and `optional_inputs`: relative paths or globs, inside
/// the checkout, each named once.
fn inputs(
    file: &SourceFile,
    raw: &RawStage,
    stage: Stage,
    section: &str,
    problems: &mut Vec<Problem>,
) -> Vec<Input> {
    let mut found: Vec<Input> = Vec::new();
    let listed = raw
        .inputs
        .iter()
        .map(|i| (i, false))
        .chain(raw.optional_inputs.iter().map(|i| (i, true)));
    for (input, optional) in listed {
        let key = Recipe::key_in(section, stage, optional);
        let text = input.get_ref();
        let inside = !text.is_empty()
            && Path::new(text).components().all(|c| {
                matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            });
        let problem = if !inside {
            Some((
                format!("{key}: {text:?} is not a path inside the checkout"),
                "write a path relative to the checkout (or workdir), without `..`, e.g. \"requirements.txt\" or \"migrations\"".to_string(),
            ))
        } else if let Err(e) = glob::Pattern::new(text) {
            Some((
                format!("{key}: {text:?} is not a valid glob: {}", e.msg),
                "globs take *, ? and [abc], e.g. \"migrations/*.sql\"".to_string(),
            ))
        } else if found.iter().any(|f| f.pattern == *text) {
            Some((
                format!("{key}: {text:?} is listed twice"),
                "name each input once, in `inputs` or in `optional_inputs`".to_string(),
            ))
        } else {
            None
        };
        match problem {
            Some((message, hint)) => problems.push(Problem {
                location: file.at(input.span()),
                message,
                hint: Some(hint),
            }),
            None => found.push(Input {
                pattern: text.clone(),
                optional,
                location: file.at(input.span()),
            }),
        }
    }
    found
}

fn placeholders(
    file: &SourceFile,
    text: &Spanned<String>,
    stage: Stage,
    problems: &mut Vec<Problem>,
) -> Option<Template> {
    let template = match Template::parse(text.get_ref()) {
        Ok(template) => template,
        Err(error) => {
            problems.push(Problem {
                location: file.at(text.span()),
                message: error.to_string(),
                hint: None,
            });
            return None;
        }
    };
    for var in template.vars() {
        match PLACEHOLDERS.iter().find(|(name, _)| *name == var) {
            None => problems.push(Problem {
                location: file.at(text.span()),
                message: format!("unknown placeholder `{{{{{var}}}}}`"),
                hint: Some(format!(
                    "placeholders are {}",
                    PLACEHOLDERS
                        .iter()
                        .map(|(n, _)| format!("{{{{{n}}}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }),
            Some((_, from)) if *from > stage => problems.push(Problem {
                location: file.at(text.span()),
                message: format!(
                    "`{{{{{var}}}}}` is not known in the {} stage",
                    stage.as_str()
                ),
                hint: Some(format!("it exists from the {} stage on", from.as_str())),
            }),
            Some(_) => {}
        }
    }
    Some(template)
}

fn command(
    file: &SourceFile,
    line: &Spanned<String>,
    stage: Stage,
    problems: &mut Vec<Problem>,
) -> Option<CommandLine> {
    let words = match shell_words::split(line.get_ref()) {
        Ok(words) if !words.is_empty() => words,
        _ => {
            problems.push(Problem {
                location: file.at(line.span()),
                message: format!("cannot split {:?} into words", line.get_ref()),
                hint: Some("check the quotes".into()),
            });
            return None;
        }
    };
    if let Some(word) = words
        .iter()
        .find(|w| ["|", "&&", "||", ";", ">", "<"].contains(&w.as_str()))
    {
        problems.push(Problem {
            location: file.at(line.span()),
            message: format!("`{word}` in {:?}: commands run without a shell", line.get_ref()),
            hint: Some("write one command per entry, or put the logic in a script beside the target and run it with {{target_dir}}/script".into()),
        });
        return None;
    }
    let words = words
        .iter()
        .map(|word| {
            placeholders(
                file,
                &Spanned::new(line.span(), word.clone()),
                stage,
                problems,
            )
        })
        .collect::<Option<Vec<_>>>()?;
    Some(CommandLine {
        source: line.get_ref().clone(),
        words,
    })
}

fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(number)),
        "s" | "" => Some(Duration::from_secs(number)),
        "m" => Some(Duration::from_secs(number * 60)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> Result<Target, TargetError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, text).unwrap();
        Target::load(&path)
    }

    fn messages(error: TargetError) -> Vec<String> {
        match error {
            TargetError::Invalid { problems, .. } => problems
                .into_iter()
                .map(|p| format!("{}: {}", p.location.line.unwrap_or(0), p.message))
                .collect(),
            other => vec![other.to_string()],
        }
    }

    const GOOD: &str = "name = \"t\"\n[env]\nDB = \"{{database_url}}\"\n[local.build]\ninputs = [\"req.txt\"]\nrun = [\"python3 -m venv {{env}}\"]\n[local.migrate]\nrun = [\"{{env}}/bin/python migrate.py\"]\n[local.boot]\nrun = \"{{env}}/bin/python server.py --port {{port}}\"\n[ready]\nhttp = \"/health\"\ntimeout = \"5s\"\n";

    #[test]
    fn the_repository_targets_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let twin = Target::find(&root.join("matrices/litellm"), "twin").unwrap();
        assert_eq!(twin.name, "twin");
        let inputs: Vec<&str> = twin
            .local()
            .unwrap()
            .build
            .inputs
            .iter()
            .map(|i| i.pattern.as_str())
            .collect();
        assert_eq!(inputs, ["requirements.txt"]);
        assert_eq!(twin.ready.http.as_deref(), Some("/health/liveliness"));
        let docker = twin.docker().unwrap();
        assert_eq!(
            docker.image.packages,
            ["python3", "python3-venv", "python3-psycopg2"]
        );
        assert_eq!(docker.image.suite, "bookworm");
        assert_eq!(docker.wheels, ["requirements.txt"]);
        assert_eq!(docker.port, 4000);
        for suite in ["litellm", "twin-login"] {
            let target = Target::find(&root.join("matrices").join(suite), "twin").unwrap();
            assert!(target.docker().is_ok(), "{suite}");
        }
        let litellm = Target::find(&root.join("matrices/litellm"), "litellm").unwrap();
        assert_eq!(litellm.helpers.len(), 1);
        assert!(
            litellm
                .docker()
                .unwrap()
                .boot
                .source
                .contains("litellm_launcher.py boot")
        );
    }

    #[test]
    fn a_docker_section_names_debian_packages_and_a_port() {
        let docker = "[docker.image]\npackages = [\"python3\", \"bad name\"]\n[docker.build]\nrun = [\"true\"]\n[docker.migrate]\nrun = [\"true\"]\n[docker.boot]\nrun = \"server\"\nport = 4000\n[ready]\n";
        let got = messages(target(&GOOD.replace("[ready]\n", docker)).unwrap_err());
        assert_eq!(got, ["12: \"bad name\" is not a Debian package name"]);
        let no_port = docker
            .replace("port = 4000\n", "")
            .replace("\"bad name\"", "\"git\"");
        let got = messages(target(&GOOD.replace("[ready]\n", &no_port)).unwrap_err());
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("missing field `port`"), "{got:?}");
        let t = target(GOOD).unwrap();
        assert!(matches!(
            t.docker(),
            Err(TargetError::NoDockerRecipe { .. })
        ));
    }

    #[test]
    fn commands_render_word_by_word() {
        let t = target(GOOD).unwrap();
        let mut vars = Vars::default();
        vars.set("env", "/cache/env one");
        vars.set("port", "5000");
        let boot = t.local().unwrap().boot.render(&vars).unwrap();
        assert_eq!(
            boot,
            ["/cache/env one/bin/python", "server.py", "--port", "5000"]
        );
        assert_eq!(t.ready.timeout, Duration::from_secs(5));
    }

    #[test]
    fn placeholders_are_checked_per_stage() {
        let got = messages(
            target(&GOOD.replace(
                "python3 -m venv {{env}}",
                "python3 -m venv {{port}} {{nope}}",
            ))
            .unwrap_err(),
        );
        assert_eq!(
            got,
            [
                "6: `{{port}}` is not known in the build stage",
                "6: unknown placeholder `{{nope}}`"
            ]
        );
    }

    #[test]
    fn shell_syntax_is_refused() {
        let got = messages(target(&GOOD.replace("python3 -m venv {{env}}", "a && b")).unwrap_err());
        assert_eq!(got, ["6: `&&` in \"a && b\": commands run without a shell"]);
    }

    #[test]
    fn unknown_keys_and_bad_timeouts() {
        let got = messages(target(&GOOD.replace("[ready]\n", "[ready]\nprobe = 1\n")).unwrap_err());
        assert_eq!(
            got,
            ["12: unknown field `probe`, expected one of `http`, `sql`, `timeout`"]
        );
        let got = messages(target(&GOOD.replace("\"5s\"", "\"soon\"")).unwrap_err());
        assert_eq!(got, ["13: `timeout = \"soon\"` is not a duration"]);
        let got = messages(target(&GOOD.replace("\"5s\"", "\"0s\"")).unwrap_err());
        assert_eq!(got, ["13: `timeout = \"0s\"` waits for nothing"]);
    }

    #[test]
    fn duplicate_keys_and_wrong_types_name_the_key() {
        let got =
            messages(target(&GOOD.replace("[ready]\n", "[ready]\nhttp = \"/x\"\n")).unwrap_err());
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("duplicate key `http`"), "{got:?}");
        let got = messages(target(&GOOD.replace("\"5s\"", "5")).unwrap_err());
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("13: `timeout`: "), "{got:?}");
    }

    #[test]
    fn inputs_are_paths_or_globs_inside_the_checkout_named_once() {
        let text = GOOD.replace(
            "inputs = [\"req.txt\"]",
            "inputs = [\"req.txt\", \"../up.txt\", \"m/[a.sql\"]\noptional_inputs = [\"req.txt\", \"poetry.lock\", \"migrations/*.sql\"]",
        );
        let messages = messages(target(&text).unwrap_err());
        assert_eq!(
            messages,
            [
                "5: local.build.inputs: \"../up.txt\" is not a path inside the checkout",
                "5: local.build.inputs: \"m/[a.sql\" is not a valid glob: invalid range pattern",
                "6: local.build.optional_inputs: \"req.txt\" is listed twice",
            ]
        );
        let good = GOOD.replace(
            "inputs = [\"req.txt\"]",
            "inputs = [\"req.txt\"]\noptional_inputs = [\"poetry.lock\", \"migrations/*.sql\"]",
        );
        let target = target(&good).unwrap();
        let inputs: Vec<(&str, bool)> = target
            .local()
            .unwrap()
            .build
            .inputs
            .iter()
            .map(|i| (i.pattern.as_str(), i.optional))
            .collect();
        assert_eq!(
            inputs,
            [
                ("req.txt", false),
                ("poetry.lock", true),
                ("migrations/*.sql", true)
            ]
        );
    }

    #[test]
    fn a_docker_stage_input_error_names_the_docker_key() {
        let docker = "[docker.image]\npackages = [\"python3\"]\n[docker.build]\ninputs = [\"../up.txt\"]\nrun = [\"true\"]\n[docker.migrate]\noptional_inputs = [\"m/[a.sql\"]\nrun = [\"true\"]\n[docker.boot]\nrun = \"server\"\nport = 4000\n[ready]\n";
        let got = messages(target(&GOOD.replace("[ready]\n", docker)).unwrap_err());
        assert_eq!(
            got,
            [
                "14: docker.build.inputs: \"../up.txt\" is not a path inside the checkout",
                "17: docker.migrate.optional_inputs: \"m/[a.sql\" is not a valid glob: invalid range pattern",
            ]
        );
    }

    #[test]
    fn the_build_names_the_helpers_its_commands_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            GOOD.replace(
                "python3 -m venv {{env}}",
                "python3 {{target_dir}}/launcher.py",
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("launcher.py"), "one").unwrap();
        let one = Target::load(&path)
            .unwrap()
            .local()
            .unwrap()
            .build
            .helpers
            .clone();
        assert!(!one.is_empty());
        std::fs::write(dir.path().join("launcher.py"), "two").unwrap();
        let two = Target::load(&path)
            .unwrap()
            .local()
            .unwrap()
            .build
            .helpers
            .clone();
        assert_ne!(one, two);
    }

    #[test]
    fn the_hash_covers_the_helpers_a_target_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            GOOD.replace("migrate.py", "{{target_dir}}/helper.py"),
        )
        .unwrap();
        std::fs::write(dir.path().join("helper.py"), "one").unwrap();
        std::fs::write(dir.path().join("other.py"), "one").unwrap();
        let first = Target::load(&path).unwrap().hash;
        std::fs::write(dir.path().join("other.py"), "two").unwrap();
        assert_eq!(Target::load(&path).unwrap().hash, first);
        std::fs::write(dir.path().join("helper.py"), "two").unwrap();
        assert_ne!(Target::load(&path).unwrap().hash, first);
    }

    #[test]
    fn the_litellm_target_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let litellm = Target::find(&root.join("matrices/litellm"), "litellm").unwrap();
        assert_eq!(
            litellm.ready.sql.as_deref(),
            Some(
                "SELECT 1 FROM pg_catalog.pg_views WHERE viewname = 'LiteLLM_VerificationTokenView'"
            )
        );
        assert!(
            litellm
                .local()
                .unwrap()
                .boot
                .source
                .contains("litellm_launcher.py boot")
        );
    }

    #[test]
    fn pass_env_names_are_checked_and_their_values_key_the_target() {
        let got = messages(
            target(&GOOD.replace(
                "[env]\n",
                "pass_env = [\"A-B\", \"DB\", \"PATH\", \"PATH\"]\n[env]\n",
            ))
            .unwrap_err(),
        );
        assert_eq!(
            got,
            [
                "2: pass_env: \"A-B\" is not an environment variable name",
                "2: pass_env: `DB` is also set in [env]",
                "2: pass_env: `PATH` is listed twice"
            ]
        );
        // A variable nobody sets, so the test needs no change to the process environment.
        let unset = target(&GOOD.replace(
            "[env]\n",
            "pass_env = [\"REPLAY_TEST_NEVER_SET_4F2A\"]\n[env]\n",
        ))
        .unwrap();
        assert_eq!(
            unset.pass_env,
            [("REPLAY_TEST_NEVER_SET_4F2A".to_string(), None)]
        );
        assert_eq!(
            unset.ambient_key(),
            b"pass_env REPLAY_TEST_NEVER_SET_4F2A unset\n"
        );
        assert_ne!(unset.hash, target(GOOD).unwrap().hash);
        assert!(target(GOOD).unwrap().ambient_key().is_empty());
        assert_eq!(
            ambient_key(&[("X".into(), Some("prisma==0.15.0".into()))], &[]),
            b"pass_env X=prisma==0.15.0\n"
        );
    }

    #[test]
    fn host_files_are_pass_env_variables_named_once_and_checked_under_docker() {
        let docker = "[docker.image]\npackages = [\"python3\"]\n[docker.build]\nhost_files = [\"ENGINE\", \"NOT_PASSED\"]\noptional_host_files = [\"ENGINE\", \"CA\"]\nrun = [\"true\"]\n[docker.migrate]\nrun = [\"true\"]\n[docker.boot]\nrun = \"server\"\nport = 4000\n[ready]\n";
        let text = GOOD
            .replace("[env]\n", "pass_env = [\"ENGINE\", \"CA\"]\n[env]\n")
            .replace("[ready]\n", docker);
        assert_eq!(
            messages(target(&text).unwrap_err()),
            [
                "15: docker.build.host_files: `NOT_PASSED` is not in pass_env",
                "16: docker.build.optional_host_files: `ENGINE` is listed twice"
            ]
        );
        let text = text
            .replace(", \"NOT_PASSED\"]", "]")
            .replace("[\"ENGINE\", \"CA\"]\nrun", "[\"CA\"]\nrun");
        let mut t = target(&text).unwrap();
        assert_eq!(t.host_file_vars, ["ENGINE", "CA"]);
        // The values as if the caller had them (tests leave the process environment alone).
        let dir = tempfile::tempdir().unwrap();
        let engine = dir.path().join("query-engine");
        let set = |t: &mut Target, engine: Option<&Path>, ca: Option<&Path>| {
            t.pass_env = vec![
                (
                    "ENGINE".into(),
                    engine.map(|p| p.to_string_lossy().into_owned()),
                ),
                ("CA".into(), ca.map(|p| p.to_string_lossy().into_owned())),
            ];
        };
        let problem = |t: &Target| match t.check_host_files() {
            Err(TargetError::HostFile {
                location,
                key,
                variable,
                problem,
            }) => (location.line, key, variable, problem),
            other => panic!("{other:?}"),
        };
        set(&mut t, None, None);
        assert_eq!(
            problem(&t),
            (
                Some(15),
                "docker.build.host_files".into(),
                "ENGINE".into(),
                HostFileProblem::Unset
            )
        );
        let message = t.check_host_files().unwrap_err().to_string();
        assert!(
            message.ends_with("t.toml:15: docker.build.host_files names `ENGINE`, which is unset"),
            "{message}"
        );
        set(&mut t, Some(&engine), None);
        assert_eq!(problem(&t).3, HostFileProblem::NotAFile(engine.clone()));
        std::fs::write(&engine, "v1").unwrap();
        t.check_host_files().unwrap();
        assert_eq!(
            t.host_files(),
            [(
                "ENGINE".to_string(),
                engine.clone(),
                "/replay/files/ENGINE/query-engine".to_string()
            )]
        );
        assert_eq!(
            t.pass_env_in_container(),
            [
                (
                    "ENGINE".to_string(),
                    Some("/replay/files/ENGINE/query-engine".to_string())
                ),
                ("CA".to_string(), None)
            ]
        );
        // An optional one may be unset, not set to a file that is not there.
        set(&mut t, Some(&engine), Some(&dir.path().join("ca.pem")));
        assert_eq!(
            problem(&t),
            (
                Some(16),
                "docker.build.optional_host_files".into(),
                "CA".into(),
                HostFileProblem::NotAFile(dir.path().join("ca.pem"))
            )
        );
        set(&mut t, Some(&engine), Some(dir.path()));
        assert!(
            matches!(problem(&t).3, HostFileProblem::NotAFile(_)),
            "a folder is not a file"
        );
        // The file's size and time key builds and cells, beside the path.
        set(&mut t, Some(&engine), None);
        let before = t.ambient_key();
        assert!(
            String::from_utf8_lossy(&before).contains(" size=2 mtime="),
            "{before:?}"
        );
        std::fs::write(&engine, "v2, longer").unwrap();
        assert_ne!(t.ambient_key(), before);
    }

    #[test]
    fn the_litellm_target_passes_the_prisma_variables() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let litellm = Target::find(&root.join("matrices/litellm"), "litellm").unwrap();
        let names: Vec<&str> = litellm.pass_env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "PRISMA_QUERY_ENGINE_BINARY",
                "PRISMA_SCHEMA_ENGINE_BINARY",
                "REPLAY_LITELLM_PRISMA",
                "REPLAY_LITELLM_UV",
                "SSL_CERT_FILE",
                "PIP_CERT",
                "NODE_EXTRA_CA_CERTS"
            ]
        );
        // Under Docker the engines are copied into the image; the others when set.
        let docker = litellm.docker().unwrap();
        let files: Vec<(&str, bool)> = docker
            .host_files
            .iter()
            .map(|f| (f.variable.as_str(), f.optional))
            .collect();
        assert_eq!(
            files,
            [
                ("PRISMA_QUERY_ENGINE_BINARY", false),
                ("PRISMA_SCHEMA_ENGINE_BINARY", false),
                ("REPLAY_LITELLM_UV", true),
                ("SSL_CERT_FILE", true),
                ("PIP_CERT", true),
                ("NODE_EXTRA_CA_CERTS", true)
            ]
        );
    }

    #[test]
    fn a_missing_target_lists_the_others() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        match Target::find(&root.join("matrices/litellm"), "nope") {
            Err(TargetError::NotFound { available, .. }) => {
                assert!(available.contains(&"twin".to_string()))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_workdir_is_a_folder_inside_the_checkout() {
        let t = target(&GOOD.replace("[env]", "workdir = \"backend\"\n[env]")).unwrap();
        assert_eq!(t.workdir(Path::new("/c")), Path::new("/c/backend"));
        assert_eq!(
            target(GOOD).unwrap().workdir(Path::new("/c")),
            Path::new("/c")
        );
        for bad in ["../up", "/abs", ""] {
            let got = messages(
                target(&GOOD.replace("[env]", &format!("workdir = {bad:?}\n[env]"))).unwrap_err(),
            );
            assert!(
                got[0].contains("is not a folder inside the checkout"),
                "{bad}: {got:?}"
            );
        }
    }

    const VARIANTS: &str = "[[variant]]\nname = \"nested\"\nexists = [\"server/server.py\"]\nworkdir = \"server\"\n[variant.env]\nSETTINGS = \"nested\"\n[variant.local.build]\ninputs = [\"requirements-server.txt\"]\nrun = [\"python3 -m venv {{env}}\"]\n[[variant]]\nname = \"uv\"\nexists = [\"uv.lock\"]\nabsent = [\"server\"]\n[variant.local.boot]\nrun = \"uv run server.py\"\n";

    #[test]
    fn the_first_variant_a_revision_meets_wins_else_the_targets_own() {
        let t = target(&format!("{GOOD}{VARIANTS}")).unwrap();
        let names: Vec<&str> = t.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["nested", "uv"]);
        let files = |present: &'static [&'static str]| move |p: &str| present.contains(&p);
        // Both conditions met: the first in file order wins.
        let both = files(&["server/server.py", "uv.lock"]);
        assert_eq!(select_variant(&t.variants, &both), Some(0));
        let nested = t.for_revision(false, &both).unwrap();
        assert_eq!(nested.variant.as_deref(), Some("nested"));
        assert_eq!(nested.workdir(Path::new("/c")), Path::new("/c/server"));
        let local = nested.local().unwrap();
        assert_eq!(local.build.inputs[0].pattern, "requirements-server.txt");
        // The stages the variant leaves out are the target's own.
        assert!(local.boot.source.contains("server.py --port"));
        assert!(nested.env.contains_key("SETTINGS") && nested.env.contains_key("DB"));
        assert_eq!(nested.variant_key(), b"variant nested\n");
        // `absent`: a revision with uv.lock and a server/ folder is not `uv`.
        let uv_and_folder = files(&["uv.lock", "server"]);
        assert_eq!(select_variant(&t.variants, &uv_and_folder), None);
        let uv = t.for_revision(false, &files(&["uv.lock"])).unwrap();
        assert_eq!(uv.variant.as_deref(), Some("uv"));
        assert_eq!(uv.local().unwrap().boot.source, "uv run server.py");
        assert_eq!(uv.workdir(Path::new("/c")), Path::new("/c"));
        // No match: the target's own recipe, with no variant to name.
        let own = t.for_revision(false, &files(&[])).unwrap();
        assert_eq!(own.variant, None);
        assert!(own.variant_key().is_empty());
        assert_eq!(own.local().unwrap().build.inputs[0].pattern, "req.txt");
        // A target without variants is itself, whatever the files.
        let plain = target(GOOD).unwrap();
        assert!(matches!(
            plain.for_revision(false, &files(&["uv.lock"])).unwrap(),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_revision_no_variant_fits_fails_when_the_target_has_no_recipe_of_its_own() {
        let full = "[[variant]]\nname = \"flat\"\nexists = [\"server.py\"]\n[variant.local.build]\nrun = [\"true\"]\n[variant.local.migrate]\nrun = [\"true\"]\n[variant.local.boot]\nrun = \"server\"\n[[variant]]\nname = \"nested\"\nexists = [\"server/server.py\"]\nworkdir = \"server\"\n[variant.local.build]\nrun = [\"true\"]\n[variant.local.migrate]\nrun = [\"true\"]\n[variant.local.boot]\nrun = \"server\"\n";
        let t = target(&format!("name = \"t\"\n[ready]\n{full}")).unwrap();
        assert!(t.has_recipe(false));
        assert!(!t.has_recipe(true));
        let none = t.for_revision(false, &|_: &str| false).unwrap_err();
        assert_eq!(
            none.conditions,
            [
                "`flat`: exists server.py",
                "`nested`: exists server/server.py"
            ]
        );
        let flat = t.for_revision(false, &|p: &str| p == "server.py").unwrap();
        assert_eq!(flat.variant.as_deref(), Some("flat"));
    }

    #[test]
    fn variants_are_checked_when_the_target_loads() {
        let got = messages(
            target(
                "name = \"t\"\n[ready]\n[[variant]]\nname = \"a\"\n[variant.local.boot]\nrun = \"x\"\n[[variant]]\nname = \"a\"\nexists = [\"../up\"]\nworkdir = \"/abs\"\n"
            )
            .unwrap_err(),
        );
        assert_eq!(
            got,
            [
                "4: variant `a` has no condition",
                "4: variant `a` has [variant.local] without all of build, migrate and boot, and the target has no [local] to take the others from",
                "8: two variants are named `a`",
                "9: variant `a`: \"../up\" is not a path inside the checkout",
                "10: `workdir = \"/abs\"` is not a folder inside the checkout",
            ]
        );
        let got = messages(
            target(&format!(
                "{GOOD}[[variant]]\nname = \"a\"\nexists = [\"x\"]\nbuild = 1\n"
            ))
            .unwrap_err(),
        );
        assert!(got[0].contains("unknown field `build`"), "{got:?}");
    }
}
