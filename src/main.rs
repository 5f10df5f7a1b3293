fn main() -> std::process::ExitCode {
    replay::cli::main()
}
