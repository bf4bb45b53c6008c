//! The integration test binary (one binary, a module per area).

mod config;
mod convert;
mod oracle;
mod pipeline;
mod postgres;
mod properties;
mod real_feeds;
mod serve;
mod serve_hardening;
mod sources_http;
mod sources_parse;
mod store;
mod support;
mod taxii;
mod vendors;
