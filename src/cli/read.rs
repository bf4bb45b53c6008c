//! Reading indicator files line by line without a `String` per line: 1 MiB chunks split with
//! `memchr`, so a 10M-line feed costs one buffer, not ten million allocations.

use std::io::{self, Read};

/// Calls `f(line_number, line_bytes)` for every line of `r` (1-based numbers; the `\n` removed,
/// a `\r` left for the line splitter). A last line without `\n` is included.
pub fn for_each_line(mut r: impl Read, mut f: impl FnMut(u64, &[u8])) -> io::Result<()> {
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    let mut start = 0; // bytes of an unfinished line kept at the front of buf
    let mut line_no = 0u64;
    loop {
        if start == buf.len() {
            // one line longer than the buffer: grow (bounded by the input itself)
            buf.resize(buf.len() * 2, 0);
        }
        let n = match r.read(&mut buf[start..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let end = start + n;
        let mut pos = 0;
        while let Some(i) = memchr::memchr(b'\n', &buf[pos..end]) {
            line_no += 1;
            f(line_no, &buf[pos..pos + i]);
            pos += i + 1;
        }
        buf.copy_within(pos..end, 0);
        start = end - pos;
    }
    if start > 0 {
        line_no += 1;
        f(line_no, &buf[..start]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut v = vec![];
        for_each_line(input, |n, l| v.push((n, l.to_vec()))).unwrap();
        v
    }

    #[test]
    fn splits_lines() {
        assert_eq!(
            lines(b"a\nbb\r\n\nc"),
            vec![
                (1, b"a".to_vec()),
                (2, b"bb\r".to_vec()),
                (3, b"".to_vec()),
                (4, b"c".to_vec())
            ]
        );
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn long_lines_across_chunks() {
        let long = vec![b'x'; 3 << 20];
        let mut input = long.clone();
        input.extend_from_slice(b"\nend\n");
        let got = lines(&input);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1.len(), long.len());
        assert_eq!(got[1].1, b"end");
    }
}
