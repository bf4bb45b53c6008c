//! Sources: fetched bytes in, indicators out.
//!
//! One module per transport ([`http`]; files are read directly by the pipeline; [`taxii`]
//! polls TAXII 2.1 collections through [`http`]), the body handling every transport shares
//! ([`decode`]: gzip and zip), and the feed formats ([`parse`]: text, CSV, JSON, JSON lines;
//! [`taxii::stix`]: STIX 2.1) that turn a body into indicators with per-record skip counts. A
//! fetch returns bytes or a typed error that names the source, the place and the fix; deciding
//! what to keep when a fetch fails (the last good set, the publish gates) is the pipeline's job.

pub mod decode;
pub mod http;
pub mod parse;
pub mod taxii;
