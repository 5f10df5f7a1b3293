//! `replay coverage`: which endpoints of an OpenAPI document no scenario
//! covers, and which actor × target cells of each scenario are left unpinned.
//!
//! An endpoint is covered when a scenario's request has its method and a path
//! that matches its template (`/key/{key}/regenerate` is covered by a request
//! to `/key/{{target_key}}/regenerate`) and that scenario pins at least one
//! cell with a status: a scenario whose cells are all `"?"` or `"-"` runs
//! nothing that could go RED, so it covers nothing yet.

use serde::{Deserialize, Serialize};

use super::info::{FORMAT_VERSION, SuiteInfo};
use super::listing::relative;
use crate::suite::Suite;
use crate::suite::scaffold::Operation;

/// The output of `replay coverage --format json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub format_version: u32,
    pub kind: String,
    pub suite: SuiteInfo,
    /// The OpenAPI document, as given; absent without `--openapi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openapi: Option<String>,
    pub summary: CoverageSummary,
    /// Every operation of the document, in its order, with the scenarios that cover it.
    pub endpoints: Vec<EndpointCoverage>,
    /// The endpoints no scenario covers, `METHOD /path`.
    pub uncovered: Vec<String>,
    /// Scenarios whose request is no operation of the document (with `--openapi`).
    pub outside: Vec<OutsideScenario>,
    /// Per scenario with a cell not pinned: its `"-"` and `"?"` cells, and the
    /// actors of the world its grid has no row for.
    pub scenarios: Vec<ScenarioCoverage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageSummary {
    /// Operations in the document (0 without `--openapi`).
    pub endpoints: usize,
    pub covered: usize,
    /// covered / endpoints × 100, rounded down to one decimal (`--fail-under`
    /// compares with the exact ratio). Absent without `--openapi`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Cells pinned with a status.
    pub pinned: usize,
    /// Cells written `"-"`: not pinned, not run.
    pub unpinned: usize,
    /// Cells written `"?"`: run, reported NEW, not pinned yet.
    pub unknown: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointCoverage {
    pub method: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// The scenarios that cover it (empty: uncovered).
    pub scenarios: Vec<String>,
    /// Scenarios whose request matches but that pin no cell with a status yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_pinned_yet: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutsideScenario {
    pub scenario: String,
    pub method: String,
    pub path: String,
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioCoverage {
    pub scenario: String,
    pub file: String,
    /// Cells written `"-"`.
    pub unpinned: Vec<GridCell>,
    /// Cells written `"?"`.
    pub unknown: Vec<GridCell>,
    /// Actors of world.toml with no row in this scenario's `[pins]`.
    pub missing_actors: Vec<String>,
}

/// A cell of a grid: its actor and target, and the line of the actor's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridCell {
    pub actor: String,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl Coverage {
    /// The coverage of `suite`, against the operations of a document when given
    /// (`(as given, operations)`).
    pub fn of(suite: &Suite, openapi: Option<(&str, &[Operation])>) -> Self {
        let operations = openapi.map_or(&[][..], |(_, ops)| ops);
        let requests: Vec<(&str, &str, &str, bool)> = suite
            .scenarios
            .iter()
            .map(|s| {
                let pinned = s
                    .pins
                    .rows
                    .values()
                    .flatten()
                    .any(|p| p.as_ref().is_some_and(|p| !p.unknown));
                (
                    s.name.as_str(),
                    s.request.method.as_str(),
                    s.request.path.source(),
                    pinned,
                )
            })
            .collect();
        let mut endpoints = Vec::new();
        for op in operations {
            let mut covering = Vec::new();
            let mut not_yet = Vec::new();
            for (name, method, path, pinned) in &requests {
                if method.eq_ignore_ascii_case(&op.method) && path_matches(&op.path, path) {
                    if *pinned {
                        covering.push(name.to_string());
                    } else {
                        not_yet.push(name.to_string());
                    }
                }
            }
            endpoints.push(EndpointCoverage {
                method: op.method.clone(),
                path: op.path.clone(),
                operation_id: op.id.clone(),
                scenarios: covering,
                not_pinned_yet: not_yet,
            });
        }
        let outside = match openapi {
            None => Vec::new(),
            Some(_) => suite
                .scenarios
                .iter()
                .filter(|s| {
                    !operations.iter().any(|op| {
                        s.request.method.as_str().eq_ignore_ascii_case(&op.method)
                            && path_matches(&op.path, s.request.path.source())
                    })
                })
                .map(|s| OutsideScenario {
                    scenario: s.name.clone(),
                    method: s.request.method.as_str().to_string(),
                    path: s.request.path.source().to_string(),
                    file: relative(&s.file.path, &suite.dir),
                })
                .collect(),
        };
        let (mut pinned, mut unpinned, mut unknown) = (0, 0, 0);
        let mut scenarios = Vec::new();
        for s in &suite.scenarios {
            let line_of = |actor: &str| row_line(&s.file.text, actor);
            let mut entry = ScenarioCoverage {
                scenario: s.name.clone(),
                file: relative(&s.file.path, &suite.dir),
                unpinned: Vec::new(),
                unknown: Vec::new(),
                missing_actors: suite
                    .world
                    .actors
                    .keys()
                    .filter(|a| !s.pins.rows.contains_key(*a))
                    .cloned()
                    .collect(),
            };
            for (actor, row) in &s.pins.rows {
                for (target, pin) in s.pins.targets.iter().zip(row) {
                    let cell = || GridCell {
                        actor: actor.clone(),
                        target: target.clone(),
                        line: line_of(actor),
                    };
                    match pin {
                        None => {
                            unpinned += 1;
                            entry.unpinned.push(cell());
                        }
                        Some(p) if p.unknown => {
                            unknown += 1;
                            entry.unknown.push(cell());
                        }
                        Some(_) => pinned += 1,
                    }
                }
            }
            if !(entry.unpinned.is_empty()
                && entry.unknown.is_empty()
                && entry.missing_actors.is_empty())
            {
                scenarios.push(entry);
            }
        }
        let covered = endpoints.iter().filter(|e| !e.scenarios.is_empty()).count();
        Self {
            format_version: FORMAT_VERSION,
            kind: "coverage".into(),
            suite: SuiteInfo::of(suite),
            openapi: openapi.map(|(name, _)| name.to_string()),
            summary: CoverageSummary {
                endpoints: endpoints.len(),
                covered,
                percent: openapi.map(|_| percent_floor(covered, endpoints.len())),
                pinned,
                unpinned,
                unknown,
            },
            uncovered: endpoints
                .iter()
                .filter(|e| e.scenarios.is_empty())
                .map(|e| format!("{} {}", e.method, e.path))
                .collect(),
            endpoints,
            outside,
            scenarios,
        }
    }

    /// Whether the endpoints covered are fewer than `percent` of the document's
    /// (compared exactly: 6 of 7 is under 85.8 and not under 85.7).
    pub fn under(&self, percent: f64) -> bool {
        let s = &self.summary;
        (s.covered as f64) * 100.0 < percent * (s.endpoints as f64)
    }
}

/// covered / total in percent, rounded down to one decimal, so that the
/// figure shown is never above the one `--fail-under` compares with.
fn percent_floor(covered: usize, total: usize) -> f64 {
    if total == 0 {
        return 100.0;
    }
    ((covered * 1000) / total) as f64 / 10.0
}

/// The line of `actor`'s row under `[pins]` in a scenario file.
fn row_line(text: &str, actor: &str) -> Option<usize> {
    let mut in_pins = false;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_pins = trimmed == "[pins]";
            continue;
        }
        if in_pins
            && trimmed.contains('=')
            && trimmed
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                == actor
        {
            return Some(number + 1);
        }
    }
    None
}

/// Whether a scenario's request path (a template: `/key/{{target_key}}/regenerate`,
/// maybe with a `?query`) is an instance of an OpenAPI path template
/// (`/key/{key}/regenerate`). Segment by segment: a literal segment must match
/// the template's segment (whose `{name}` parts match any text); a segment with
/// a `{{placeholder}}` matches only a segment that has a parameter.
pub(crate) fn path_matches(template: &str, request: &str) -> bool {
    let request = request.split('?').next().unwrap_or(request);
    let split = |p: &str| -> Vec<String> {
        p.trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (template, request) = (split(template), split(request));
    template.len() == request.len()
        && template.iter().zip(&request).all(|(t, r)| {
            let parameter = t.contains('{');
            // A `{{placeholder}}` first: its braces are not a parameter's.
            if r.contains("{{") {
                parameter
            } else if parameter {
                segment_regex(t).is_match(r)
            } else {
                t == r
            }
        })
}

/// A template segment with `{name}` parts as a regular expression.
fn segment_regex(segment: &str) -> regex::Regex {
    let mut pattern = String::from("^");
    let mut rest = segment;
    while let Some(open) = rest.find('{') {
        pattern.push_str(&regex::escape(&rest[..open]));
        match rest[open..].find('}') {
            Some(close) => {
                pattern.push_str("[^/]+");
                rest = &rest[open + close + 1..];
            }
            None => {
                pattern.push_str(&regex::escape(&rest[open..]));
                rest = "";
            }
        }
    }
    pattern.push_str(&regex::escape(rest));
    pattern.push('$');
    regex::Regex::new(&pattern).expect("escaped text is a valid pattern")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_path_matches_the_template_it_is_an_instance_of() {
        assert!(path_matches(
            "/key/{key}/regenerate",
            "/key/{{target_key}}/regenerate"
        ));
        assert!(path_matches("/key/{key}", "/key/{{ target.key }}"));
        assert!(path_matches("/key/{key}", "/key/sk-1234"));
        assert!(path_matches("/key/info", "/key/info?key={{target.key}}"));
        assert!(path_matches("/key/info/", "/key/info"));
        assert!(path_matches("/files/{name}.json", "/files/a.json"));
        assert!(path_matches("/files/{name}.json", "/files/{{f}}.json"));
        // A placeholder could be anything, but a literal endpoint is not covered by it.
        assert!(!path_matches("/key/info", "/key/{{target.key}}"));
        assert!(!path_matches("/key/{key}", "/key/{{k}}/regenerate"));
        assert!(!path_matches("/key/{key}/regenerate", "/key/regenerate"));
        assert!(!path_matches("/files/{name}.json", "/files/a.yaml"));
        assert!(!path_matches("/key/list", "/key/info"));
    }

    fn litellm() -> Suite {
        crate::suite::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrices/litellm"),
        )
        .unwrap()
    }

    fn op(method: &str, path: &str) -> Operation {
        Operation {
            method: method.into(),
            path: path.into(),
            id: None,
        }
    }

    #[test]
    fn uncovered_endpoints_and_unpinned_cells_are_listed_with_lines() {
        let suite = litellm();
        let ops = [
            op("POST", "/key/generate"),
            op("POST", "/key/{key}/regenerate"),
            op("GET", "/key/{key}/regenerate"),
            op("POST", "/user/new"),
        ];
        let coverage = Coverage::of(&suite, Some(("openapi.json", &ops)));
        assert_eq!(
            coverage.uncovered,
            ["GET /key/{key}/regenerate", "POST /user/new"]
        );
        assert_eq!(coverage.endpoints[1].scenarios, ["key_regenerate_path"]);
        assert_eq!(
            (coverage.summary.covered, coverage.summary.endpoints),
            (2, 4)
        );
        assert_eq!(coverage.summary.percent, Some(50.0));
        assert!(coverage.under(50.1) && !coverage.under(50.0));
        assert!(
            coverage.outside.iter().any(|o| o.scenario == "key_info"),
            "{:?}",
            coverage.outside
        );
        let generate = coverage
            .scenarios
            .iter()
            .find(|s| s.scenario == "key_generate")
            .unwrap();
        assert_eq!(generate.file, "scenarios/key_generate.toml");
        let owner: Vec<&GridCell> = generate
            .unpinned
            .iter()
            .filter(|c| c.actor == "owner")
            .collect();
        assert_eq!(owner.len(), 2, "{owner:?}");
        let text = std::fs::read_to_string(suite.dir.join(&generate.file)).unwrap();
        let row = text.lines().nth(owner[0].line.unwrap() - 1).unwrap();
        assert!(row.starts_with("owner "), "{row}");
        let cells = suite.cells().len();
        assert_eq!(
            coverage.summary.pinned + coverage.summary.unknown,
            cells,
            "every cell the suite runs is pinned or \"?\""
        );
    }

    #[test]
    fn the_percentage_shown_never_exceeds_the_exact_ratio() {
        assert_eq!(percent_floor(6, 7), 85.7);
        assert_eq!(percent_floor(2, 3), 66.6);
        assert_eq!(percent_floor(7, 7), 100.0);
        assert_eq!(percent_floor(0, 7), 0.0);
    }
}
