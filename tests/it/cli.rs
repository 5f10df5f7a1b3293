//! Golden tests of the command line: help, usage errors, malformed suites.

use crate::support::RunExt;

#[test]
fn golden() {
    trycmd::TestCases::new()
        .case("tests/cmd/*.toml")
        .case("tests/cmd/*.trycmd");
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_definitions() {
    let replay = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_replay"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    for shell in ["bash", "zsh", "fish"] {
        let script = replay(&["completions", shell]);
        for word in ["check", "bisect", "report-dir"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let man = replay(&["man"]);
    assert!(man.contains(".TH replay 1"), "{man}");
    assert!(man.contains("bisect"));
    let version = replay(&["--version"]);
    assert!(
        version.starts_with(&format!("replay {} (", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
}

/// `-q` leaves stderr empty on a run without errors; without it, stderr
/// (not a terminal here) carries progress and diagnostics as plain text,
/// with no terminal escape codes even when NO_COLOR is not set.
#[test]
fn quiet_silences_stderr_and_stderr_off_a_terminal_is_plain_text() {
    let env = crate::support::Env::new("quiet");
    let run = |quiet: bool| {
        let mut command = env.replay();
        command.env_remove("NO_COLOR").env_remove("REPLAY_LOG");
        if quiet {
            command.arg("-q");
        }
        command
            .args(["check", "--target", "twin", "--repo", "testdata/twin"])
            .args(["--cell", "key_update/self/owner"])
            .output()
            .unwrap()
    };
    let quiet = run(true);
    let (stdout, stderr) = crate::support::text(&quiet);
    assert!(quiet.status.success(), "{stderr}");
    assert_eq!(stderr, "", "-q prints nothing but errors");
    assert!(
        stdout.contains("key_update"),
        "the result still goes to stdout: {stdout}"
    );
    // A RED result is no error either: the kept logs go unmentioned.
    let history = env.tmp.path().join("twin");
    env.replay().arg("twin-history").arg(&history).run_expect(0);
    let red = env
        .replay()
        .args(["-q", "check", "--target", "twin", "--rev", "update-fix^"])
        .args(["--cell", "key_update/self/owner", "--repo"])
        .arg(&history)
        .output()
        .unwrap();
    let (stdout, stderr) = crate::support::text(&red);
    assert_eq!(red.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stderr, "", "-q prints nothing but errors, also on RED");
    let loud = run(false);
    let (_, stderr) = crate::support::text(&loud);
    assert!(loud.status.success(), "{stderr}");
    assert!(stderr.contains("replay: "), "{stderr}");
    // One cell is counted in the singular.
    assert!(stderr.contains("· suite litellm (1 cell) ·"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "an escape code on stderr: {stderr:?}"
    );
    env.assert_nothing_left();
}
