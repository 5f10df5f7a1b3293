//! Which build of the tool this is (build.rs names it).

/// What `replay --version` says: the package version, the git description
/// of the source, and the start of the source's digest (two builds of a
/// dirty tree share a description, not a digest).
pub(crate) const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("REPLAY_GIT_DESCRIBE"),
    ", source ",
    env!("REPLAY_SOURCE_SHORT"),
    ")"
);

/// What names this build in the keys of what it computed itself (cell
/// results): the package version and the sha256 of the source it was built
/// from. A build whose code changed in any way has another identity, so it
/// never answers with an answer an earlier build gave; the same source
/// built again keeps its identity (and its cache). Fixed at build time: it
/// costs nothing per run.
pub(crate) const IDENTITY: &str = concat!(
    "replay ",
    env!("CARGO_PKG_VERSION"),
    " source ",
    env!("REPLAY_SOURCE_DIGEST")
);

/// [`IDENTITY`], and after it what `REPLAY_BUILD_SALT` holds when it is set:
/// the tests' stand-in for another build of the tool (one binary cannot be
/// two builds). A salt only ever adds to the identity, so it can split a
/// cache but never make one build answer with another's results. Not a
/// user's knob: it is in no documentation.
pub(crate) fn identity() -> &'static str {
    static IDENTITY_SALTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IDENTITY_SALTED.get_or_init(|| match std::env::var("REPLAY_BUILD_SALT") {
        Ok(salt) if !salt.is_empty() => format!("{IDENTITY} salt {salt}"),
        _ => IDENTITY.to_string(),
    })
}
