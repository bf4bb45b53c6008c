//! The `data_dir` lock: one edlforge process per store at a time.
//!
//! An exclusive OS lock (`flock` on Unix, `LockFileEx` on Windows, through `std::fs::File::lock`)
//! on `data_dir/lock`, held for the life of the [`super::Store`]. The kernel drops it when the
//! holder exits however it exits, `kill -9` included, so a crashed process never blocks the next
//! run and there is no stale-lock cleanup to get wrong. The lock file itself is never deleted
//! (deleting it would let two processes lock two different files); the holder writes its process
//! id into it, for the message the next one prints.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::file;
use crate::store::error::{IoAction, StoreError};

/// The lock file's name in `data_dir`.
pub(in crate::store) const LOCK_FILE: &str = "lock";

/// How often a waiting `open` tries again.
const POLL: Duration = Duration::from_millis(20);

/// Takes the lock on `dir`, waiting up to `wait` for another holder to let go.
///
/// # Errors
/// [`StoreError::Locked`] when it is still held after `wait`; [`StoreError::Io`].
pub(in crate::store) fn acquire(dir: &Path, wait: Duration) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let mut lock = file::open_rw(&path)?;
    let start = Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                let waited = start.elapsed();
                if waited >= wait {
                    return Err(StoreError::Locked {
                        dir: dir.to_path_buf(),
                        waited,
                        holder: holder(&mut lock),
                    });
                }
                std::thread::sleep(POLL.min(wait - waited));
            }
            Err(TryLockError::Error(e)) => return Err(StoreError::io(&path, IoAction::Lock, e)),
        }
    }
    // For the next process's message only: a failure here does not matter.
    let _ = lock
        .set_len(0)
        .and_then(|()| lock.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(lock, "{}", std::process::id()));
    Ok(lock)
}

/// The process id the holder wrote, if readable.
fn holder(lock: &mut File) -> Option<u32> {
    let mut text = String::new();
    lock.seek(SeekFrom::Start(0)).ok()?;
    lock.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}
