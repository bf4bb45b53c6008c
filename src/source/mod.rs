//! Sources: fetched bytes in, indicators out.
//!
//! One module per transport ([`http`]; files are read directly by the pipeline), the body
//! handling every transport shares ([`decode`]: gzip and zip), and the feed formats
//! ([`parse`]: text, CSV, JSON, JSON lines) that turn a body into indicators with per-line skip
//! counts. A fetch returns bytes or a typed error that names the source, the place and the fix;
//! deciding what to keep when a fetch fails (the last good set, the publish gates) is the
//! pipeline's job.

pub mod decode;
pub mod http;
pub mod parse;
