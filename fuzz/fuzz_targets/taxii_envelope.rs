//! Fuzz what a TAXII server sends: any bytes as an `objects/` envelope (the paging fields read
//! first, then the objects converted) and the result applied to an indicator index twice, as
//! two polls, then an empty delta much later. Never a panic; the records always hold exactly
//! the values the index's live, not pending indicators assert, and once the time of a pending
//! one has come, an empty delta lists it.
#![no_main]

use edlforge::indicator::Tlp;
use edlforge::source::taxii::stix::{convert_objects, Envelope, Paging};
use edlforge::store::{apply_delta, IndicatorIndex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Paging>(data);
    let Ok(env) = serde_json::from_slice::<Envelope>(data) else {
        return;
    };
    let objects = env.objects.unwrap_or_default();
    let c = convert_objects(&objects, 1_790_000_000);
    let mut index = IndicatorIndex::default();
    let (records, _) = apply_delta(&mut index, Vec::new(), c.versions.clone(), 1_790_000_000, 0, Some(Tlp::Amber));
    let (records, _) = apply_delta(&mut index, records, c.versions, 1_790_000_060, 3600, Some(Tlp::Amber));
    assert_eq!(values(&records), in_force(&index));
    // Much later, with no new version: every pending indicator whose time came is listed.
    let later = 4_102_444_800; // 2100-01-01
    let (records, _) = apply_delta(&mut index, records, Vec::new(), later, 0, Some(Tlp::Amber));
    assert!(!index.starts_due(later));
    assert_eq!(values(&records), in_force(&index));
});

fn values(records: &[edlforge::store::Record]) -> Vec<edlforge::indicator::Value> {
    records.iter().map(|r| r.value.clone()).collect()
}

/// The values of the live indicators that are not pending, sorted.
fn in_force(index: &IndicatorIndex) -> Vec<edlforge::indicator::Value> {
    let mut live: Vec<_> = index
        .entries
        .values()
        .filter_map(|e| e.live.as_ref())
        .filter(|a| a.starts.is_none())
        .flat_map(|a| a.values.iter().cloned())
        .collect();
    live.sort();
    live.dedup();
    live
}
