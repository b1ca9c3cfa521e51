//! The `modelshare` entry point, for the CLI tests.

fn main() -> std::process::ExitCode {
    api::cli::main()
}
