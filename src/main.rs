//! The `edlforge` binary: see `edlforge --help`.

fn main() -> std::process::ExitCode {
    edlforge::cli::main()
}
