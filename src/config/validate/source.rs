//! `[[source]]`: transport, TAXII settings, extraction, gates.

use super::*;

pub(super) struct SourceDefaults {
    pub(super) refresh: Duration,
    pub(super) timeout: Duration,
    pub(super) keep_for: Duration,
    pub(super) confidence: u8,
    pub(super) tlp: Tlp,
    pub(super) max_body: u64,
    pub(super) retries: u32,
    pub(super) proxy: Option<String>,
    pub(super) user_agent: String,
}

pub(super) fn check_allow_ref(
    cx: &mut Ctx<'_>,
    a: &Spanned<String>,
    role_of: &HashMap<&str, Role>,
    key: &str,
) -> Option<String> {
    match role_of.get(a.get_ref().as_str()) {
        Some(Role::Allow) => Some(a.get_ref().clone()),
        Some(Role::Block) => {
            cx.err(
                a.span(),
                key,
                format!("source {:?} has role \"block\"; only role = \"allow\" sources can be allowlists", a.get_ref()),
            );
            None
        }
        // A source with an error of its own: fixing it fixes this reference.
        None if cx.broken.names.contains(a.get_ref()) => None,
        None => {
            cx.err(a.span(), key, format!("no source named {:?}", a.get_ref()));
            None
        }
    }
}

/// Why a `file` source's path cannot be read now, if it cannot. The kind of file is checked
/// before opening it: opening a FIFO would block until a writer came.
fn unreadable(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some("no such file".into()),
        Err(e) => return Some(e.to_string()),
        Ok(m) if m.is_dir() => return Some("it is a directory".into()),
        Ok(m) if !m.is_file() => return Some("not a regular file".into()),
        Ok(_) => {}
    }
    std::fs::File::open(path).err().map(|e| e.to_string())
}

pub(super) fn source(cx: &mut Ctx<'_>, rs: &RawSource, d: &SourceDefaults) -> Option<Source> {
    let before = cx.errors.len();
    let name = rs.name.get_ref().clone();
    let key = |k: &str| format!("source.{name}.{k}");
    let kind = match (&rs.kind, &rs.url, &rs.path) {
        (Some(k), _, _) => k.get_ref().clone(),
        (None, Some(_), None) => "http".into(),
        (None, None, Some(_)) => "file".into(),
        (None, Some(u), Some(_)) => {
            cx.err(
                u.span(),
                &key("url"),
                "set either url (kind = \"http\") or path (kind = \"file\"), not both",
            );
            return None;
        }
        (None, None, None) => {
            cx.err(
                rs.name.span(),
                &key("url"),
                "a source needs url = \"https://…\" or path = \"lists/….txt\"",
            );
            return None;
        }
    };
    let transport = match kind.as_str() {
        "http" | "taxii" => {
            let Some(u) = &rs.url else {
                let span = rs.kind.as_ref().map_or(rs.name.span(), |k| k.span());
                cx.err(
                    span,
                    &key("url"),
                    format!("kind = {kind:?} needs url = \"https://…\""),
                );
                return None;
            };
            // A URL that cannot be resolved is reported; the rest of the source is still
            // checked (and the source dropped at the end), so every problem shows at once.
            let resolved = cx.secret_as(u, &key("url"), Secret::Url);
            let url = resolved.clone().unwrap_or_default();
            if resolved.is_some() && !(url.starts_with("https://") || url.starts_with("http://")) {
                cx.err(
                    u.span(),
                    &key("url"),
                    "url must start with https:// (or http:// for internal mirrors)",
                );
            }
            let mut headers = Vec::new();
            for (h, v) in &rs.headers {
                if let Some(val) = cx.secret_as(
                    v,
                    &key(&format!("headers.{h}")),
                    if secret::secret_header(h) {
                        Secret::Header
                    } else {
                        Secret::Plain
                    },
                ) {
                    headers.push((h.clone(), val));
                }
            }
            let basic = match (&rs.username, &rs.password) {
                (Some(u), Some(p)) => {
                    let u = cx.secret(u, &key("username"), false);
                    let p = cx.secret(p, &key("password"), true);
                    u.zip(p)
                }
                (Some(u), None) => {
                    cx.err(
                        u.span(),
                        &key("password"),
                        "username needs password = \"${env:NAME}\"",
                    );
                    None
                }
                (None, Some(p)) => {
                    cx.err(p.span(), &key("username"), "password needs username");
                    None
                }
                (None, None) => None,
            };
            let bearer = rs
                .bearer_token
                .as_ref()
                .and_then(|t| cx.secret(t, &key("bearer_token"), true));
            let file =
                |cx: &mut Ctx<'_>, v: &Option<Spanned<String>>, k: &str| -> Option<PathBuf> {
                    let v = v.as_ref()?;
                    let p = cx.path(v.get_ref());
                    if !p.is_file() {
                        cx.err(
                            v.span(),
                            &key(k),
                            format!("{} is not a readable file", p.display()),
                        );
                    }
                    Some(p)
                };
            let client_cert = file(cx, &rs.client_cert, "client_cert");
            let client_key = file(cx, &rs.client_key, "client_key");
            if client_cert.is_some() != client_key.is_some() {
                cx.err(
                    rs.name.span(),
                    &key("client_cert"),
                    "client_cert and client_key go together",
                );
            }
            let ca_file = file(cx, &rs.ca_file, "ca_file");
            let proxy = match &rs.proxy {
                Some(p) => cx.secret_as(p, &key("proxy"), Secret::Url),
                None => d.proxy.clone(),
            };
            let http = HttpSettings {
                url,
                headers,
                basic,
                bearer,
                client_cert,
                client_key,
                ca_file,
                proxy,
                timeout: cx.duration(&rs.timeout, &key("timeout"), d.timeout),
                retries: rs.retries.unwrap_or(d.retries),
                max_body: cx.size(&rs.max_body, &key("max_body"), d.max_body),
                user_agent: rs
                    .user_agent
                    .clone()
                    .unwrap_or_else(|| d.user_agent.clone()),
            };
            if kind == "taxii" {
                taxii_settings(cx, rs, http, &key)
            } else {
                Transport::Http(Box::new(http))
            }
        }
        "file" => {
            let Some(p) = &rs.path else {
                cx.err(
                    rs.name.span(),
                    &key("path"),
                    "kind = \"file\" needs path = \"lists/….txt\"",
                );
                return None;
            };
            let path = cx.path(p.get_ref());
            if let Some(why) = unreadable(&path) {
                let loc = cx.loc(p.span());
                cx.check_errors.push(ConfigError {
                    file: cx.file.to_path_buf(),
                    location: loc,
                    key: key("path"),
                    message: format!(
                        "cannot read {} ({why}); fix the path or create the file (it may be empty)",
                        path.display()
                    ),
                });
            }
            Transport::File { path }
        }
        other => {
            let span = rs.kind.as_ref().map_or(rs.name.span(), |k| k.span());
            cx.err(
                span,
                &key("kind"),
                format!("unknown kind {other:?}; expected http, file or taxii"),
            );
            return None;
        }
    };
    if kind != "taxii" {
        taxii_only(cx, rs, &key);
    }
    let mut extract = extract(cx, rs, &key)?;
    if kind == "taxii" {
        if let Some(f) = rs.format.as_ref().filter(|f| f.get_ref() != "stix") {
            cx.err(
                f.span(),
                &key("format"),
                "a TAXII source always reads STIX 2.1; remove format (or write format = \"stix\")",
            );
        }
        extract.syntax = Syntax::Stix;
    }
    let role = match rs.role.as_ref().map(|r| r.get_ref().as_str()) {
        None | Some("block") => Role::Block,
        Some("allow") => Role::Allow,
        Some(other) => {
            let span = rs.role.as_ref().map_or(0..0, |r| r.span());
            cx.err(
                span,
                &key("role"),
                format!("unknown role {other:?}; expected block or allow"),
            );
            Role::Block
        }
    };
    let ratio = |cx: &mut Ctx<'_>, v: &Option<Spanned<f64>>, k: &str, default: f64| match v {
        None => default,
        Some(x) if (0.0..=1.0).contains(x.get_ref()) => *x.get_ref(),
        Some(x) => {
            cx.err(
                x.span(),
                &key(k),
                format!("{} is not a share in 0.0..=1.0", x.get_ref()),
            );
            default
        }
    };
    let gates = Gates {
        max_invalid_ratio: ratio(cx, &rs.max_invalid_ratio, "max_invalid_ratio", 0.5),
        allow_empty: rs.allow_empty.unwrap_or(false),
        // A hand-kept file shrinks because someone deleted entries on purpose: no shrink gate
        // unless asked for (the empty gate still catches a truncated file).
        max_shrink: ratio(
            cx,
            &rs.max_shrink,
            "max_shrink",
            if matches!(transport, Transport::File { .. }) {
                1.0
            } else {
                0.5
            },
        ),
    };
    let s = Source {
        name: name.clone(),
        location: cx.loc(rs.name.span()),
        transport,
        extract,
        refresh: cx.duration(&rs.refresh, &key("refresh"), d.refresh),
        confidence: cx.percent(&rs.confidence, &key("confidence"), d.confidence),
        tlp: cx.tlp(&rs.tlp, &key("tlp"), d.tlp),
        tags: rs.tags.clone(),
        keep_for: cx.duration(&rs.keep_for, &key("keep_for"), d.keep_for),
        role,
        gates,
    };
    (cx.errors.len() == before).then_some(s)
}

/// The TAXII part of a `kind = "taxii"` source: collection, first-poll lookback, page size.
fn taxii_settings(
    cx: &mut Ctx<'_>,
    rs: &RawSource,
    http: HttpSettings,
    key: &dyn Fn(&str) -> String,
) -> Transport {
    let collection = match &rs.collection {
        Some(c) if !c.get_ref().trim().is_empty() => c.get_ref().trim().to_string(),
        Some(c) => {
            cx.err(
                c.span(),
                &key("collection"),
                "collection is empty; write the collection's id or title",
            );
            String::new()
        }
        None => {
            cx.err(
                rs.name.span(),
                &key("collection"),
                "kind = \"taxii\" needs collection = \"<collection id or title>\"",
            );
            String::new()
        }
    };
    let initial_lookback = rs.initial_lookback.as_ref().map(|_| {
        cx.duration(
            &rs.initial_lookback,
            &key("initial_lookback"),
            Duration::ZERO,
        )
    });
    let page_size = match &rs.page_size {
        None => crate::config::DEFAULT_TAXII_PAGE_SIZE,
        Some(n) if (1..=1_000_000).contains(n.get_ref()) => *n.get_ref() as u32,
        Some(n) => {
            cx.err(
                n.span(),
                &key("page_size"),
                format!("page_size {} is not in 1..=1000000", n.get_ref()),
            );
            crate::config::DEFAULT_TAXII_PAGE_SIZE
        }
    };
    Transport::Taxii(Box::new(TaxiiSettings {
        http,
        collection,
        initial_lookback,
        page_size,
    }))
}

/// Refuses the TAXII keys on a source of another kind.
fn taxii_only(cx: &mut Ctx<'_>, rs: &RawSource, key: &dyn Fn(&str) -> String) {
    let spans = [
        ("collection", rs.collection.as_ref().map(|c| c.span())),
        (
            "initial_lookback",
            rs.initial_lookback.as_ref().map(|c| c.span()),
        ),
        ("page_size", rs.page_size.as_ref().map(|c| c.span())),
    ];
    for (k, span) in spans {
        if let Some(span) = span {
            cx.err(span, &key(k), format!("{k} is for kind = \"taxii\" only"));
        }
    }
}

fn extract(cx: &mut Ctx<'_>, rs: &RawSource, key: &dyn Fn(&str) -> String) -> Option<Extract> {
    let syntax = match rs.format.as_ref().map(|f| f.get_ref().as_str()) {
        None | Some("text") => Syntax::Text,
        Some("csv") => Syntax::Csv,
        Some("json") => Syntax::Json,
        Some("jsonl") => Syntax::Jsonl,
        Some("stix") => Syntax::Stix,
        Some(other) => {
            let span = rs.format.as_ref().map_or(0..0, |f| f.span());
            cx.err(
                span,
                &key("format"),
                format!("unknown format {other:?}; expected text, csv, json, jsonl or stix"),
            );
            return None;
        }
    };
    let kind = match rs.kind_filter.as_ref().map(|k| k.get_ref().as_str()) {
        None | Some("auto") => None,
        Some(k) => match Kind::from_str(k) {
            Ok(k) => Some(k),
            Err(e) => {
                let span = rs.kind_filter.as_ref().map_or(0..0, |k| k.span());
                cx.err(span, &key("type"), format!("{e} (or auto)"));
                None
            }
        },
    };
    let regex = match &rs.regex {
        None => None,
        Some(r) => match regex::Regex::new(r.get_ref()) {
            Ok(re) if re.captures_len() == 2 => Some(re),
            Ok(_) => {
                cx.err(
                    r.span(),
                    &key("regex"),
                    "the regex needs exactly one capture group: the indicator",
                );
                None
            }
            Err(e) => {
                cx.err(r.span(), &key("regex"), format!("bad regex: {e}"));
                None
            }
        },
    };
    if regex.is_some() && syntax != Syntax::Text {
        let span = rs.regex.as_ref().map_or(0..0, |r| r.span());
        cx.err(
            span,
            &key("regex"),
            "regex applies to format = \"text\" only",
        );
    }
    let column = match &rs.column {
        None => None,
        Some(c) => match c.get_ref() {
            RawColumn::Name(n) => Some(Column::Name(n.clone())),
            RawColumn::Index(i) if *i >= 0 => Some(Column::Index(*i as usize)),
            RawColumn::Index(i) => {
                cx.err(
                    c.span(),
                    &key("column"),
                    format!("column index {i} is negative (0 is the first)"),
                );
                None
            }
        },
    };
    if syntax == Syntax::Csv && column.is_none() && rs.column.is_none() {
        cx.err(
            rs.name.span(),
            &key("column"),
            "format = \"csv\" needs column = \"name\" or column = 0",
        );
    }
    let delimiter = match &rs.delimiter {
        None => b',',
        Some(d) if d.get_ref().len() == 1 => d.get_ref().as_bytes()[0],
        Some(d) if d.get_ref() == "\\t" => b'\t',
        Some(d) => {
            cx.err(
                d.span(),
                &key("delimiter"),
                "delimiter must be one ASCII character",
            );
            b','
        }
    };
    let json = matches!(syntax, Syntax::Json | Syntax::Jsonl);
    if json && rs.value.is_none() {
        cx.err(
            rs.name.span(),
            &key("value"),
            "format = \"json\"/\"jsonl\" needs value = \"field.path\"",
        );
    }
    Some(Extract {
        syntax,
        kind,
        regex,
        column,
        delimiter,
        comment: rs.comment.clone().or_else(|| Some("#".into())),
        header: rs.header.unwrap_or(true),
        header_in_comment: rs.header_in_comment.unwrap_or(false),
        items: rs.items.clone(),
        value: rs.value.as_ref().map(|v| v.get_ref().clone()),
        confidence_field: rs.confidence_field.clone(),
        expires_field: rs.expires_field.clone(),
        tags_field: rs.tags_field.clone(),
        comment_field: rs.comment_field.clone(),
    })
}
