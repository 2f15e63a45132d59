//! What the examples' `main`s share about their arguments.

use std::process::ExitCode;

/// The options an example's `parse_args` returned, or the exit code to end with: `--help`
/// (`Ok(None)`) prints `usage` and exits 0; an error prints `{program}: {message}` on
/// stderr and exits 2.
pub fn options_or_exit<T>(
    program: &str,
    usage: &str,
    parsed: Result<Option<T>, String>,
) -> Result<T, ExitCode> {
    match parsed {
        Ok(Some(options)) => Ok(options),
        Ok(None) => {
            println!("{usage}");
            Err(ExitCode::SUCCESS)
        }
        Err(msg) => {
            eprintln!("{program}: {msg}");
            Err(ExitCode::from(2))
        }
    }
}

/// Test helper: `args` as the `String`s `parse_args` takes.
#[cfg(test)]
pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}
