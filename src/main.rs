//! The `buildspec` binary: all the work is in [`buildspec::cli`].

fn main() -> std::process::ExitCode {
    buildspec::cli::main()
}
