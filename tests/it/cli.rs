//! Golden tests of the command line: help, usage errors, malformed suites.

#[test]
fn golden() {
    trycmd::TestCases::new()
        .case("tests/cmd/*.toml")
        .case("tests/cmd/*.trycmd");
}
