//! Standard output and error of the subcommands, for readers that go away early.
//!
//! Rust ignores SIGPIPE, so a write to a pipe whose reader has closed (`edlforge explain X |
//! head -1`) fails with EPIPE, and `println!` turns that failure into a panic. The subcommands
//! write through [`outln!`] and [`bytes()`] instead. After a broken pipe everything further for
//! stdout is dropped and the command runs to its end, so a `compile` is never cut short half-way
//! because nobody reads its summary, and the exit status stays the one the command has without
//! the pipe: 0 when it succeeded, its own code (1 for a bad config, 3 for `--strict`) when not.
//!
//! Why not 141 (128 + SIGPIPE, what the shell reports for `sort` killed by the signal): that
//! status says nothing about the command, so `edlforge check | head -1` would look the same
//! whether the config is good or not, and `set -o pipefail` scripts would fail on every `| head`.
//! Ending with the command's own status is what ripgrep does for the same reasons. Restoring
//! SIGPIPE's default action instead would kill the process at the first such write, in the
//! middle of whatever it was doing.
//!
//! Any other stdout error (a full disk behind `>`) is kept and reported once at the end
//! ([`finish`], exit 1). Standard error ([`errln!`]) ignores write errors: there is nowhere left
//! to report them.

use std::fmt;
use std::io::{self, Write as _};
use std::sync::{Mutex, PoisonError};

use super::CliError;

/// What became of stdout.
enum State {
    /// Writable.
    Open,
    /// The reader has gone: drop the rest.
    Gone,
    /// Another error: drop the rest, report it at the end.
    Failed(io::Error),
}

static STDOUT: Mutex<State> = Mutex::new(State::Open);

/// Records the outcome of one stdout write; the error unless it was a broken pipe.
fn record(state: &mut State, result: io::Result<()>) -> io::Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            *state = State::Gone;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Writes one line to stdout (what [`outln!`] expands to); a write error is kept for
/// [`finish`].
pub fn line(args: fmt::Arguments<'_>) {
    let mut state = STDOUT.lock().unwrap_or_else(PoisonError::into_inner);
    if !matches!(*state, State::Open) {
        return;
    }
    let result = writeln!(io::stdout().lock(), "{args}");
    if let Err(e) = record(&mut state, result) {
        *state = State::Failed(e);
    }
}

/// Writes `buf` to stdout and flushes it. A reader that has gone is not an error.
///
/// # Errors
/// Any other write error, for the caller to put in context.
pub fn bytes(buf: &[u8]) -> io::Result<()> {
    let mut state = STDOUT.lock().unwrap_or_else(PoisonError::into_inner);
    if !matches!(*state, State::Open) {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    let result = out.write_all(buf).and_then(|()| out.flush());
    record(&mut state, result)
}

/// Lets `write` stream to stdout (a large list goes out as it is made, never held whole) and
/// flushes it; what `write` returns besides its write result is passed through. After the
/// reader has gone (or an earlier error), `write` writes into a sink, so it still runs to its
/// end.
///
/// # Errors
/// A write error other than a broken pipe, for the caller to put in context.
pub fn stream<R>(
    write: impl FnOnce(&mut dyn io::Write) -> (R, io::Result<()>),
) -> (R, io::Result<()>) {
    let mut state = STDOUT.lock().unwrap_or_else(PoisonError::into_inner);
    if !matches!(*state, State::Open) {
        let (r, _) = write(&mut io::sink());
        return (r, Ok(()));
    }
    let mut out = io::stdout().lock();
    let (r, result) = write(&mut out);
    let result = result.and_then(|()| out.flush());
    (r, record(&mut state, result))
}

/// Flushes stdout at the end of a command.
///
/// # Errors
/// The first stdout write error of [`outln!`] other than a broken pipe.
pub fn finish() -> Result<(), CliError> {
    let mut state = STDOUT.lock().unwrap_or_else(PoisonError::into_inner);
    if matches!(*state, State::Open) {
        let result = io::stdout().lock().flush();
        if let Err(e) = record(&mut state, result) {
            *state = State::Failed(e);
        }
    }
    match std::mem::replace(&mut *state, State::Gone) {
        State::Failed(e) => Err(CliError::Failed(
            anyhow::Error::from(e).context("cannot write to standard output"),
        )),
        State::Open | State::Gone => Ok(()),
    }
}

/// Writes one line to stderr, ignoring errors (what [`errln!`] expands to).
pub fn err_line(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// `println!` that ends quietly when the reader has gone: see the module doc.
macro_rules! outln {
    () => {
        $crate::cli::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// `eprintln!` that ignores write errors instead of panicking.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::out::err_line(format_args!($($arg)*))
    };
}
pub(crate) use errln;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_the_end_of_output_not_an_error() {
        let mut state = State::Open;
        let gone = io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(record(&mut state, Err(gone)).is_ok());
        assert!(matches!(state, State::Gone));
        let mut state = State::Open;
        let full = io::Error::from(io::ErrorKind::StorageFull);
        let e = record(&mut state, Err(full)).expect_err("kept");
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(matches!(state, State::Open));
    }
}
