//! `docs/config.md` is rendered from the doc comments of `src/config/raw.rs` (the config
//! reference) and must match the committed file. After editing `raw.rs`, regenerate it with
//!
//! ```sh
//! EDLFORGE_BLESS=1 cargo test --test tests deploy::docs::config_reference
//! ```
//!
//! Also here: the licence and the changelog's version heading.

use std::fmt::Write as _;

use crate::support::{golden, root};

/// One field of a raw struct.
#[derive(Debug)]
struct Field {
    key: String,
    ty: String,
    required: bool,
    doc: Vec<String>,
}

/// One raw struct: its doc and fields.
#[derive(Debug)]
struct Struct {
    name: String,
    doc: Vec<String>,
    fields: Vec<Field>,
}

/// Reads the structs of `raw.rs`: doc comments, `#[serde(...)]` attributes, `pub` fields.
fn parse(src: &str) -> Vec<Struct> {
    let mut out: Vec<Struct> = Vec::new();
    let mut doc: Vec<String> = Vec::new();
    let mut serde: Vec<String> = Vec::new();
    let mut inside = false;
    let mut pending = String::new();
    for line in src.lines() {
        let t = line.trim();
        if let Some(d) = t.strip_prefix("///") {
            doc.push(d.strip_prefix(' ').unwrap_or(d).to_string());
            continue;
        }
        if t.starts_with("#[serde(") {
            serde.push(t.to_string());
            continue;
        }
        if t.starts_with("#[") || t.starts_with("//") {
            continue;
        }
        if !inside {
            if let Some(rest) = t.strip_prefix("pub struct ") {
                let name = rest.trim_end_matches('{').trim().to_string();
                out.push(Struct {
                    name,
                    doc: std::mem::take(&mut doc),
                    fields: Vec::new(),
                });
                inside = true;
            }
            doc.clear();
            serde.clear();
            continue;
        }
        if t == "}" {
            inside = false;
            doc.clear();
            serde.clear();
            continue;
        }
        // A field, possibly split over lines by rustfmt: collect until the trailing comma.
        pending.push_str(t);
        if !pending.ends_with(',') {
            continue;
        }
        let decl = std::mem::take(&mut pending);
        let Some((name, ty)) = decl
            .trim_end_matches(',')
            .strip_prefix("pub ")
            .and_then(|d| d.split_once(':'))
        else {
            panic!("raw.rs: cannot read the field {decl:?}");
        };
        let attrs = serde.join(" ");
        let key = attr_value(&attrs, "rename").unwrap_or_else(|| name.trim().to_string());
        let ty = ty.trim().to_string();
        let required = !ty.starts_with("Option<") && !has_default(&attrs);
        let s = out.last_mut().expect("inside a struct");
        assert!(
            !doc.is_empty(),
            "raw.rs: {}.{} has no doc comment (the doc comments are the config reference)",
            s.name,
            name.trim()
        );
        s.fields.push(Field {
            key,
            ty,
            required,
            doc: std::mem::take(&mut doc),
        });
        serde.clear();
    }
    out
}

/// `rename = "x"` in a `#[serde(...)]` attribute.
fn attr_value(attrs: &str, key: &str) -> Option<String> {
    let at = attrs.find(&format!("{key} = \""))? + key.len() + 4;
    let end = attrs[at..].find('"')?;
    Some(attrs[at..at + end].to_string())
}

fn has_default(attrs: &str) -> bool {
    attrs
        .split(['(', ',', ')'])
        .any(|a| a.trim() == "default" || a.trim().starts_with("default ="))
}

/// Strips the wrappers that do not change what the user writes.
fn unwrap_ty(ty: &str) -> &str {
    let mut t = ty.trim();
    for w in ["Option<", "Spanned<", "Box<"] {
        if let Some(inner) = t.strip_prefix(w).and_then(|r| r.strip_suffix('>')) {
            t = unwrap_ty(inner);
        }
    }
    t
}

/// The raw struct a field holds (a sub-table or array of tables), if any.
fn table_of<'a>(ty: &'a str, structs: &[Struct]) -> Option<(&'a str, bool)> {
    let t = unwrap_ty(ty);
    if let Some(inner) = t.strip_prefix("Vec<").and_then(|r| r.strip_suffix('>')) {
        let inner = unwrap_ty(inner);
        return structs
            .iter()
            .any(|s| s.name == inner)
            .then_some((inner, true));
    }
    structs.iter().any(|s| s.name == t).then_some((t, false))
}

/// What the user writes, in TOML words.
fn toml_type(ty: &str) -> String {
    let t = unwrap_ty(ty);
    if let Some(inner) = t.strip_prefix("Vec<").and_then(|r| r.strip_suffix('>')) {
        return format!("array of {}", plural(&toml_type(inner)));
    }
    if let Some(inner) = t
        .strip_prefix("BTreeMap<String,")
        .and_then(|r| r.strip_suffix('>'))
    {
        return format!("table of {}", plural(&toml_type(inner)));
    }
    match t {
        "String" => "string".into(),
        "bool" => "boolean".into(),
        "i64" | "u64" | "u32" | "u16" | "usize" => "integer".into(),
        "f64" | "f32" => "float".into(),
        "RawColumn" => "string or integer".into(),
        "toml::Value" => "string or array of strings".into(),
        // A raw struct: a sub-table, documented in its own section below its parent.
        t if t.starts_with("Raw") => "table".into(),
        other => panic!(
            "raw.rs: no TOML name for the type {other:?}; add it to toml_type in tests/deploy/docs.rs"
        ),
    }
}

fn plural(t: &str) -> String {
    match t {
        "string or integer" => "strings or integers".into(),
        "string or array of strings" => t.into(),
        t if t.starts_with("array of") || t.starts_with("table of") => t.into(),
        t => format!("{t}s"),
    }
}

/// A doc comment as Markdown for one table cell: paragraphs kept apart with `<br><br>`.
fn cell(doc: &[String]) -> String {
    let mut paras: Vec<String> = vec![String::new()];
    for l in doc {
        if l.trim().is_empty() {
            paras.push(String::new());
        } else {
            let p = paras.last_mut().expect("one paragraph at least");
            if !p.is_empty() {
                p.push(' ');
            }
            p.push_str(l.trim());
        }
    }
    paras
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("<br><br>")
        .replace('|', "\\|")
}

/// Renders `docs/config.md` from the source of `raw.rs`.
fn render(src: &str) -> String {
    let structs = parse(src);
    let find = |n: &str| {
        structs
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("raw.rs has no struct {n}"))
    };
    let mut out = String::new();
    out.push_str(
        "<!-- Generated from the doc comments of src/config/raw.rs by tests/deploy/docs.rs; do not edit.\n     \
         Regenerate: EDLFORGE_BLESS=1 cargo test --test tests deploy::docs::config_reference -->\n\n\
         # `feeds.toml` reference\n\n\
         Every key edlforge reads from `feeds.toml`, section by section, with its TOML type and what it \
         does. The default column quotes the default the description states (\"—\": none stated, \
         the description says what an absent key means). Unknown keys are refused \
         (`file:line:column` and the key). Relative paths are relative to the config file. Secrets \
         (passwords, tokens, keys) are never written in clear: use `${env:NAME}` or `${file:/path}`.\n\n\
         `edlforge check --config feeds.toml` validates a file and prints every error at once. The \
         shipped [`feeds.toml`](../feeds.toml) is a working example with one list per vendor; \
         [`vendors/`](vendors/) has one per firewall.\n\n",
    );
    let root = find("RawConfig");
    let mut sections = Vec::new();
    let _ = writeln!(out, "## Sections\n");
    for f in &root.fields {
        if let Some((s, array)) = table_of(&f.ty, &structs) {
            let header = if array {
                format!("[[{}]]", f.key)
            } else {
                format!("[{}]", f.key)
            };
            let _ = writeln!(
                out,
                "- [`{header}`](#{}): {}",
                anchor(&header),
                cell(&f.doc)
            );
            sections.push((header, f.key.clone(), cell(&f.doc), find(s)));
        }
    }
    let top: Vec<&Field> = root
        .fields
        .iter()
        .filter(|f| table_of(&f.ty, &structs).is_none())
        .collect();
    if !top.is_empty() {
        let _ = writeln!(out, "\n## Top-level keys\n");
        table(&mut out, &top);
    }
    while !sections.is_empty() {
        let (header, path, about, s) = sections.remove(0);
        let _ = writeln!(out, "\n## `{header}`\n");
        // A struct doc that only repeats the header says less than the field that holds it.
        let own = cell(&s.doc);
        let only_header = own.trim_end_matches('.') == format!("`{header}`");
        let _ = writeln!(out, "{}\n", if only_header { &about } else { &own });
        let plain: Vec<&Field> = s.fields.iter().collect();
        table(&mut out, &plain);
        // Sub-tables follow their parent, in field order.
        let mut nested = Vec::new();
        for f in &s.fields {
            if let Some((sub, array)) = table_of(&f.ty, &structs) {
                let sub_path = format!("{path}.{}", f.key);
                let h = if array {
                    format!("{sub_path}[]")
                } else {
                    sub_path.clone()
                };
                nested.push((h, sub_path, cell(&f.doc), find(sub)));
            }
        }
        for (i, n) in nested.into_iter().enumerate() {
            sections.insert(i, n);
        }
    }
    out
}

fn table(out: &mut String, fields: &[&Field]) {
    out.push_str("| key | type | default | description |\n|---|---|---|---|\n");
    for f in fields {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            f.key,
            toml_type(&f.ty),
            default_of(f),
            cell(&f.doc)
        );
    }
}

/// The default a field's doc comment states ("Default X.", "`x` (the default)", "See
/// `[defaults] x`"), "required" for a required field, "empty" for a list or table, else "—"
/// (none stated: the description says what an absent key means).
fn default_of(f: &Field) -> String {
    if f.required {
        return "**required**".into();
    }
    let text = cell(&f.doc);
    if let Some(rest) = text.strip_prefix("See `[defaults] ") {
        if let Some(end) = rest.find('`') {
            return format!("`[defaults] {}`", &rest[..end]);
        }
    }
    let sentence = regex::Regex::new(r"(?:^|[.;] )[Dd]efault:? (.+?)(?:\.(?: |<br>|$)|$)")
        .expect("constant regex");
    if let Some(c) = sentence.captures(&text) {
        let v = c[1].trim();
        // `"green"`: AMBER/RED … → the literal; the rest stays in the description.
        if let Some(rest) = v.strip_prefix('`') {
            if let Some(end) = rest.find('`') {
                if rest[end + 1..].starts_with(':') {
                    return format!("`{}`", &rest[..end]);
                }
            }
        }
        return v.to_string();
    }
    let inline = regex::Regex::new(r"(`[^`]+`) \((?:the )?default[):]").expect("constant regex");
    if let Some(c) = inline.captures(&text) {
        return c[1].to_string();
    }
    let t = unwrap_ty(&f.ty);
    if t.starts_with("Vec<") || t.starts_with("BTreeMap<") {
        return "empty".into();
    }
    "—".into()
}

/// GitHub's heading anchor for `` `header` ``.
fn anchor(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| {
            if c == ' ' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

#[test]
fn config_reference() {
    let src = std::fs::read_to_string(root().join("src/config/raw.rs")).expect("read raw.rs");
    let got = render(&src);
    golden(&root().join("docs/config.md"), &got);
}

/// Every key of `raw.rs` is in the reference, with its section (a check on the renderer itself:
/// a field it failed to read would be missing here).
#[test]
fn config_reference_names_every_field() {
    let src = std::fs::read_to_string(root().join("src/config/raw.rs")).expect("read raw.rs");
    let fields = src
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("pub ")
                && !t.starts_with("pub struct")
                && !t.starts_with("pub enum")
                && l.starts_with("    pub ")
        })
        .count();
    let doc = render(&src);
    let rows = doc.lines().filter(|l| l.starts_with("| `")).count();
    // The top level's fields are the sections themselves, listed under "Sections".
    let sections = doc.lines().filter(|l| l.starts_with("- [`[")).count();
    assert_eq!(
        rows + sections,
        fields,
        "one row per field of raw.rs:\n{doc}"
    );
    for key in [
        "refresh",
        "data_dir",
        "max_entries",
        "listen",
        "collection",
        "token",
    ] {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "{key} missing:\n{doc}"
        );
    }
    for section in [
        "## `[store]`",
        "## `[[source]]`",
        "## `[[list]]`",
        "## `list.users[]`",
    ] {
        assert!(doc.contains(section), "{section} missing:\n{doc}");
    }
}
/// The licence file is the Apache-2.0 text that `Cargo.toml` declares.
#[test]
fn license_is_the_declared_apache_2() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("read Cargo.toml");
    assert!(manifest.contains("license = \"Apache-2.0\""));
    let text = std::fs::read_to_string(root().join("LICENSE")).expect("read LICENSE");
    assert!(text.contains("Apache License\n                           Version 2.0, January 2004"));
    assert!(text.contains("END OF TERMS AND CONDITIONS"));
}

/// The changelog names the version `Cargo.toml` declares (the release scheme it describes).
#[test]
fn changelog_names_the_current_version() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("read Cargo.toml");
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("Cargo.toml has a version");
    let log = std::fs::read_to_string(root().join("CHANGELOG.md")).expect("read CHANGELOG.md");
    assert!(log.contains("## [Unreleased]"));
    assert!(
        log.contains(&format!("## [{version}] - ")),
        "CHANGELOG.md has no heading for {version}"
    );
}

/// Every ```` ```toml ```` block in `docs/` is a complete `feeds.toml` that `edlforge check`
/// accepts (with `lists/block.txt` present and every `${env:NAME}` it names set).
#[test]
fn toml_snippets_in_docs_pass_check() {
    let mut files = Vec::new();
    let mut dirs = vec![root().join("docs")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d)
            .expect("read docs/")
            .map(|e| e.expect("entry"))
        {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                files.push(p);
            }
        }
    }
    files.sort();
    let env_ref = regex::Regex::new(r"\$\{env:([A-Za-z0-9_]+)\}").expect("constant regex");
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read doc");
        let mut block: Option<(usize, String)> = None;
        for (n, line) in text.lines().enumerate() {
            match &mut block {
                None if line.trim_start() == "```toml" => block = Some((n + 2, String::new())),
                Some((start, body)) if line.trim_start() == "```" => {
                    let dir = tempfile::tempdir().expect("temp dir");
                    std::fs::create_dir_all(dir.path().join("lists")).expect("mkdir");
                    std::fs::write(dir.path().join("lists/block.txt"), "192.0.2.10\n")
                        .expect("write block.txt");
                    std::fs::write(dir.path().join("feeds.toml"), &*body).expect("write");
                    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_edlforge"));
                    cmd.args(["check", "--config"])
                        .arg(dir.path().join("feeds.toml"));
                    for c in env_ref.captures_iter(body) {
                        cmd.env(&c[1], "0123456789abcdef0123456789abcdef");
                    }
                    let out = cmd.output().expect("edlforge check");
                    assert!(
                        out.status.success(),
                        "{}:{start}: the TOML block does not pass edlforge check:\n{body}\n{}{}",
                        file.display(),
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    checked += 1;
                    block = None;
                }
                Some((_, body)) => {
                    body.push_str(line);
                    body.push('\n');
                }
                None => {}
            }
        }
        assert!(
            block.is_none(),
            "{}: unclosed ```toml block",
            file.display()
        );
    }
    assert!(checked >= 7, "found only {checked} TOML blocks in docs/");
}

/// Every relative link in README.md, CHANGELOG.md and docs/ points at a file that exists.
#[test]
fn relative_links_resolve() {
    let link = regex::Regex::new(r"\]\(([^)#\s]+)(#[^)]*)?\)").expect("constant regex");
    let mut files = vec![root().join("README.md"), root().join("CHANGELOG.md")];
    let mut dirs = vec![root().join("docs")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d)
            .expect("read docs/")
            .map(|e| e.expect("entry"))
        {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                files.push(p);
            }
        }
    }
    let mut seen = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        for c in link.captures_iter(&text) {
            let target = &c[1];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let p = f.parent().expect("parent").join(target);
            assert!(
                p.exists(),
                "{}: link to {target}, which does not exist",
                f.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 20, "only {seen} relative links found");
}
