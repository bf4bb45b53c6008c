//! The integration test binary (one binary, a module per area).

mod config;
mod convert;
mod deploy;
mod oracle;
mod pipeline;
mod properties;
mod real_feeds;
mod serve;
mod sources_http;
mod sources_parse;
mod store;
mod support;
mod taxii;
mod vendors;
