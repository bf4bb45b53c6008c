//! The command line: maps flags to library calls. The only place (with `main.rs`) that uses
//! `anyhow`, and the only module that knows every stage.

pub mod compile;
pub mod completions;
pub mod convert;
pub mod man;
mod out;
mod read;
pub mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use out::errln;

/// External dynamic lists for next-generation firewalls.
#[derive(Debug, Parser)]
#[command(name = "edlforge", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert indicator lines into one vendor's list format (stdin to stdout by default).
    Convert(convert::Args),
    /// Fetch the due sources, update the store, and write every list of feeds.toml.
    Compile(compile::Args),
    /// Show what `compile` would add and remove, writing nothing.
    Plan(compile::Args),
    /// Check a config file and print a summary; exit 1 on any error.
    Check(compile::CheckArgs),
    /// Explain an indicator: which sources report it, which lists publish it, and why not.
    Explain(compile::ExplainArgs),
    /// Serve every list over HTTPS to the firewalls that poll them, fetching and compiling on
    /// schedule and reloading feeds.toml and lists/ when they change.
    Serve(serve::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Print the manual page edlforge(1), or write every page into a directory.
    Man(man::Args),
}

/// An error of the command line, with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage (exit 2).
    Usage(String),
    /// Unreadable input or output (exit 1).
    Failed(anyhow::Error),
    /// A specific exit code with a message (config errors: 1; `--strict` failures: 3).
    Exit(u8, String),
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(e)
    }
}

/// Parses the arguments, runs the command, prints any error chain, returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert(args) => convert::run(args),
        Command::Compile(args) => compile::compile(args),
        Command::Plan(args) => compile::plan(args),
        Command::Check(args) => compile::check(args),
        Command::Explain(args) => compile::explain(args),
        Command::Serve(args) => serve::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    };
    // A stdout write error (not a closed pipe) fails a command that otherwise succeeded.
    let result = result.and_then(|()| out::finish());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Usage(msg)) => {
            errln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(e)) => {
            errln!("error: {e:#}");
            ExitCode::from(1)
        }
        Err(CliError::Exit(code, msg)) => {
            errln!("error: {msg}");
            ExitCode::from(code)
        }
    }
}
