//! The integration test binary (one binary, a module per area).

mod convert;
mod oracle;
mod properties;
mod real_feeds;
mod sources_parse;
mod support;
mod vendors;
