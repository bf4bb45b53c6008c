//! The integration test binary (one binary, a module per area).

mod broken_pipe;
mod config;
mod convert;
mod deploy;
mod ops;
mod oracle;
mod pipeline;
mod postgres;
mod postgres_share;
mod postgres_state;
mod postgres_takeover;
mod properties;
mod psl_floor;
mod publish;
mod real_feeds;
mod serve;
mod serve_hardening;
mod share;
mod sources_http;
mod sources_parse;
mod stix_patterns;
mod store;
mod support;
mod taxii;
mod unchanged;
mod vendors;
