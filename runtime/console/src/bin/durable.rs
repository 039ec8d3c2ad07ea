//! The `durable` command: operate the runs of a durable database from the
//! shell. Everything is in [`durable_console::cli`]; see `durable --help`.

fn main() -> std::process::ExitCode {
    durable_console::cli::main()
}
