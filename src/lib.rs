//! edlforge: external dynamic lists for next-generation firewalls.
#![deny(missing_docs)]
pub mod cli;
pub mod compile;
pub mod config;
pub mod format;
pub mod indicator;
pub mod source;
