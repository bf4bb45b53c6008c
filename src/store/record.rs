//! [`Record`]: one stored indicator of one source, as every backend keeps it (the embedded
//! files' encodings of it are `embedded/record.rs` and `embedded/snapshot.rs`).

use crate::indicator::{Indicator, Meta, Tlp, Value};

/// One stored indicator of one source, with what the store knows about it. Times are Unix
/// seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The normalized value.
    pub value: Value,
    /// When this source first listed it (kept across snapshots by [`super::merge_snapshot`]).
    pub first_seen: i64,
    /// When this source last listed it.
    pub last_seen: i64,
    /// When it stops being valid, as the data says; `None` = no expiry given.
    pub expires: Option<i64>,
    /// 0–100 as the source gave it; `None` = none given.
    pub confidence: Option<u8>,
    /// TLP marking as the source gave it; `None` = the source default.
    pub tlp: Option<Tlp>,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// Free text.
    pub comment: Option<String>,
}

impl Record {
    /// The indicator the compiler takes, credited to `source`.
    pub fn into_indicator(self, source: &str) -> Indicator {
        Indicator {
            value: self.value,
            meta: Meta {
                sources: vec![source.to_owned()],
                confidence: self.confidence,
                first_seen: Some(self.first_seen),
                last_seen: Some(self.last_seen),
                expires: self.expires,
                tlp: self.tlp,
                tags: self.tags,
                comment: self.comment,
            },
        }
    }
}
