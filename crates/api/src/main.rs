//! `modelshare`: the service (`serve`, the default) and its operator commands.

fn main() -> std::process::ExitCode {
    api::cli::main()
}
