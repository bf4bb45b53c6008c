//! Watching the files `serve` depends on (feeds.toml, `file` sources, TLS files) with `notify`
//! (inotify on Linux).
//!
//! Editors save by writing a temporary file and renaming it over the old one, which replaces the
//! inode a file watch would follow; so each file's *parent directory* is watched and events are
//! matched by path. Events come in bursts (write, chmod, rename); the receiver debounces them
//! (`pipeline::daemon` waits for a short quiet period), so one save is one reload.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// What a changed file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Changed {
    /// feeds.toml.
    Config,
    /// A `file` source.
    SourceFile,
    /// The TLS certificate or key.
    Tls,
}

/// Watch errors.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path} for changes")]
pub struct WatchError {
    /// The directory.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: notify::Error,
}

/// A running watch; dropping it stops watching.
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watch")
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Starts watching `files`; each change to one of them sends its [`Changed`] kind.
///
/// # Errors
/// A directory cannot be watched (missing, or the inotify limit is reached).
pub fn watch(
    files: &[(PathBuf, Changed)],
) -> Result<(Watch, UnboundedReceiver<Changed>), WatchError> {
    let mut by_path: HashMap<PathBuf, Changed> = HashMap::new();
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for (f, kind) in files {
        let f = absolute(f);
        if let Some(d) = f.parent() {
            dirs.insert(d.to_path_buf());
        }
        by_path.insert(f, *kind);
    }
    let (tx, rx) = unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else { return };
        if matches!(ev.kind, notify::EventKind::Access(_)) {
            return;
        }
        for p in &ev.paths {
            if let Some(kind) = by_path.get(p) {
                let _ = tx.send(*kind);
            }
        }
    })
    .map_err(|source| WatchError {
        path: PathBuf::new(),
        source,
    })?;
    for d in dirs {
        watcher
            .watch(&d, RecursiveMode::NonRecursive)
            .map_err(|source| WatchError {
                path: d.clone(),
                source,
            })?;
    }
    Ok((Watch { _watcher: watcher }, rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rename_over_a_file_is_seen() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("feeds.toml");
        std::fs::write(&f, "a").unwrap();
        let (_w, mut rx) = watch(&[(f.clone(), Changed::Config)]).unwrap();
        let tmp = d.path().join(".feeds.toml.tmp");
        std::fs::write(&tmp, "b").unwrap();
        std::fs::write(d.path().join("other.txt"), "x").unwrap();
        std::fs::rename(&tmp, &f).unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert_eq!(got, Some(Changed::Config));
    }
}
