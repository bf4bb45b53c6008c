//! edlforge: external dynamic lists for next-generation firewalls.
//!
//! The data flows one way through the modules, each using only those before it:
//!
//! - [`indicator`]: the vocabulary — what an indicator is, how one raw line becomes one.
//! - [`config`]: `feeds.toml`, checked.
//! - [`source`]: bytes in (HTTP, files), indicators out; decoding and feed formats.
//! - [`store`]: the persistent indicator store (the only module that knows the backend).
//! - [`compile`]: selection, safety floor, allowlists, aggregation, capacity → `CompiledList`.
//! - [`format`]: `CompiledList` → the bytes each firewall accepts, one file per vendor.
//! - [`serve`]: the HTTPS server firewalls poll (published bytes in, responses out).
//! - [`metrics`]: every Prometheus metric (a leaf anyone may use).
//! - [`pipeline`]: wiring of every stage for `compile`, `plan`, `explain` and `serve`.
//! - [`cli`]: the command line.
#![deny(missing_docs)]
pub mod cli;
pub mod compile;
pub mod config;
pub mod format;
pub mod indicator;
pub mod metrics;
pub mod pipeline;
pub mod serve;
mod sort;
pub mod source;
pub mod store;
