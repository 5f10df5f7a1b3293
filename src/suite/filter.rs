//! Choosing cells: `--cell` ids or globs (`key_update/*/owner`), `--endpoint`,
//! `--actor`, `--target-shape`. Values of one flag add up (any of them);
//! different flags narrow (all of them). A value that selects no cell of the
//! suite, or flags that together select none, are errors naming them.

use super::model::{Cell, Suite};

/// Which cells a command runs or lists; empty selects every pinned cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellFilter {
    /// Cell ids or globs over them: `*` is any text within one part, `?` one character.
    pub cells: Vec<String>,
    /// `POST /key/update`, `/key/update` or a glob over either (`/key/*`).
    pub endpoints: Vec<String>,
    /// Actor names, or globs over them.
    pub actors: Vec<String>,
    /// Target shapes (the grid's columns: `self`, `owner`), or globs over them.
    pub target_shapes: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("`{text}` is not a cell id")]
    NotAnId { text: String },
    #[error("no pinned cell `{text}` in suite {suite}")]
    NoSuchCell {
        text: String,
        suite: String,
        hint: String,
    },
    #[error("{flag} {value} selects no cell of suite {suite}")]
    SelectsNothing {
        flag: &'static str,
        value: String,
        suite: String,
        hint: String,
    },
    #[error("{filters} together select no cell of suite {suite}")]
    TogetherNothing {
        filters: String,
        suite: String,
        hint: String,
    },
}

impl FilterError {
    pub fn hint(&self) -> String {
        match self {
            Self::NotAnId { .. } => {
                "cell ids are scenario/target/actor, e.g. key_update/self/owner; `*` and `?` are globs within a part".to_string()
            }
            Self::NoSuchCell { hint, .. }
            | Self::SelectsNothing { hint, .. }
            | Self::TogetherNothing { hint, .. } => hint.clone(),
        }
    }
}

/// `*` matches any run of characters (but `/` when `slash` is false), `?` any one.
pub fn glob(pattern: &str, text: &str, slash: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Backtracking over the last star: linear enough for names and ids.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' && (slash || t[ti] != '/') || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star
            && (slash || t[st] != '/')
        {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?'])
}

/// Whether an endpoint (`POST /key/update`) is the one `wanted` names: the
/// whole endpoint or its path, exactly or as a glob.
fn endpoint_matches(wanted: &str, endpoint: &str) -> bool {
    let path = endpoint.split_once(' ').map_or(endpoint, |(_, path)| path);
    [endpoint, path].iter().any(|e| {
        glob(wanted, e, true) || glob(&wanted.to_ascii_uppercase(), &e.to_ascii_uppercase(), true)
    })
}

impl CellFilter {
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
            && self.endpoints.is_empty()
            && self.actors.is_empty()
            && self.target_shapes.is_empty()
    }

    /// The flags given, as a user typed them: `--endpoint /key/info --actor owner`.
    pub fn describe(&self) -> String {
        let mut words = Vec::new();
        for (flag, values) in self.flags() {
            for value in values {
                words.push(format!("{flag} {value}"));
            }
        }
        words.join(" ")
    }

    fn flags(&self) -> [(&'static str, &Vec<String>); 4] {
        [
            ("--cell", &self.cells),
            ("--endpoint", &self.endpoints),
            ("--actor", &self.actors),
            ("--target-shape", &self.target_shapes),
        ]
    }

    fn matches(&self, flag: &str, value: &str, suite: &Suite, cell: &Cell) -> bool {
        match flag {
            "--cell" => glob(value, &cell.id.to_string(), false),
            "--endpoint" => suite
                .scenario(cell)
                .endpoint
                .as_deref()
                .is_some_and(|e| endpoint_matches(value, e)),
            "--actor" => glob(value, &cell.id.actor, false),
            _ => glob(value, &cell.id.target, false),
        }
    }

    /// The cells of `suite` this filter selects, in the suite's order.
    pub fn select(&self, suite: &Suite) -> Result<Vec<Cell>, FilterError> {
        let all = suite.cells();
        if self.is_empty() {
            return Ok(all);
        }
        // Every value must select something on its own: a typo is named.
        for (flag, values) in self.flags() {
            for value in values {
                if all.iter().any(|c| self.matches(flag, value, suite, c)) {
                    continue;
                }
                return Err(self.nothing(flag, value, suite, &all));
            }
        }
        let selected: Vec<Cell> = all
            .iter()
            .filter(|cell| {
                self.flags().iter().all(|(flag, values)| {
                    values.is_empty() || values.iter().any(|v| self.matches(flag, v, suite, cell))
                })
            })
            .cloned()
            .collect();
        if selected.is_empty() {
            return Err(FilterError::TogetherNothing {
                filters: self.describe(),
                suite: suite.name.clone(),
                hint: "each of them selects cells, but no cell is selected by all of them: drop one (`replay list` shows what each selects)".to_string(),
            });
        }
        Ok(selected)
    }

    fn nothing(&self, flag: &'static str, value: &str, suite: &Suite, all: &[Cell]) -> FilterError {
        let list = |names: Vec<String>| {
            let mut seen = Vec::new();
            for name in names {
                if !seen.contains(&name) {
                    seen.push(name);
                }
            }
            seen.join(", ")
        };
        match flag {
            "--cell" if !is_glob(value) => {
                let Some(id) = super::model::CellId::parse(value) else {
                    return FilterError::NotAnId { text: value.into() };
                };
                let close: Vec<String> = all
                    .iter()
                    .filter(|c| c.id.scenario == id.scenario)
                    .take(5)
                    .map(|c| c.id.to_string())
                    .collect();
                let hint = if close.is_empty() {
                    format!(
                        "the scenarios are {}",
                        suite.scenario_names().collect::<Vec<_>>().join(", ")
                    )
                } else {
                    format!("cells of {} include {}", id.scenario, close.join(", "))
                };
                FilterError::NoSuchCell {
                    text: value.into(),
                    suite: suite.name.clone(),
                    hint,
                }
            }
            _ => {
                let hint = match flag {
                    // `key_regenerate/*` has two parts: `*` stays within one.
                    "--cell" if value.split('/').count() < 3 => {
                        let mut padded = value.to_string();
                        while padded.split('/').count() < 3 {
                            padded.push_str("/*");
                        }
                        if all.iter().any(|c| self.matches(flag, &padded, suite, c)) {
                            format!(
                                "a cell id has three parts, scenario/target/actor, and `*` stays within one: did you mean `{padded}`?"
                            )
                        } else {
                            format!(
                                "a cell id is scenario/target/actor (`*` within a part); the scenarios are {}",
                                suite.scenario_names().collect::<Vec<_>>().join(", ")
                            )
                        }
                    }
                    "--cell" => format!(
                        "a cell id is scenario/target/actor (`*` within a part); the scenarios are {}",
                        suite.scenario_names().collect::<Vec<_>>().join(", ")
                    ),
                    "--endpoint" => format!(
                        "the endpoints are {}",
                        list(
                            suite
                                .scenarios
                                .iter()
                                .filter_map(|s| s.endpoint.clone())
                                .collect()
                        )
                    ),
                    "--actor" => format!(
                        "the actors with pinned cells are {}",
                        list(all.iter().map(|c| c.id.actor.clone()).collect())
                    ),
                    _ => format!(
                        "the target shapes are {}",
                        list(all.iter().map(|c| c.id.target.clone()).collect())
                    ),
                };
                FilterError::SelectsNothing {
                    flag,
                    value: value.into(),
                    suite: suite.name.clone(),
                    hint,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_stay_within_a_part_of_a_cell_id() {
        assert!(glob("key_update/*/owner", "key_update/self/owner", false));
        assert!(!glob(
            "key_update/*/owner",
            "key_update/self/x/owner",
            false
        ));
        assert!(glob("key_*/self/*", "key_info/self/proxy_admin", false));
        assert!(glob("a?c", "abc", false));
        assert!(!glob("a?c", "a/c", false));
        assert!(glob("*", "", false));
        assert!(!glob("key_update", "key_update/self/owner", false));
        assert!(glob("/key/*", "/key/a/b", true));
    }

    #[test]
    fn an_endpoint_is_named_whole_or_by_its_path() {
        assert!(endpoint_matches("POST /key/update", "POST /key/update"));
        assert!(endpoint_matches("post /key/update", "POST /key/update"));
        assert!(endpoint_matches("/key/update", "POST /key/update"));
        assert!(endpoint_matches("/key/*", "POST /key/update"));
        assert!(!endpoint_matches("/key/info", "POST /key/update"));
        assert!(!endpoint_matches("GET /key/update", "POST /key/update"));
    }

    fn litellm() -> Suite {
        crate::suite::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrices/litellm"),
        )
        .unwrap()
    }

    #[test]
    fn flags_narrow_and_values_add_up() {
        let suite = litellm();
        let ids = |filter: CellFilter| -> Vec<String> {
            filter
                .select(&suite)
                .unwrap()
                .iter()
                .map(|c| c.id.to_string())
                .collect()
        };
        let owner_updates = ids(CellFilter {
            cells: vec!["key_update/*/owner".into()],
            ..CellFilter::default()
        });
        assert!(!owner_updates.is_empty());
        assert!(
            owner_updates
                .iter()
                .all(|id| id.starts_with("key_update/") && id.ends_with("/owner"))
        );
        let both = ids(CellFilter {
            endpoints: vec!["/key/update".into(), "/key/info".into()],
            actors: vec!["owner".into()],
            ..CellFilter::default()
        });
        assert!(both.iter().any(|id| id.starts_with("key_info/")));
        assert!(both.iter().all(|id| id.ends_with("/owner")));
        assert_eq!(ids(CellFilter::default()).len(), suite.cells().len());
    }

    #[test]
    fn a_cell_glob_with_too_few_parts_suggests_the_padded_one() {
        let suite = litellm();
        let error = CellFilter {
            cells: vec!["key_regenerate/*".into()],
            ..CellFilter::default()
        }
        .select(&suite)
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "--cell key_regenerate/* selects no cell of suite litellm"
        );
        assert!(
            error.hint().contains("did you mean `key_regenerate/*/*`?"),
            "{}",
            error.hint()
        );
        // Padding that still selects nothing lists the scenarios instead.
        let error = CellFilter {
            cells: vec!["nope/*".into()],
            ..CellFilter::default()
        }
        .select(&suite)
        .unwrap_err();
        assert!(
            error.hint().contains("the scenarios are"),
            "{}",
            error.hint()
        );
    }

    #[test]
    fn a_filter_that_selects_nothing_is_named() {
        let suite = litellm();
        let error = CellFilter {
            actors: vec!["nobody".into()],
            ..CellFilter::default()
        }
        .select(&suite)
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "--actor nobody selects no cell of suite litellm"
        );
        assert!(error.hint().contains("proxy_admin"), "{}", error.hint());
        let error = CellFilter {
            cells: vec!["key_info/nope/owner".into()],
            ..CellFilter::default()
        }
        .select(&suite)
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "no pinned cell `key_info/nope/owner` in suite litellm"
        );
        let error = CellFilter {
            cells: vec!["nope".into()],
            ..CellFilter::default()
        }
        .select(&suite)
        .unwrap_err();
        assert_eq!(
            error,
            FilterError::NotAnId {
                text: "nope".into()
            }
        );
        // Each selects cells; together none.
        let error = CellFilter {
            cells: vec!["key_info/*/*".into()],
            endpoints: vec!["/key/update".into()],
            ..CellFilter::default()
        }
        .select(&suite)
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "--cell key_info/*/* --endpoint /key/update together select no cell of suite litellm"
        );
    }
}
