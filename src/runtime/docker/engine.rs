//! The connection to the Docker engine, and the labels every object carries.
//!
//! The engine is 20.10 on the project's machines (API 1.41): the client
//! negotiates the version down, and the requests stay within what 1.41 knows.

use std::collections::HashMap;

use bollard::Docker;

use crate::runtime::RuntimeError;

/// The label every object the tool makes carries.
pub(crate) const MANAGED_BY: &str = "managed-by";
pub(crate) const MANAGED_BY_VALUE: &str = "replay";
pub(crate) const RUN_LABEL: &str = "replay.run";
pub(crate) const PID_LABEL: &str = "replay.pid";
pub(crate) const STARTED_LABEL: &str = "replay.started";
/// Images shared by runs (base and revision images): their kind.
pub(crate) const CACHE_LABEL: &str = "replay.cache";

/// Where the client looks for the engine (`DOCKER_HOST`, else the local socket).
pub(crate) fn engine_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// Connect and negotiate the API version; an engine that does not answer is
/// an environment error that says how to start one.
pub(crate) async fn connect() -> Result<Docker, RuntimeError> {
    let unreachable = |reason: String| RuntimeError::EngineUnreachable {
        host: engine_host(),
        reason,
    };
    let docker = Docker::connect_with_defaults().map_err(|e| unreachable(e.to_string()))?;
    let docker = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        docker.negotiate_version().await
    })
    .await
    .map_err(|_| unreachable("no answer within 10s".into()))?
    .map_err(|e| unreachable(e.to_string()))?;
    docker
        .ping()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    // An image import or build streams for minutes on a busy machine (bollard's
    // default is 2 minutes); every wait of the tool has its own deadline.
    Ok(docker.with_timeout(std::time::Duration::from_secs(3600)))
}

/// A bollard error, with what the tool was doing.
pub(crate) fn docker_error(
    action: impl Into<String>,
) -> impl FnOnce(bollard::errors::Error) -> RuntimeError {
    let action = action.into();
    move |source| RuntimeError::Docker {
        action,
        source: Box::new(source),
    }
}

/// When this process started (clock ticks since boot, `/proc/self/stat` field
/// 22): with the pid it names the process even after the pid is reused.
pub(crate) fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    // `rest` starts at field 3 (state); the start time is field 22.
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Is the run that labelled an object still alive?
pub(crate) fn run_alive(labels: &HashMap<String, String>) -> bool {
    let Some(pid) = labels.get(PID_LABEL).and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    match (process_start(pid), labels.get(STARTED_LABEL)) {
        (Some(now), Some(then)) => &now == then,
        _ => false,
    }
}

/// The labels of the objects of one run.
pub(crate) fn run_labels(run_id: &str) -> HashMap<String, String> {
    let pid = std::process::id();
    HashMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (RUN_LABEL.to_string(), run_id.to_string()),
        (PID_LABEL.to_string(), pid.to_string()),
        (
            STARTED_LABEL.to_string(),
            process_start(pid).unwrap_or_default(),
        ),
    ])
}

/// A label filter for list calls: `key=value` pairs.
pub(crate) fn label_filter(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        pairs.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_by_its_labels_and_a_reused_pid_is_not() {
        let labels = run_labels("t");
        assert!(run_alive(&labels));
        let mut reused = labels.clone();
        reused.insert(STARTED_LABEL.into(), "1".into());
        assert!(!run_alive(&reused));
        let mut gone = labels;
        gone.insert(PID_LABEL.into(), "999999999".into());
        assert!(!run_alive(&gone));
    }
}
