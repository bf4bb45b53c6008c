//! Grammar tests of the lexer and parser: one line per case (the cases the OASIS grammar
//! `STIXPattern.g4` decides), and the property that whitespace and comments between tokens
//! change nothing.

use super::lex::{is_ws, lex};
use super::*;
use proptest::prelude::*;

macro_rules! valid {
    ($name:ident, $p:expr) => {
        #[test]
        fn $name() {
            let got = parse_pattern($p);
            assert!(got.is_ok(), "{:?}: {got:?}", $p);
        }
    };
}
macro_rules! syntax {
    ($name:ident, $p:expr) => {
        #[test]
        fn $name() {
            let got = parse_pattern($p);
            assert!(
                matches!(got, Err(PatternError::Syntax { .. })),
                "{:?}: {got:?}",
                $p
            );
        }
    };
}

// EQ: '=' | '=='; NEQ: '!=' | '<>'.
valid!(double_equals, "[ipv4-addr:value == '8.8.8.8']");
valid!(diamond_is_not_equal, "[file:size <> 10]");
// COMMENT and LINE_COMMENT are skipped anywhere between tokens.
valid!(block_comment, "[ipv4-addr:value = '8.8.8.10' /* C2 */]");
valid!(
    line_comment_at_end,
    "[ipv4-addr:value = '8.8.8.11'] // note"
);
valid!(
    comments_everywhere,
    "/*a*/[/*b*/ipv4-addr/**/:/*/*/value// x\n=//\r'8.8.8.8'/* ] */]/**/"
);
valid!(
    comment_text_is_not_a_string,
    "[a:b = '/* not */ a comment']"
);
// WS: every character of the rule.
valid!(
    unicode_whitespace,
    "\u{00A0}[\u{3000}ipv4-addr:value\u{2028}=\u{000B}'8.8.8.8'\u{0085}]\u{202F}"
);
valid!(no_whitespace_at_all, "[a:b=1]AND[a:c=2]");
valid!(keyword_glued_to_number, "[a:b=5AND a:c=2]");
valid!(not_before_equals, "[a:b NOT = 1]");
valid!(not_exists, "[NOT EXISTS a:b]");
valid!(empty_set, "[a:b IN ()]");
valid!(negative_index, "[a:b[-1].c = 1]");
valid!(signed_index, "[a:b[+1] = 1]");
valid!(quoted_first_step, "[a:'x-y' = 1]");
valid!(float_leading_zeros, "[a:b = 007.5]");
valid!(float_without_int_part, "[a:b = -.5]");
valid!(hex_empty, "[a:b = h'']");
valid!(base64_padded, "[a:b = b'AAE=']");
valid!(leap_second, "[a:b = t'2016-12-31T23:59:60.5Z']");
valid!(within_float, "[a:b = 1] WITHIN 1.5 SECONDS");
valid!(within_plus, "[a:b = 1] WITHIN +5 SECONDS");
valid!(nested_observations, "(([a:b = 1]) OR (([a:c = 2])))");
valid!(nested_comparisons, "[((a:b = 1) OR (a:c = 2))]");
valid!(hyphenated_type_with_keyword_inside, "[x-AND-y:value = 'z']");

syntax!(lowercase_keyword, "[a:b = 1 or a:c = 2]");
syntax!(lowercase_qualifier, "[foo:bar=1] within 2 seconds");
syntax!(uppercase_bool, "[a:b = TRUE]");
syntax!(triple_equals, "[a:b === 1]");
syntax!(bang_alone, "[a:b ! 1]");
syntax!(unterminated_comment, "[a:b = 1] /* open");
syntax!(comment_only, "/* nothing */");
syntax!(line_comment_eats_the_rest, "[a:b = 1 // ]");
syntax!(leading_zero, "[a:b = 01]");
syntax!(trailing_dot, "[a:b = 1.]");
syntax!(lone_sign, "[a:b = - 1]");
syntax!(hyphen_in_unquoted_property, "[a:b-c = 1]");
syntax!(keyword_as_property, "[a:IN = 1]");
syntax!(last_is_reserved, "[a:LAST = 1]");
syntax!(bool_as_type, "[true:b = 1]");
syntax!(bool_with_order, "[a:b < true]");
syntax!(number_with_like, "[a:b LIKE 1]");
syntax!(number_with_issubset, "[a:b ISSUBSET 1]");
syntax!(float_index, "[a:b[1.5] = 1]");
syntax!(repeats_float, "[a:b = 1] REPEATS 1.5 TIMES");
syntax!(within_negative, "[a:b = 1] WITHIN -5 SECONDS");
syntax!(
    start_with_string,
    "[a:b = 1] START '2016-01-01T00:00:00Z' STOP '2016-01-02T00:00:00Z'"
);
syntax!(bad_month, "[a:b = t'2024-13-01T12:00:00Z']");
syntax!(bad_second, "[a:b = t'2024-01-15T12:30:61Z']");
syntax!(no_zone, "[a:b = t'2024-01-15T12:30:45']");
syntax!(bare_fraction_dot, "[a:b = t'2024-01-15T12:30:45.Z']");
syntax!(odd_hex, "[a:b = h'abc']");
syntax!(unpadded_base64, "[a:b = b'AAE']");
syntax!(base64_all_padding, "[artifact:payload_bin = b'====']");
syntax!(empty_base64, "[a:b = b'']");
syntax!(double_quotes, "[a:\"b\" = 1]");
syntax!(control_character, "[a:b = 1]\u{0}");
syntax!(zero_width_space_is_not_ws, "[a:b = 1]\u{200B}");
syntax!(nbsp_inside_keyword, "[a:b = 1 O\u{00A0}R a:c = 2]");

#[test]
fn both_equality_forms_give_the_same_tree() {
    assert_eq!(
        parse_pattern("[ipv4-addr:value == '8.8.8.8']"),
        parse_pattern("[ipv4-addr:value = '8.8.8.8']")
    );
    assert_eq!(parse_pattern("[a:b <> 1]"), parse_pattern("[a:b != 1]"));
}

#[test]
fn limits_are_not_syntax_errors() {
    let deep = format!("{}[a:b = 1]{}", "(".repeat(100), ")".repeat(100));
    assert!(matches!(
        parse_pattern(&deep),
        Err(PatternError::TooLarge { .. })
    ));
    let long = format!("[a:b = '{}']", "x".repeat(MAX_PATTERN_LEN));
    assert!(matches!(
        parse_pattern(&long),
        Err(PatternError::TooLarge { .. })
    ));
}

#[test]
fn ws_is_unicode_white_space() {
    // The grammar's WS set is exactly Unicode's White_Space property (Rust's is_whitespace).
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        assert_eq!(is_ws(c), c.is_whitespace(), "{:?}", c);
    }
}

/// A separator the grammar skips: whitespace of every kind, block and line comments.
fn separator() -> impl Strategy<Value = String> {
    let ws = prop::sample::select(vec![
        ' ', '\t', '\r', '\n', '\u{B}', '\u{C}', '\u{85}', '\u{A0}', '\u{1680}', '\u{2000}',
        '\u{200A}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{205F}', '\u{3000}',
    ]);
    let one = prop_oneof![
        ws.prop_map(String::from),
        "[a-z '\\[\\]()=/]{0,8}".prop_filter_map("no */ inside", |t| {
            (!t.contains("*/") && !t.ends_with('*') && !t.starts_with('/'))
                .then(|| format!("/*{t}*/"))
        }),
        "[a-z '\\[\\]()=*/]{0,8}".prop_map(|t| format!("//{t}\n")),
    ];
    prop::collection::vec(one, 0..3).prop_map(|v| v.concat())
}

const SAMPLES: [&str; 6] = [
    "[ipv4-addr:value = '203.0.113.1' OR domain-name:value == 'evil.example']",
    "([file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f'] AND [file:size > 10]) WITHIN 5 SECONDS",
    "[a:b[*].c[-1] NOT IN (1, -2.5, true, h'ff', b'AAAA', t'2016-01-01T00:00:00Z')]",
    "[NOT EXISTS a:b] FOLLOWEDBY [x-y:z <> 'q\\'r'] REPEATS 2 TIMES",
    "[url:value = 'http://a/b' ] START t'2016-01-01T00:00:00Z' STOP t'2016-01-02T00:00:00.5Z'",
    "[a:b LIKE 'x' AND a:c MATCHES '^y' AND a:d ISSUBSET '10.0.0.0/8' OR a:e ISSUPERSET 'z']",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(11), ..ProptestConfig::default() })]

    // Any whitespace or comments between any two tokens (and around them) give the same tree.
    #[test]
    fn separators_between_tokens_change_nothing(
        which in 0..SAMPLES.len(),
        seps in prop::collection::vec(separator(), 64),
    ) {
        let src = SAMPLES[which];
        let want = parse_pattern(src).unwrap();
        let toks = lex(src).unwrap();
        let mut text = seps[0].clone();
        for (i, (at, _)) in toks.iter().enumerate() {
            let end = toks.get(i + 1).map_or(src.len(), |(n, _)| *n);
            text.push_str(src[*at..end].trim_end_matches(is_ws));
            // A line comment needs its line end before the next token; every sep keeps one.
            let sep = &seps[(i + 1) % seps.len()];
            if sep.is_empty() { text.push(' ') } else { text.push_str(sep) }
        }
        prop_assert_eq!(parse_pattern(&text), Ok(want), "{:?}", text);
    }
}
