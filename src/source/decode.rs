//! Body decoding: gzip files and zip archives in, the bytes of the list out.
//!
//! Feeds are published compressed as *files* (`feed.csv.gz`, ThreatFox's `full.zip`, vendor zip
//! archives) — not to be confused with HTTP `Content-Encoding: gzip`, which reqwest undoes in
//! transit. [`decode_body`] handles the file case for every transport, after the fetch.
//!
//! Why hand-written around flate2 and zip rather than trusting their readers as they are: the
//! output must be bounded. A few kilobytes of gzip or zip can expand to gigabytes (a "zip bomb"),
//! and an archive's declared sizes are whatever its author wrote, so every read here goes
//! through `Read::take(limit + 1)` and one byte over the limit is an error — never a silently
//! truncated list, which would drop indicators without anyone noticing.

use std::io::{Cursor, Read};

use flate2::read::MultiGzDecoder;

/// The first bytes of a gzip member (RFC 1952 ID1 ID2).
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// The first bytes of a zip archive that starts with a local file header.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The decoded output would be larger than the limit (a zip or gzip bomb, or a limit set too
    /// low for the feed).
    #[error("decompressed body is larger than the limit of {limit} bytes; raise max_body if the feed really is this large")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body starts like gzip but does not decompress.
    #[error(
        "gzip body is corrupt; the download may be damaged or the URL may not point to a .gz file"
    )]
    Gzip(#[source] std::io::Error),
    /// The body is (or was announced as) a zip archive but cannot be read.
    #[error("zip archive cannot be read{}; check that the URL points to an unencrypted zip of text files", member_note(.member))]
    Zip {
        /// The member being read when it failed, if the failure was inside one.
        member: Option<String>,
        /// What the zip reader said.
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn member_note(member: &Option<String>) -> String {
    match member {
        Some(name) => format!(" (member {name:?})"),
        None => String::new(),
    }
}

/// What the body is, as far as decoding is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Gzip,
    Zip,
    Plain,
}

/// Decompresses gzip and zip bodies recognised by magic bytes (`1f 8b`; `PK\x03\x04`) or by
/// content type / file name (`.gz`, `.zip`), bounded by `max` bytes of output (zip bombs are an
/// error). A zip with several members: the members that are not directories are concatenated in
/// archive order, separated by `'\n'` (added only where a member does not already end with
/// one). Anything else is returned unchanged.
///
/// The magic bytes decide first. A body announced as gzip (`application/gzip`, `*.gz`) that
/// does not start with the gzip magic is returned unchanged: servers often send `.gz` files with
/// `Content-Encoding: gzip`, so the HTTP client has already decompressed it. A body announced as
/// zip is always opened as an archive, because a valid zip need not start with a local header
/// (empty or prefixed archives); if it is not one, that is an error rather than a guess.
///
/// `url` is only used for its path's extension; the query string and fragment are ignored.
///
/// # Errors
///
/// [`DecodeError::TooLarge`] when the output (decoded, or the unchanged body) would exceed
/// `max`; [`DecodeError::Gzip`] / [`DecodeError::Zip`] when the data is corrupt, encrypted or
/// uses a compression method this build does not read (only stored and deflate).
pub fn decode_body(
    body: Vec<u8>,
    content_type: Option<&str>,
    url: &str,
    max: u64,
) -> Result<Vec<u8>, DecodeError> {
    match detect(&body, content_type, url) {
        Container::Gzip => gunzip(&body, max),
        Container::Zip => unzip(&body, max),
        Container::Plain if body.len() as u64 > max => Err(DecodeError::TooLarge { limit: max }),
        Container::Plain => Ok(body),
    }
}

fn detect(body: &[u8], content_type: Option<&str>, url: &str) -> Container {
    if body.starts_with(GZIP_MAGIC) {
        return Container::Gzip;
    }
    if body.starts_with(ZIP_MAGIC) {
        return Container::Zip;
    }
    let mime = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    let path = url_path(url).to_ascii_lowercase();
    let zip_by_type = matches!(
        mime.as_deref(),
        Some("application/zip" | "application/x-zip-compressed" | "application/x-zip")
    );
    if zip_by_type || path.ends_with(".zip") {
        return Container::Zip;
    }
    // Announced gzip without the magic: already decoded in transit (see the doc above).
    Container::Plain
}

/// The path part of a URL (or of a file name), without query or fragment.
fn url_path(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

fn gunzip(body: &[u8], max: u64) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    // MultiGzDecoder: `cat a.gz b.gz` is a valid gzip file and some publishers build them.
    MultiGzDecoder::new(body)
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(DecodeError::Gzip)?;
    if out.len() as u64 > max {
        return Err(DecodeError::TooLarge { limit: max });
    }
    Ok(out)
}

fn unzip(body: &[u8], max: u64) -> Result<Vec<u8>, DecodeError> {
    let zip_err = |member: Option<&str>, e: zip::result::ZipError| DecodeError::Zip {
        member: member.map(str::to_owned),
        cause: Box::new(e),
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(body)).map_err(|e| zip_err(None, e))?;
    let mut out: Vec<u8> = Vec::new();
    for index in 0..archive.len() {
        let mut member = archive.by_index(index).map_err(|e| zip_err(None, e))?;
        if member.is_dir() {
            continue;
        }
        let name = member.name().to_owned();
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        // Bound what this member may add by what is left of the budget, whatever size the
        // archive declares for it.
        let left = max.saturating_sub(out.len() as u64);
        (&mut member)
            .take(left.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| DecodeError::Zip {
                member: Some(name.clone()),
                cause: Box::new(e),
            })?;
        if out.len() as u64 > max {
            return Err(DecodeError::TooLarge { limit: max });
        }
    }
    if out.len() as u64 > max {
        return Err(DecodeError::TooLarge { limit: max });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const MB: u64 = 1 << 20;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).expect("write to Vec");
        enc.finish().expect("finish gzip into Vec")
    }

    /// A zip of `(name, data)`; a name ending in `/` is a directory.
    fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in members {
            if name.ends_with('/') {
                w.add_directory(*name, opts).expect("add dir");
            } else {
                w.start_file(*name, opts).expect("start file");
                w.write_all(data).expect("write member");
            }
        }
        w.finish().expect("finish zip").into_inner()
    }

    fn decode(body: Vec<u8>, ct: Option<&str>, url: &str) -> Result<Vec<u8>, DecodeError> {
        decode_body(body, ct, url, MB)
    }

    #[test]
    fn plain_text_is_unchanged() {
        let body = b"1.2.3.4\n5.6.7.8\n".to_vec();
        let got = decode(body.clone(), Some("text/plain"), "https://x.test/a.txt");
        assert_eq!(got.expect("plain"), body);
    }

    #[test]
    fn empty_body_is_unchanged() {
        assert_eq!(
            decode(Vec::new(), None, "https://x.test/").expect("empty"),
            b""
        );
    }

    #[test]
    fn gzip_by_magic_whatever_the_name() {
        let got = decode(
            gz(b"1.2.3.4\n"),
            Some("application/octet-stream"),
            "https://x.test/dl",
        );
        assert_eq!(got.expect("gunzip"), b"1.2.3.4\n");
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let mut body = gz(b"1.1.1.1\n");
        body.extend(gz(b"2.2.2.2\n"));
        assert_eq!(
            decode(body, None, "x.gz").expect("multi"),
            b"1.1.1.1\n2.2.2.2\n"
        );
    }

    #[test]
    fn gz_name_without_magic_was_decoded_in_transit() {
        let body = b"1.2.3.4\n".to_vec();
        let got = decode(
            body.clone(),
            Some("application/gzip"),
            "https://x.test/list.txt.gz",
        );
        assert_eq!(got.expect("unchanged"), body);
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut body = gz(b"1.2.3.4\n5.6.7.8\n");
        let n = body.len();
        body.truncate(n - 6);
        assert!(matches!(decode(body, None, "a"), Err(DecodeError::Gzip(_))));
        assert!(matches!(
            decode(vec![0x1f, 0x8b], None, "a"),
            Err(DecodeError::Gzip(_))
        ));
    }

    #[test]
    fn gzip_bomb_is_bounded() {
        let body = gz(&vec![b'a'; 8 * MB as usize]);
        assert!(body.len() < 64 * 1024, "fixture should compress well");
        let got = decode_body(body, None, "bomb.gz", MB);
        assert!(matches!(got, Err(DecodeError::TooLarge { limit }) if limit == MB));
    }

    #[test]
    fn gzip_exactly_at_the_limit_is_fine() {
        let got = decode_body(gz(&[b'x'; 100]), None, "a.gz", 100);
        assert_eq!(got.expect("at limit").len(), 100);
        let got = decode_body(gz(&[b'x'; 101]), None, "a.gz", 100);
        assert!(matches!(got, Err(DecodeError::TooLarge { limit: 100 })));
    }

    #[test]
    fn zip_members_concatenate_in_order_skipping_directories() {
        let body = zip(&[
            ("a.txt", b"1.1.1.1\n"),
            ("dir/", b""),
            ("dir/b.txt", b"2.2.2.2"),
            ("c.txt", b"3.3.3.3\n"),
        ]);
        let got = decode(body, None, "https://x.test/download");
        assert_eq!(got.expect("unzip"), b"1.1.1.1\n2.2.2.2\n3.3.3.3\n");
    }

    #[test]
    fn zip_by_content_type_or_name() {
        let body = zip(&[("a.txt", b"x\n")]);
        // A prefixed archive (like a self-extractor) has no magic at the start.
        let mut prefixed = b"junk".to_vec();
        prefixed.extend(&body);
        for (ct, url) in [
            (Some("application/zip"), "https://x.test/dl"),
            (Some("Application/X-Zip-Compressed; name=a"), "dl"),
            (None, "https://x.test/FEED.ZIP?key=1"),
        ] {
            let got = decode(prefixed.clone(), ct, url);
            assert_eq!(got.expect("unzip by hint"), b"x\n", "{ct:?} {url}");
        }
    }

    #[test]
    fn announced_zip_that_is_not_one_is_an_error() {
        let got = decode(b"<html>sorry</html>".to_vec(), Some("application/zip"), "a");
        assert!(matches!(got, Err(DecodeError::Zip { member: None, .. })));
        let got = decode(b"plain".to_vec(), None, "https://x.test/feed.zip");
        assert!(matches!(got, Err(DecodeError::Zip { .. })));
    }

    #[test]
    fn corrupt_zip_member_names_the_member() {
        let mut body = zip(&[("feed.csv", &[b'a'; 4096])]);
        // Flip a byte inside the deflate data: the CRC check (or inflate) must fail.
        let extra = usize::from(u16::from_le_bytes([body[28], body[29]]));
        let at = 30 + "feed.csv".len() + extra + 2;
        body[at] ^= 0xff;
        match decode(body, None, "a.zip") {
            Err(DecodeError::Zip { member, .. }) => assert_eq!(member.as_deref(), Some("feed.csv")),
            other => panic!("expected a zip member error, got {other:?}"),
        }
    }

    #[test]
    fn zip_bomb_is_bounded() {
        let big = vec![0u8; 8 * MB as usize];
        let body = zip(&[("bomb.txt", &big)]);
        assert!(body.len() < 64 * 1024, "fixture should compress well");
        let got = decode_body(body, None, "a.zip", MB);
        assert!(matches!(got, Err(DecodeError::TooLarge { .. })));
    }

    #[test]
    fn many_small_zip_members_are_bounded_too() {
        let members: Vec<(String, Vec<u8>)> = (0..40)
            .map(|i| (format!("m{i}.txt"), vec![b'z'; 100]))
            .collect();
        let refs: Vec<(&str, &[u8])> = members
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let got = decode_body(zip(&refs), None, "a.zip", 1000);
        assert!(matches!(got, Err(DecodeError::TooLarge { limit: 1000 })));
    }

    #[test]
    fn plain_body_over_the_limit_is_an_error() {
        let got = decode_body(vec![b'a'; 11], None, "a.txt", 10);
        assert!(matches!(got, Err(DecodeError::TooLarge { limit: 10 })));
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = DecodeError::TooLarge { limit: 5 };
        assert_eq!(
            e.to_string(),
            "decompressed body is larger than the limit of 5 bytes; raise max_body if the feed really is this large"
        );
        let e = decode(b"nope".to_vec(), None, "x.zip").expect_err("not a zip");
        assert!(
            e.to_string()
                .starts_with("zip archive cannot be read; check"),
            "{e}"
        );
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn prefix() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                Just(Vec::new()),
                Just(GZIP_MAGIC.to_vec()),
                Just(ZIP_MAGIC.to_vec()),
                Just(b"PK\x05\x06".to_vec()),
                Just(vec![0x1f, 0x8b, 0x08, 0x00]),
            ]
        }

        proptest! {
            #[test]
            fn decode_body_never_panics(
                head in prefix(),
                tail in proptest::collection::vec(any::<u8>(), 0..2048),
                ct in proptest::option::of(prop_oneof![
                    Just("application/zip"), Just("application/gzip"), Just("text/plain"),
                ]),
                name in prop_oneof![Just("a.zip"), Just("a.gz"), Just("a.txt")],
                max in 0u64..4096,
            ) {
                let mut body = head;
                body.extend(tail);
                let plain = !body.starts_with(GZIP_MAGIC) && !body.starts_with(ZIP_MAGIC)
                    && ct != Some("application/zip") && name != "a.zip";
                if let Ok(out) = decode_body(body.clone(), ct, name, max) {
                    prop_assert!(out.len() as u64 <= max);
                    if plain {
                        prop_assert_eq!(out, body);
                    }
                }
            }

            #[test]
            fn gzip_round_trips_under_the_limit(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut enc, &data).expect("write to Vec");
                let body = enc.finish().expect("finish");
                let out = decode_body(body, None, "x", data.len() as u64);
                prop_assert_eq!(out.expect("round trip"), data);
            }
        }
    }
}
