//! `[lists.NAME]`: vendor, selection, allowlists, access.

use super::server::access;
use super::*;

pub(super) fn list(
    cx: &mut Ctx<'_>,
    rl: &RawList,
    sources: &[Source],
    role_of: &HashMap<&str, Role>,
    default_allow: &[String],
) -> Option<List> {
    let before = cx.errors.len();
    let name = rl.name.get_ref().clone();
    let key = |k: &str| format!("list.{name}.{k}");
    if !valid_name(&name) {
        cx.err(
            rl.name.span(),
            "list.name",
            format!("bad list name {name:?}: {NAME_RULE}"),
        );
    }
    let vendor = match Vendor::from_str(rl.vendor.get_ref()) {
        Ok(v) => Some(v),
        Err(e) => {
            cx.err(rl.vendor.span(), &key("vendor"), e.to_string());
            None
        }
    };
    let mut kinds = Vec::new();
    for t in &rl.types {
        match Kind::from_str(t.get_ref()) {
            Ok(k) if !kinds.contains(&k) => kinds.push(k),
            Ok(_) => {}
            Err(e) => cx.err(t.span(), &key("types"), e),
        }
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    if rl.sources.is_empty() {
        names.extend(
            sources
                .iter()
                .filter(|s| s.role == Role::Block)
                .map(|s| s.name.clone()),
        );
    }
    for r in &rl.sources {
        let r_str = r.get_ref();
        if let Some(tag) = r_str.strip_prefix("tag:") {
            let tagged: Vec<&Source> = sources
                .iter()
                .filter(|s| s.role == Role::Block && s.tags.iter().any(|t| t == tag))
                .collect();
            // A tag a source with an error of its own carries is no follow-on error here.
            if tagged.is_empty() && !cx.broken.tags.contains(tag) {
                cx.err(
                    r.span(),
                    &key("sources"),
                    format!("no block source has tag {tag:?}"),
                );
            }
            names.extend(tagged.iter().map(|s| s.name.clone()));
        } else {
            match role_of.get(r_str.as_str()) {
                Some(Role::Block) => {
                    names.insert(r_str.clone());
                }
                Some(Role::Allow) => cx.err(
                    r.span(),
                    &key("sources"),
                    format!("{r_str:?} is an allow source; put it in allow = [...]"),
                ),
                None if cx.broken.names.contains(r_str) => {}
                None => cx.err(
                    r.span(),
                    &key("sources"),
                    format!("no source named {r_str:?}"),
                ),
            }
        }
    }
    let mut allow: BTreeSet<String> = default_allow.iter().cloned().collect();
    for a in &rl.allow {
        if let Some(n) = check_allow_ref(cx, a, role_of, &key("allow")) {
            allow.insert(n);
        }
    }
    let min_sources = match &rl.min_sources {
        None => 1,
        Some(n) if (1..=1000).contains(n.get_ref()) => *n.get_ref() as usize,
        Some(n) => {
            cx.err(n.span(), &key("min_sources"), "must be in 1..=1000");
            1
        }
    };
    let max_entries = match &rl.max_entries {
        None => None,
        Some(n) if *n.get_ref() >= 1 => Some(*n.get_ref() as u64),
        Some(n) => {
            cx.err(n.span(), &key("max_entries"), "must be at least 1");
            None
        }
    };
    let category = match &rl.category {
        Some(c) => {
            let ok = !c.get_ref().is_empty()
                && c.get_ref().len() <= 64
                && c.get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !ok {
                cx.err(
                    c.span(),
                    &key("category"),
                    "use letters, digits, '_', '-' or '.' (at most 64)",
                );
            }
            c.get_ref().clone()
        }
        None => name.clone(),
    };
    let max_tlp = cx.tlp(&rl.max_tlp, &key("max_tlp"), Tlp::Green);
    let access = access(cx, rl, &key, max_tlp);
    let l = List {
        access,
        name: name.clone(),
        location: cx.loc(rl.name.span()),
        vendor: vendor?,
        vendor_location: cx.loc(rl.vendor.span()),
        kinds,
        sources: names.into_iter().collect(),
        allow: allow.into_iter().collect(),
        min_confidence: cx.percent(&rl.min_confidence, &key("min_confidence"), 0),
        min_sources,
        max_tlp,
        max_entries,
        ranges: rl.ranges.unwrap_or(false),
        category,
        subdomains: rl.subdomains.unwrap_or(false),
        organization: String::new(),
        share_retention: cx.duration(
            &rl.share_retention,
            &key("share_retention"),
            std::time::Duration::from_secs(30 * 86_400),
        ),
    };
    (cx.errors.len() == before).then_some(l)
}
