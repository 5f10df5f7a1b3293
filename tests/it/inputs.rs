//! What a run reads is checked before time is spent on it: the suite's SQL
//! is prepared against the migrated schema before any server boots, a
//! target's inputs exist, names are unique, and the build key covers what the
//! build runs.

use crate::support::*;

#[test]
fn a_typo_in_a_checks_sql_is_bad_input_before_any_boot() {
    let env = Env::new("sql-typo");
    let suite = env.suite_copy("litellm");
    let scenario = suite.join("scenarios/key_delete.toml");
    edit(
        &scenario,
        r#"sql = '''SELECT count(*) FROM "LiteLLM_VerificationToken" WHERE token"#,
        r#"sql = '''SELECT count(*) FROM "LiteLLM_VerificationToken" WHERE tokn"#,
    );
    let (_, stderr) = env.check_suite(&suite, &[]).run_expect(2);
    // The file and line of the statement, the check, and Postgres's words.
    assert!(
        stderr.contains(&format!(
            "{}:35: check `row_kept`: column \"tokn\" does not exist",
            scenario.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("hint: fix the SQL"), "{stderr}");
    // Found before any server was booted, and no cell ran.
    assert!(!stderr.contains("booting"), "{stderr}");
    assert!(!stderr.contains("running "), "{stderr}");
    env.assert_nothing_left();
}

#[test]
fn a_build_input_that_is_missing_is_bad_input_naming_the_target_and_key() {
    let env = Env::new("missing-input");
    let suite = env.suite_copy("litellm");
    let target = suite.join("targets/twin.toml");
    edit(
        &target,
        "virtualenv.\ninputs = [\"requirements.txt\"]",
        "virtualenv.\ninputs = [\"requirments.txt\"]",
    );
    let (_, stderr) = env.check_suite(&suite, &[]).run_expect(2);
    assert!(
        stderr.contains(&format!(
            "{}:20: local.build.inputs names `requirments.txt`, which working tree does not have",
            target.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("or move `requirments.txt` to local.build.optional_inputs"),
        "{stderr}"
    );
    assert!(!stderr.contains("booting"), "{stderr}");

    // Optional: a revision without it builds, and globs name files too.
    edit(
        &target,
        "inputs = [\"requirments.txt\"]",
        "inputs = [\"requirements*.txt\"]\noptional_inputs = [\"poetry.lock\"]",
    );
    env.check_suite(&suite, &[]).run_expect(0);
    env.assert_nothing_left();
}

#[test]
fn two_scenarios_with_one_name_are_refused_naming_both_files() {
    let env = Env::new("same-name");
    let suite = env.suite_copy("litellm");
    let first = suite.join("scenarios/key_delete.toml");
    let second = suite.join("scenarios/key_delete_again.toml");
    let original = std::fs::read_to_string(&first).unwrap();
    // The same endpoint and the same cells, under a file of another name.
    std::fs::write(&second, format!("name = \"key_delete\"\n{original}")).unwrap();
    let (_, stderr) = env.check_suite(&suite, &[]).run_expect(2);
    assert!(
        stderr.contains(&format!(
            "error: {}: duplicate cell: scenario `key_delete` is also defined in {}",
            second.display(),
            first.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: give one of them another `name`"),
        "{stderr}"
    );
    env.assert_nothing_left();
}

#[test]
fn a_check_is_compared_raw_though_the_redact_pattern_hides_both_values() {
    // LiteLLM's suite redacts every 64-hex string: the stored token hash and
    // an expected one both read `<redacted>` in the record. The check still
    // compares the values themselves: another hash is RED.
    let env = Env::new("raw-compare");
    let suite = env.suite_copy("litellm");
    edit(
        &suite.join("scenarios/key_delete.toml"),
        "denied = 1\n",
        &format!(
            "denied = 1\n\n[[check]]\nname = \"token_is_other\"\nsql = '''SELECT token FROM \"LiteLLM_VerificationToken\" WHERE token = {{{{sha256(target_key)}}}}'''\ndenied = \"{}\"\n",
            "0123456789abcdef".repeat(4)
        ),
    );
    let mut command = env.check_suite(&suite, &[]);
    command.args([
        "--cell",
        "key_delete/owner/internal_user",
        "--format",
        "json",
    ]);
    let (stdout, _) = command.run_expect(1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        cells_with(&report, "RED"),
        ["key_delete/owner/internal_user"],
        "{stdout}"
    );
    // Both hashes are hidden in what is printed, and still differ.
    let checks = &report["cells"][0]["outcome"]["checks"];
    let check = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "token_is_other")
        .unwrap();
    assert_eq!(check["observed"], "<redacted>", "{check}");
    assert_eq!(check["expected"], "<redacted>", "{check}");
    assert_eq!(check["passed"], false, "{check}");
    env.assert_nothing_left();
}
