//! Sources: getting a feed's bytes from where it lives, ready for the indicator parser.
//!
//! One module per transport ([`http`]) plus the body handling every transport shares
//! ([`decode`]: gzip and zip). A fetch returns bytes or a typed error that names the source, the
//! place and the fix; deciding what to keep when a fetch fails (the last good set) is left to the
//! caller, as is turning bytes into indicators (`indicator::parse_line`).

pub mod decode;
pub mod http;
