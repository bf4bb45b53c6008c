//! The integration test binary (one binary, a module per area).

mod config;
mod convert;
mod oracle;
mod pipeline;
mod properties;
mod psl_floor;
mod real_feeds;
mod serve;
mod sources_http;
mod sources_parse;
mod store;
mod support;
mod taxii;
mod vendors;
