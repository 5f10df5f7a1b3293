//! Golden tests of the command line: help, usage errors, malformed suites.

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
