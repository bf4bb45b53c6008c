use super::*;

#[test]
fn sizes() {
    assert_eq!(parse_size("256MiB"), Some(256 << 20));
    assert_eq!(parse_size("1 GiB"), Some(1 << 30));
    assert_eq!(parse_size("500KB"), Some(500_000));
    assert_eq!(parse_size("42"), Some(42));
    assert_eq!(parse_size("12 parsecs"), None);
    assert_eq!(parse_size(""), None);
}

#[test]
fn locations() {
    let t = "a\nbc\nd";
    assert_eq!(location(t, 0), Location { line: 1, column: 1 });
    assert_eq!(location(t, 3), Location { line: 2, column: 2 });
    assert_eq!(location(t, 5), Location { line: 3, column: 1 });
}
