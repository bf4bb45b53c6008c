//! The publication rule: whether a freshly compiled list replaces what firewalls fetch. It lives
//! here once; `serve` (the daemon's cycle) and `compile --out` both call [`decide`].
//!
//! - A list that has **never** been published and compiled empty while one of its block sources
//!   has never delivered data is held back: `serve` answers 503 (a firewall keeps what it has,
//!   or waits), `compile` writes no file and leaves an existing one as it is. This is a fresh
//!   start without internet, a new or renamed source, a typo in a `file` source's path.
//! - Once a list has been published (the store holds a copy: `serve` and `compile` save every
//!   list they publish there, and only those), every compile is published, down to zero
//!   entries: the served list is always the compile of the last good data of each source, so a
//!   line removed from `lists/` leaves the firewalls at the next cycle. Protection against an
//!   empty or broken fetch replacing good data belongs to the per-source gates (`empty`,
//!   `shrink`, `invalid_ratio`, `html`), which keep the source's last good set.

use std::collections::HashSet;
use std::fmt;

use crate::config::{Config, List, Role};
use crate::store::Store;

use super::PipelineError;

/// Why a compiled list is held back instead of published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Never published, compiled empty, and these block sources have never delivered data.
    NeverDelivered(Vec<String>),
    /// PostgreSQL backend: published before (by this replica or another), but these block
    /// sources have not delivered on this replica, which leads now; the last version stays
    /// served everywhere rather than one compiled without them.
    NotDeliveredHere(Vec<String>),
}

impl Held {
    /// Bounded reason id (status, metrics, logs).
    pub fn id(&self) -> &'static str {
        match self {
            Held::NeverDelivered(_) => "never_delivered",
            Held::NotDeliveredHere(_) => "not_delivered_here",
        }
    }

    /// The sources the list waits for.
    pub fn sources(&self) -> &[String] {
        match self {
            Held::NeverDelivered(s) | Held::NotDeliveredHere(s) => s,
        }
    }
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Held::NeverDelivered(s) => write!(
                f,
                "withheld: never published, and it compiled empty because source{} {} ha{} never delivered data",
                if s.len() == 1 { "" } else { "s" },
                s.join(", "),
                if s.len() == 1 { "s" } else { "ve" },
            ),
            Held::NotDeliveredHere(s) => write!(
                f,
                "not replaced: this replica leads now and source{} {} ha{} not delivered data here yet; the last published version stays served",
                if s.len() == 1 { "" } else { "s" },
                s.join(", "),
                if s.len() == 1 { "s" } else { "ve" },
            ),
        }
    }
}

/// The block sources of `list` for which `delivered` is false, in list order.
pub fn never_delivered(
    config: &Config,
    list: &List,
    delivered: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    list.sources
        .iter()
        .filter(|s| config.source(s).is_some_and(|c| c.role == Role::Block))
        .filter(|s| !delivered(s))
        .cloned()
        .collect()
}

/// Decides whether a compiled list of `entries` entries is published.
///
/// `published_before`: the list has been published (its copy is in the store). `delivered`:
/// whether a source has ever delivered data (its state has a `last_success`).
///
/// # Errors
/// [`Held`] when the list must not be published; the caller keeps what it served (nothing, for
/// a list never published) and says why.
pub fn decide(
    config: &Config,
    list: &List,
    entries: u64,
    published_before: bool,
    delivered: &dyn Fn(&str) -> bool,
) -> Result<(), Held> {
    if published_before || entries > 0 {
        return Ok(());
    }
    let never = never_delivered(config, list, delivered);
    if never.is_empty() {
        Ok(())
    } else {
        Err(Held::NeverDelivered(never))
    }
}

/// The facts [`decide`] needs beyond a compile, as the store holds them: which lists have been
/// published and which sources have ever delivered data (for `explain`, which compiles apart
/// from a run).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Lists with a published copy in the store.
    pub published: HashSet<String>,
    /// Sources whose state has a `last_success`.
    pub delivered: HashSet<String>,
}

impl Facts {
    /// Reads the facts from the store.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn load(config: &Config, store: &Store) -> Result<Facts, PipelineError> {
        let mut f = Facts {
            published: store.lists()?.into_iter().collect(),
            ..Facts::default()
        };
        for s in &config.sources {
            if store
                .state(&s.name)?
                .is_some_and(|st| st.last_success.is_some())
            {
                f.delivered.insert(s.name.clone());
            }
        }
        Ok(f)
    }

    /// [`decide`] with these facts.
    ///
    /// # Errors
    /// [`Held`] when the list must not be published.
    pub fn decide(&self, config: &Config, list: &List, entries: u64) -> Result<(), Held> {
        decide(
            config,
            list,
            entries,
            self.published.contains(&list.name),
            &|s| self.delivered.contains(s),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("feeds.toml");
        std::fs::write(
            &path,
            "[[source]]\nname = \"a\"\npath = \"a.txt\"\n\n[[source]]\nname = \"b\"\npath = \"b.txt\"\n\n[[source]]\nname = \"ok\"\npath = \"ok.txt\"\nrole = \"allow\"\n\n[[list]]\nname = \"l\"\nvendor = \"plain\"\nsources = [\"a\", \"b\"]\nallow = [\"ok\"]\n",
        )
        .expect("write");
        Config::load(&path).expect("valid config")
    }

    #[test]
    fn never_published_empty_list_waits_for_its_block_sources() {
        let c = config();
        let l = &c.lists[0];
        let only_a = |s: &str| s == "a";
        assert_eq!(
            decide(&c, l, 0, false, &only_a),
            Err(Held::NeverDelivered(vec!["b".into()]))
        );
        // The allow source does not hold a list back.
        assert_eq!(decide(&c, l, 0, false, &|s| s != "ok"), Ok(()));
        // Entries, or a list published before, are always published (down to zero entries).
        assert_eq!(decide(&c, l, 3, false, &only_a), Ok(()));
        assert_eq!(decide(&c, l, 0, true, &|_| false), Ok(()));
        let held = decide(&c, l, 0, false, &|_| false).expect_err("held");
        assert_eq!(held.id(), "never_delivered");
        assert_eq!(
            held.to_string(),
            "withheld: never published, and it compiled empty because sources a, b have never delivered data"
        );
    }
}
