//! The first pass over `feeds.toml`: TOML syntax, unknown keys, and each table read on its own,
//! so one mistake does not hide the others.
//!
//! serde's `deny_unknown_fields` stops at the first unknown key and names every allowed one; a
//! type error in one `[[source]]` would hide every other problem of the file. Here the file is
//! parsed into a spanned table first, unknown keys are reported per table with the closest known
//! key (`did you mean "refresh"?`) and removed, and then `[store]`, `[defaults]`, `[server]`
//! and each `[[source]]` and `[[list]]` are deserialized one by one. The known keys come from
//! the raw structs themselves ([`fields`]), so this check cannot drift from `raw.rs`.
//!
//! A source that cannot be read is remembered ([`Broken`]): lists that name it or its tags get
//! no follow-on error (`no block source has tag "tor"`), since fixing the source fixes them.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::super::raw::{RawToken, RawUser};
use super::*;

/// Sources that have an error of their own: references to them are not checked again.
#[derive(Debug, Default)]
pub(super) struct Broken {
    /// Their names.
    pub(super) names: HashSet<String>,
    /// Their tags.
    pub(super) tags: HashSet<String>,
}

impl Broken {
    /// Remembers a source (by name and tags) that will not be built.
    pub(super) fn add(&mut self, name: &str, tags: &[String]) {
        self.names.insert(name.to_string());
        self.tags.extend(tags.iter().cloned());
    }
}

/// The tables whose keys are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Top,
    Store,
    Defaults,
    Server,
    Source,
    List,
    User,
    Token,
}

impl Table {
    /// The keys serde accepts for this table, read from the raw struct.
    fn known(self) -> &'static [&'static str] {
        match self {
            Table::Top => fields::<RawConfig>(),
            Table::Store => fields::<super::super::raw::RawStore>(),
            Table::Defaults => fields::<super::super::raw::RawDefaults>(),
            Table::Server => fields::<RawServer>(),
            Table::Source => fields::<RawSource>(),
            Table::List => fields::<RawList>(),
            Table::User => fields::<RawUser>(),
            Table::Token => fields::<RawToken>(),
        }
    }

    /// How the table is written, for messages.
    fn written(self) -> &'static str {
        match self {
            Table::Top => "the top level",
            Table::Store => "[store]",
            Table::Defaults => "[defaults]",
            Table::Server => "[server]",
            Table::Source => "[[source]]",
            Table::List => "[[list]]",
            Table::User => "users = [{ … }]",
            Table::Token => "tokens = [{ … }]",
        }
    }

    /// Keys holding tables (or arrays of tables) whose keys are checked too: (key, table, is
    /// an array of tables).
    fn children(self) -> &'static [(&'static str, Table, bool)] {
        match self {
            Table::Top => &[
                ("store", Table::Store, false),
                ("defaults", Table::Defaults, false),
                ("server", Table::Server, false),
                ("source", Table::Source, true),
                ("list", Table::List, true),
            ],
            Table::List => &[("users", Table::User, true), ("tokens", Table::Token, true)],
            _ => &[],
        }
    }
}

/// The field names serde's derive hands to `deserialize_struct` (renames applied): asked of
/// a deserializer that answers nothing else.
pub(super) fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    match T::deserialize(probe::Probe) {
        Err(probe::Fields(Some(f))) => f,
        _ => &[],
    }
}

mod probe {
    //! A deserializer that only records the field list of the struct asked for.

    /// The error that carries the field names out.
    #[derive(Debug)]
    pub(super) struct Fields(pub(super) Option<&'static [&'static str]>);

    impl std::fmt::Display for Fields {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field probe")
        }
    }

    impl std::error::Error for Fields {}

    impl serde::de::Error for Fields {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Fields(None)
        }
    }

    pub(super) struct Probe;

    impl<'de> serde::Deserializer<'de> for Probe {
        type Error = Fields;

        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(None))
        }

        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(Some(fields)))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
}

/// The optimal-string-alignment distance (an edit, or two neighbours swapped, costs 1).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The known key closest to `given`, when it is close enough to be a typo.
pub(super) fn closest(given: &str, known: &[&'static str]) -> Option<&'static str> {
    let g = given.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (distance(&g, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.chars().count() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn unknown_key_message(given: &str, table: Table) -> String {
    let known = table.known();
    let mut m = format!("unknown key {given:?} in {}", table.written());
    if let Some(k) = closest(given, known) {
        m.push_str(&format!(" (did you mean {k:?}?)"));
    } else if known.len() <= 8 {
        m.push_str(&format!("; expected one of: {}", known.join(", ")));
    } else {
        m.push_str(&format!(
            "; the keys of {} are documented in src/config/raw.rs and README.md",
            table.written()
        ));
    }
    m
}

/// The name a `[[source]]` or `[[list]]` table gives itself, for keys in messages.
fn table_name(t: &DeTable<'_>) -> Option<String> {
    t.get("name")
        .and_then(|v| v.get_ref().as_str())
        .map(str::to_string)
}

/// Reports and removes the unknown keys of `t` and of the tables below it.
fn check_keys(cx: &mut Ctx<'_>, t: &mut DeTable<'_>, table: Table, prefix: &str) {
    let known = table.known();
    let unknown: Vec<(String, std::ops::Range<usize>)> = t
        .iter()
        .filter(|(k, _)| !known.contains(&k.get_ref().as_ref()))
        .map(|(k, _)| (k.get_ref().to_string(), k.span()))
        .collect();
    for (k, span) in unknown {
        cx.err(
            span,
            &format!("{prefix}{k}"),
            unknown_key_message(&k, table),
        );
        t.remove(k.as_str());
    }
    for (key, child, array) in table.children() {
        let Some(v) = t.get_mut(*key) else { continue };
        match (v.get_mut(), array) {
            (DeValue::Table(sub), false) => check_keys(cx, sub, *child, &format!("{prefix}{key}.")),
            (DeValue::Array(items), true) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if let DeValue::Table(sub) = item.get_mut() {
                        let name = table_name(sub).unwrap_or_else(|| i.to_string());
                        check_keys(cx, sub, *child, &format!("{prefix}{key}.{name}."));
                    }
                }
            }
            // Wrong shapes are reported when the value is deserialized.
            _ => {}
        }
    }
}

/// The key in `t` whose value holds `span`, for a deserialization error's key.
fn key_at(t: Option<&DeTable<'_>>, span: &std::ops::Range<usize>) -> Option<String> {
    t?.iter()
        .find(|(_, v)| v.span().contains(&span.start))
        .map(|(k, _)| k.get_ref().to_string())
}

/// Deserializes one piece; on a type error reports it under `prefix` + the key at fault.
fn piece<T: DeserializeOwned>(
    cx: &mut Ctx<'_>,
    v: Spanned<DeValue<'_>>,
    prefix: &str,
) -> Option<T> {
    let whole = v.span();
    let table = match v.get_ref() {
        DeValue::Table(t) => Some(t.clone()),
        _ => None,
    };
    match T::deserialize(ValueDeserializer::from(v)) {
        Ok(t) => Some(t),
        Err(e) => {
            let span = e.span().unwrap_or(whole);
            let key = match key_at(table.as_ref(), &span) {
                Some(k) => format!("{prefix}.{k}"),
                None => prefix.to_string(),
            };
            cx.err(span, &key, e.message().trim().to_string());
            None
        }
    }
}

/// Reads `text`: syntax, unknown keys, then every table on its own. Every problem found goes
/// to `cx`; what could be read is returned, with the sources that could not.
pub(super) fn read(cx: &mut Ctx<'_>, text: &str) -> Option<(RawConfig, Broken)> {
    let doc = match DeTable::parse(text) {
        Ok(d) => d,
        Err(e) => {
            cx.err(
                e.span().unwrap_or(0..0),
                "toml",
                e.message().trim().to_string(),
            );
            return None;
        }
    };
    let mut top = doc.into_inner();
    check_keys(cx, &mut top, Table::Top, "");
    let mut raw = RawConfig::default();
    let mut broken = Broken::default();
    for (k, v) in top {
        match k.get_ref().as_ref() {
            "store" => raw.store = piece(cx, v, "store").unwrap_or_default(),
            "defaults" => raw.defaults = piece(cx, v, "defaults").unwrap_or_default(),
            "server" => raw.server = piece(cx, v, "server").unwrap_or_default(),
            "source" | "list" => {
                let is_source = k.get_ref() == "source";
                let items = match v.into_inner() {
                    DeValue::Array(a) => a,
                    other => {
                        cx.err(
                            k.span(),
                            k.get_ref(),
                            format!(
                                "{} is a {}; write [[{}]] tables",
                                k.get_ref(),
                                other.type_str(),
                                k.get_ref()
                            ),
                        );
                        continue;
                    }
                };
                for (i, item) in items.into_iter().enumerate() {
                    let (name, tags) = match item.get_ref() {
                        DeValue::Table(t) => (table_name(t), tags_of(t)),
                        _ => (None, Vec::new()),
                    };
                    let prefix = format!(
                        "{}.{}",
                        k.get_ref(),
                        name.clone().unwrap_or_else(|| i.to_string())
                    );
                    if is_source {
                        match piece::<RawSource>(cx, item, &prefix) {
                            Some(s) => raw.sources.push(s),
                            None => broken.add(name.as_deref().unwrap_or_default(), &tags),
                        }
                    } else if let Some(l) = piece::<RawList>(cx, item, &prefix) {
                        raw.lists.push(l);
                    }
                }
            }
            // Unknown top-level keys were removed above.
            _ => {}
        }
    }
    Some((raw, broken))
}

fn tags_of(t: &DeTable<'_>) -> Vec<String> {
    match t.get("tags").map(|v| v.get_ref()) {
        Some(DeValue::Array(a)) => a
            .iter()
            .filter_map(|v| v.get_ref().as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_come_from_the_raw_structs() {
        for t in [
            Table::Top,
            Table::Store,
            Table::Defaults,
            Table::Server,
            Table::Source,
            Table::List,
            Table::User,
            Table::Token,
        ] {
            assert!(!t.known().is_empty(), "{t:?}");
            for (k, _, _) in t.children() {
                assert!(t.known().contains(k), "{t:?}.{k}");
            }
        }
        // Renamed fields appear under their names in the file.
        assert!(Table::Source.known().contains(&"type"));
        assert!(Table::Top.known().contains(&"source"));
        assert!(!Table::Source.known().contains(&"kind_filter"));
    }

    proptest::proptest! {
        #[test]
        fn any_text_gives_a_config_or_errors_in_file_order(
            lines in proptest::collection::vec(
                "(\\[\\[source\\]\\]|\\[\\[list\\]\\]|\\[defaults\\]|\\[server\\]|name = \"[a-z]{1,3}\"|vendor = \"plain\"|refersh = \"1h\"|confidence = \"x\"|path = \"x.txt\"|tags = \\[\"t\"\\]|sources = \\[\"tag:t\"\\]|[a-z =\"\\[\\]{}]{0,12})",
                0..12,
            )
        ) {
            let text = lines.join("\n");
            if let Err(errors) = load(&text, Path::new("/nonexistent/feeds.toml")) {
                proptest::prop_assert!(!errors.is_empty());
                let mut last = (0, 0);
                for e in &errors {
                    let at = (e.location.line, e.location.column);
                    proptest::prop_assert!(at >= last, "{:?}", errors);
                    last = at;
                }
            }
        }
    }

    #[test]
    fn typos_get_the_closest_key() {
        let k = Table::Source.known();
        assert_eq!(closest("refersh", k), Some("refresh"));
        assert_eq!(closest("confidance", k), Some("confidence"));
        assert_eq!(closest("bearer-token", k), Some("bearer_token"));
        assert_eq!(closest("colour_scheme", k), None);
        assert_eq!(closest("sources", Table::Top.known()), Some("source"));
    }
}
