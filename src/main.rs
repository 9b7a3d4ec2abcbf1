//! The `stepwise` binary: see `stepwise --help`.

fn main() -> std::process::ExitCode {
    stepwise::cli::main()
}
