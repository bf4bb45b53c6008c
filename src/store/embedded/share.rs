//! Share histories (`lists/<name>.share`, `store/share.rs`) as embedded files.

use super::{file, name, Store};
use crate::store::error::{Damage, StoreError};
use crate::store::share::History;

/// Magic of a `.share` file.
const MAGIC_SHARE: &[u8; 8] = b"EDLFSHR1";
/// Extension of a `.share` file (beside the list's `.list`).
const SHARE_EXT: &str = ".share";

impl Store {
    /// Saves the share history of list `name` (atomically, like every store file).
    ///
    /// # Errors
    /// [`StoreError::InvalidName`]; [`StoreError::Io`].
    pub fn save_share(&mut self, name: &str, history: &History) -> Result<(), StoreError> {
        let esc = name::escape("list", name)?;
        // Serialising plain structs of strings and numbers cannot fail.
        let body = serde_json::to_vec(history).unwrap_or_default();
        let mut header = Vec::new();
        super::codec::put_str(&mut header, name);
        file::write_atomic(
            &self.lists,
            &format!("{esc}{SHARE_EXT}"),
            MAGIC_SHARE,
            &header,
            |w| w.write(&body),
        )
    }

    /// The share history of list `name`; empty when none is stored.
    ///
    /// # Errors
    /// [`StoreError::Damaged`] naming the file (a payload that is not a history);
    /// [`StoreError::InvalidName`]; [`StoreError::Io`].
    pub fn load_share(&self, name: &str) -> Result<History, StoreError> {
        let esc = name::escape("list", name)?;
        let path = self.lists.join(format!("{esc}{SHARE_EXT}"));
        let Some(o) = file::open(&path, MAGIC_SHARE)? else {
            return Ok(History::default());
        };
        let body = o.read_payload()?;
        serde_json::from_slice(&body).map_err(|_| {
            StoreError::damaged(
                &path,
                Damage::Record {
                    index: 0,
                    what: "share history is not valid JSON",
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::share::tests::{item, DAY};

    #[test]
    fn store_round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(s.load_share("l").unwrap(), History::default());
        let mut h = History::default();
        h.update(&[item("a", 50)], 1_000, DAY);
        s.save_share("l", &h).unwrap();
        assert_eq!(s.load_share("l").unwrap(), h);
        // The list's own files are unaffected by a share file beside them.
        assert!(s.lists().unwrap().is_empty());
        // A sound container holding something else is a damaged file naming itself.
        file::write_atomic(&s.lists, "l.share", MAGIC_SHARE, b"", |w| w.write(b"[1,2")).unwrap();
        let e = s.load_share("l").unwrap_err();
        assert!(matches!(e, StoreError::Damaged { .. }), "{e}");
        assert!(e.to_string().contains("l.share"), "{e}");
    }
}
