//! A check report as SARIF 2.1.0, for code scanning: one result per RED or
//! ERROR cell, at the line of its pin in its scenario file, with the rule of
//! its scenario and a message that says why it is not GREEN.

use serde_json::{Value, json};

use crate::results::CheckReport;
use crate::results::outcome::Verdict;

/// Where a cell is pinned: a path relative to the repository root, with `/`
/// separators, and the line of its pin row when known.
pub type Locate<'a> = &'a dyn Fn(&str) -> Option<(String, Option<usize>)>;

pub fn check(report: &CheckReport, locate: Locate<'_>) -> String {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_ids: Vec<String> = Vec::new();
    let mut results = Vec::new();
    for cell in &report.cells {
        let Some(verdict @ (Verdict::Red | Verdict::Error)) = cell.verdict else {
            continue;
        };
        let scenario = cell.id.split('/').next().unwrap_or(&cell.id).to_string();
        let index = match rule_ids.iter().position(|r| *r == scenario) {
            Some(index) => index,
            None => {
                let endpoint = crate::report::endpoint_of(&report.scenarios, &scenario);
                let what = endpoint.map_or(scenario.clone(), |e| format!("{e} ({scenario})"));
                rules.push(json!({
                    "id": scenario,
                    "name": scenario,
                    "shortDescription": { "text": format!("{what}: a cell differs from its pin") },
                    "fullDescription": { "text": format!(
                        "A cell of scenario {scenario} (actor × target) whose outcome differs from the pin in its [pins] grid, or that could not run. Fix the server, or review the change and run `replay check --accept`."
                    ) },
                    "defaultConfiguration": { "level": "error" },
                }));
                rule_ids.push(scenario.clone());
                rule_ids.len() - 1
            }
        };
        let mut message = match verdict {
            Verdict::Error => format!(
                "{} is ERROR: {}",
                cell.id,
                cell.outcome
                    .as_ref()
                    .and_then(|o| o.error.as_deref())
                    .unwrap_or("it could not run")
            ),
            _ => format!("{} is RED: {}", cell.id, cell.differences.join("; ")),
        };
        for line in cell.why() {
            message.push_str("; ");
            message.push_str(&line);
        }
        let mut result = json!({
            "ruleId": scenario,
            "ruleIndex": index,
            "level": "error",
            "message": { "text": message },
            "partialFingerprints": { "replayCell/v1": cell.id },
            "properties": { "cell": cell.id, "verdict": verdict.as_str() },
        });
        if let Some(curl) = cell.outcome.as_ref().and_then(|o| o.curl.as_ref()) {
            result["properties"]["curl"] = json!(curl);
        }
        if let Some((uri, line)) = locate(&cell.id) {
            let mut physical = json!({ "artifactLocation": { "uri": uri } });
            if let Some(line) = line {
                physical["region"] = json!({ "startLine": line });
            }
            result["locations"] = json!([{ "physicalLocation": physical }]);
        }
        results.push(result);
    }
    let revision = crate::revisions::revision::display_name(
        &report.revision.label,
        report.revision.tag.as_deref(),
    );
    let document = json!({
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "replay",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            } },
            "properties": {
                "suite": report.suite.name,
                "revision": revision,
                "summary": report.summary,
                "interrupted": report.interrupted,
            },
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&document).expect("JSON serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_red_cell_is_a_result_at_its_pin_with_its_scenario_as_rule() {
        let report: CheckReport = serde_json::from_str(
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/data/check-d8603a6.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let locate = |id: &str| {
            let scenario = id.split('/').next().unwrap();
            Some((
                format!("matrices/litellm/scenarios/{scenario}.toml"),
                Some(7),
            ))
        };
        let sarif: Value = serde_json::from_str(&check(&report, &locate)).unwrap();
        assert_eq!(sarif["version"], "2.1.0");
        let run = &sarif["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "replay");
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), report.summary.red + report.summary.error);
        let first = &results[0];
        assert_eq!(first["ruleId"], "key_info");
        let rule = &run["tool"]["driver"]["rules"][first["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], "key_info");
        let text = first["message"]["text"].as_str().unwrap();
        assert!(
            text.starts_with("key_info/owner_key/org_admin is RED: status 200 (pinned 403)"),
            "{text}"
        );
        let physical = &first["locations"][0]["physicalLocation"];
        assert_eq!(
            physical["artifactLocation"]["uri"],
            "matrices/litellm/scenarios/key_info.toml"
        );
        assert_eq!(physical["region"]["startLine"], 7);
        let rules: Vec<&str> = run["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(rules, ["key_info", "key_update"], "one rule per scenario");
    }
}
