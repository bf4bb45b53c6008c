//! What a replica's configuration hashes to, so replicas on one database can tell whether they
//! run the same one (`edlforge_config_matches_leader`, the status page's replica line).
//!
//! Two hashes, because they differ for different reasons and an operator fixes them apart:
//! - **feeds.toml**: SHA-256 of the file as parsed and written back in canonical TOML (tables
//!   and keys sorted), so comments, blank lines, layout and key order do not count, but every
//!   setting does. Secrets are `${env:…}`/`${file:…}` references in the file, so the hash
//!   covers the reference, never a secret's value, and nothing secret can be learnt from it.
//!   `--data-dir` is not in the file and does not count (every replica has its own).
//! - **lists/ files**: SHA-256 over the path, length and SHA-256 of every `file` source, in
//!   config order (a missing file hashes as missing). Followers serve the leader's bytes and never read these
//!   files, but they compile from them the moment they lead: a difference here is a list that
//!   changes when leadership moves.
//!
//! HTTP and TAXII sources are not hashed: their content is fetched by the leader only.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::config::{Config, Transport};

fn hex(d: &[u8]) -> String {
    let mut s = String::with_capacity(d.len() * 2);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The hash of feeds.toml text as parsed (see the module doc). Text that does not parse (it
/// did when it was loaded; an edit since may not) hashes as its raw bytes.
pub(super) fn config_hash(text: &str) -> String {
    let canonical = toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| toml::to_string(&t).ok())
        .unwrap_or_else(|| text.to_string());
    hex(&Sha256::digest(canonical.as_bytes()))
}

/// The hash of the config file at `path`: [`config_hash`] of its text, or of nothing when
/// it cannot be read.
pub(super) fn config_file_hash(path: &Path) -> String {
    config_hash(&std::fs::read_to_string(path).unwrap_or_default())
}

/// Per file, its length, modification time and SHA-256 when last read: [`files_hash`] reads
/// only files whose length or time changed since (a large `lists/` file is not read again
/// every [`super::replica`] probe interval).
pub(super) type FileDigests = HashMap<PathBuf, (u64, Option<SystemTime>, [u8; 32])>;

/// The hash of the files `config`'s `file` sources read (see the module doc), reusing the
/// digests in `cache` of files that did not change. Blocking: run it off the async threads.
pub(super) fn files_hash(config: &Config, cache: &mut FileDigests) -> String {
    let mut h = Sha256::new();
    let mut used = FileDigests::new();
    for s in &config.sources {
        if let Transport::File { path } = &s.transport {
            let p = path.display().to_string();
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
            match file_digest(path, cache) {
                Some(entry) => {
                    h.update([1]);
                    h.update(entry.0.to_le_bytes());
                    h.update(entry.2);
                    used.insert(path.clone(), entry);
                }
                None => h.update([0]),
            }
        }
    }
    // Files no longer configured are forgotten.
    *cache = used;
    hex(&h.finalize())
}

/// `path`'s length, time and SHA-256: from `cache` when the length and time are those cached,
/// else read (in pieces, never whole in memory). `None` when it cannot be read.
fn file_digest(path: &Path, cache: &FileDigests) -> Option<(u64, Option<SystemTime>, [u8; 32])> {
    let meta = std::fs::metadata(path).ok()?;
    let (len, modified) = (meta.len(), meta.modified().ok());
    if let Some(&c) = cache.get(path) {
        if c.0 == len && c.1 == modified && modified.is_some() {
            return Some(c);
        }
    }
    let mut d = Sha256::new();
    let mut f = std::fs::File::open(path).ok()?;
    std::io::copy(&mut f, &mut d).ok()?;
    Some((len, modified, d.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_comments_do_not_count_settings_do() {
        let a = config_hash("[server]\nlisten = \"0.0.0.0:8443\"\ntls = \"off\"\n");
        let b = config_hash(
            "# edge\n[server]\ntls    = \"off\"   # plain\n\n listen = \"0.0.0.0:8443\"\n",
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        let c = config_hash("[server]\nlisten = \"0.0.0.0:8444\"\ntls = \"off\"\n");
        assert_ne!(a, c);
        // A secret reference is hashed as written, never resolved.
        let d = config_hash("[store]\nurl = \"${env:EDLFORGE_DATABASE_URL}\"\n");
        assert_eq!(
            d,
            config_hash("[store]\nurl='${env:EDLFORGE_DATABASE_URL}'")
        );
        // Text that does not parse still hashes, deterministically.
        assert_eq!(config_hash("[[[bad"), config_hash("[[[bad"));
        assert_ne!(config_hash("[[[bad"), config_hash("[[[worse"));
    }

    #[test]
    fn files_hash_follows_the_file_sources_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let block = dir.path().join("block.txt");
        std::fs::write(&block, "192.0.2.1\n").unwrap();
        let text = format!(
            "[[source]]\nname = \"block\"\npath = {:?}\n\n[[list]]\nname = \"pa\"\nvendor = \"plain\"\nsources = [\"block\"]\n",
            block.display().to_string()
        );
        let cfg = Config::from_text(&text, &dir.path().join("feeds.toml")).unwrap();
        let mut cache = FileDigests::new();
        let first = files_hash(&cfg, &mut cache);
        assert_eq!(first, files_hash(&cfg, &mut cache));
        assert_eq!(first, files_hash(&cfg, &mut FileDigests::new()));
        // Same length, other bytes: the time changed, so the file is read again.
        std::fs::write(&block, "192.0.2.2\n").unwrap();
        let second = files_hash(&cfg, &mut cache);
        assert_ne!(first, second);
        assert_eq!(second, files_hash(&cfg, &mut FileDigests::new()));
        std::fs::remove_file(&block).unwrap();
        assert_ne!(files_hash(&cfg, &mut cache), second);
        assert!(cache.is_empty());
    }
}
