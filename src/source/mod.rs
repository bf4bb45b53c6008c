//! Sources: fetched bytes in, indicators out.

pub mod parse;
