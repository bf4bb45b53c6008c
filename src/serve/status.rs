//! The status page (`/`, plain server-rendered HTML: no scripts, no external assets) and
//! `/status.json` (the same data). The owner of the server fills the [`Board`] after every
//! cycle and reload; request-time facts (what is published, who polled) are merged in by
//! [`View::gather`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::State;

/// The config reload state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reload {
    /// Whether the last load of feeds.toml succeeded.
    pub ok: bool,
    /// When the running config was loaded.
    pub loaded_at: Option<i64>,
    /// When a change was last refused.
    pub refused_at: Option<i64>,
    /// The refusal's errors (`file:line:column: key: message`).
    pub errors: Vec<String>,
}

/// A failure an operator must see: a cycle that could not run, a TLS certificate refused.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Failure {
    /// When it happened.
    pub at: i64,
    /// Fixed reason id (`disk_full`, `store`, …; `tls` for a certificate).
    pub reason: String,
    /// The error, for people (`… No space left on device (os error 28)`).
    pub message: String,
}

/// One source on the status page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceView {
    /// Name.
    pub name: String,
    /// `http`, `file`, `taxii`.
    pub kind: String,
    /// URL (credentials and query values masked) or path.
    pub location: String,
    /// `block` or `allow`.
    pub role: String,
    /// Configured refresh interval, seconds.
    pub refresh_secs: u64,
    /// Last fetch attempt.
    pub last_attempt: Option<i64>,
    /// Last success.
    pub last_success: Option<i64>,
    /// Records held.
    pub records: u64,
    /// Records held by type.
    pub by_type: BTreeMap<String, u64>,
    /// Skips of the last accepted parse, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Last error message.
    pub last_error: Option<String>,
    /// Last error reason id.
    pub last_error_reason: Option<String>,
}

/// One list on the status page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListView {
    /// Name.
    pub name: String,
    /// Vendor id.
    pub vendor: String,
    /// `none`, `basic`, `token`.
    pub auth: String,
    /// Path to fetch it.
    pub path: String,
    /// Line cap.
    pub max_entries: Option<u64>,
    /// Last compile.
    pub compiled_at: Option<i64>,
    /// Last content change.
    pub changed_at: Option<i64>,
    /// Lines.
    pub entries: u64,
    /// ETag served.
    pub etag: Option<String>,
    /// Drops of the last compile by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Whether it is served (else 503).
    pub available: bool,
    /// Successful polls since start.
    pub polls: u64,
    /// Last poll per client.
    pub last_polls: BTreeMap<String, i64>,
    /// Requests refused for missing or wrong credentials since start.
    pub refused: u64,
    /// When the last refusal happened.
    pub last_refused: Option<i64>,
    /// Block sources of the list whose last fetch failed or that never delivered.
    pub failing_sources: Vec<String>,
    /// Why the last compile was not published, if it was not.
    pub withheld: Option<String>,
    /// The reason id of `withheld` (`never_delivered`).
    pub withheld_reason: Option<String>,
    /// When a source the held-back list waits for is next tried (Unix seconds); `None` for
    /// `file` sources (read again when the file changes).
    pub next_attempt: Option<i64>,
    /// PostgreSQL only: the database version this replica serves (compare replicas).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<ListSeen>,
}

/// The database version of a list a replica serves (PostgreSQL backend).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ListSeen {
    /// The version (1 for the first publish, then one more each time).
    pub version: i64,
    /// The leader generation that published it.
    pub generation: i64,
    /// When the leader published it (Unix seconds, the database's clock).
    pub published_at: i64,
    /// When this replica started serving it (Unix seconds, its own clock).
    pub applied_at: i64,
}

/// What a replica does: the leader fetches, compiles and publishes; a follower serves what
/// the leader published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Fetches, compiles and publishes (always, with the embedded store).
    #[default]
    Leader,
    /// Serves what the leader published.
    Follower,
}

impl Role {
    /// `"leader"` or `"follower"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
        }
    }
}

/// The PostgreSQL database as a replica sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Database {
    /// Whether it answers.
    pub up: bool,
    /// `host:port/dbname` (empty before the first connection).
    pub target: String,
    /// Since when `up` holds (Unix seconds).
    pub since: i64,
    /// Round trip of the last probe (one read), seconds; `None` while unreachable.
    pub latency_seconds: Option<f64>,
}

/// This replica among the others on one database (PostgreSQL backend): who it is, the hashes
/// of its configuration and whether they match the leader's.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplicaView {
    /// host:pid (`edlforge_leader.holder` when it leads).
    pub holder: String,
    /// SHA-256 (hex) of feeds.toml as parsed (comments and layout do not count).
    pub config_hash: String,
    /// SHA-256 (hex) of the files its `file` sources read (`lists/`).
    pub files_hash: String,
    /// The leader's holder, as the database says (`""` before any replica led).
    pub leader: String,
    /// The leader's hashes (`None` until it has written its row).
    pub leader_config_hash: Option<String>,
    /// See `leader_config_hash`.
    pub leader_files_hash: Option<String>,
    /// Whether both hashes equal the leader's (`None` while unknown).
    pub matches_leader: Option<bool>,
    /// Every replica of the database seen in the last day, newest first.
    pub replicas: Vec<ReplicaSeen>,
}

/// One row of the replicas table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplicaSeen {
    /// host:pid.
    pub holder: String,
    /// `leader` or `follower`, as it last said.
    pub role: String,
    /// Its feeds.toml hash.
    pub config_hash: String,
    /// Its `lists/` files hash.
    pub files_hash: String,
    /// Seconds since it last checked in.
    pub seen_secs_ago: f64,
}

/// What the owner of the server reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Board {
    /// Process start.
    pub started_at: i64,
    /// Config file.
    pub config: String,
    /// TLS description (mode, certificate fingerprint).
    pub tls: String,
    /// This replica's role (`"leader"` with the embedded store).
    pub role: Role,
    /// The PostgreSQL database (absent with the embedded store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    /// This replica among the others (absent with the embedded store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<ReplicaView>,
    /// Config reload state.
    pub reload: Reload,
    /// Sources in config order.
    pub sources: Vec<SourceView>,
    /// Lists in config order.
    pub lists: Vec<ListView>,
    /// When the last compile cycle ended.
    pub last_cycle: Option<i64>,
    /// Why the last cycle failed, while it has not succeeded since.
    pub cycle_error: Option<Failure>,
    /// Why the last new TLS certificate was refused, while none has loaded since.
    pub tls_error: Option<Failure>,
}

/// The board with request-time facts merged in.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// Now.
    pub now: i64,
    /// edlforge version.
    pub version: &'static str,
    /// The board.
    #[serde(flatten)]
    pub board: Board,
}

impl View {
    /// Reads the board and merges publication and polls.
    pub fn gather(state: &State, now: i64) -> View {
        let mut board = state.board.lock().map(|b| b.clone()).unwrap_or_default();
        let polls = state.polls();
        for l in &mut board.lists {
            if let Some(p) = state.list(&l.name) {
                l.available = true;
                l.entries = p.entries;
                l.etag = Some(p.etag.clone());
                l.changed_at = Some(p.changed_at);
            } else {
                l.available = false;
            }
            if let Some(p) = polls.get(&l.name) {
                l.polls = p.count;
                l.last_polls = p.last.iter().map(|(k, v)| (k.clone(), *v)).collect();
                l.refused = p.refused;
                l.last_refused = p.last_refused;
            }
        }
        View {
            now,
            version: env!("CARGO_PKG_VERSION"),
            board,
        }
    }
}

/// Why a configured list is not served, in one line for people (the body of its 503 and of
/// `/readyz`): withheld by the publication rule (with the sources it waits for and when the
/// next of them is tried), or not compiled yet (the first compile has not finished, or the last
/// one failed).
pub fn unavailable(state: &State, list: &str, now: i64) -> String {
    let Ok(b) = state.board.lock() else {
        return format!("list {list} is not served yet; try again shortly");
    };
    let view = b.lists.iter().find(|l| l.name == list);
    if let Some(w) = view.and_then(|l| l.withheld.as_deref()) {
        let next = match view.and_then(|l| l.next_attempt) {
            Some(t) => format!(
                "the next attempt is due at {} (in {})",
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64)
                ),
                age(t.saturating_sub(now))
            ),
            None => "it is compiled again as soon as the source file changes".to_string(),
        };
        return format!("list {list} is {w}; {next}");
    }
    match (b.cycle_error.as_ref().map(|f| &f.message), b.last_cycle) {
        (Some(e), _) => format!(
            "list {list} has not been compiled yet: the last compile failed ({e}); retrying within 30 s"
        ),
        (None, None) => format!(
            "list {list} has not been compiled yet: the first compile since start is running; try again shortly"
        ),
        (None, Some(_)) => format!(
            "list {list} has not been compiled yet: it is new in the config and its first compile is running; try again shortly"
        ),
    }
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn when(t: Option<i64>, now: i64) -> String {
    match t {
        None => "never".into(),
        Some(t) => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
            let stamp = humantime::format_rfc3339_seconds(at).to_string();
            format!(
                "<span title=\"{}\">{} ago</span>",
                esc(&stamp),
                age(now.saturating_sub(t))
            )
        }
    }
}

/// A duration in its largest whole unit (`90s`, `15m`, `1h`, `2d`), rounded down past 2 units.
fn age(secs: i64) -> String {
    let s = secs.max(0);
    let exact = |unit: i64| s >= unit && s % unit == 0;
    if exact(86_400) || s >= 172_800 {
        format!("{}d", s / 86_400)
    } else if exact(3600) || s >= 7200 {
        format!("{}h", s / 3600)
    } else if exact(60) || s >= 120 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let d = n.to_string();
    let mut o = String::with_capacity(d.len() + d.len() / 3);
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// Health of a source: `ok`, `stale` (no success for over twice its refresh), `failing` (last
/// attempt failed), `never` (no success yet).
pub fn health(s: &SourceView, now: i64) -> &'static str {
    match s.last_success {
        None => {
            if s.last_attempt.is_some() {
                "failing"
            } else {
                "never"
            }
        }
        Some(ok) => {
            if s.last_error.is_some() && s.last_attempt.is_some_and(|a| a > ok) {
                "failing"
            } else if now - ok > 2 * s.refresh_secs.max(60) as i64 && s.kind != "file" {
                "stale"
            } else {
                "ok"
            }
        }
    }
}

fn counts(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "–".into();
    }
    m.iter()
        .map(|(k, v)| format!("{}&nbsp;{}", thousands(*v), esc(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The cycle and TLS failures, each with its message.
fn failures(o: &mut String, b: &Board, now: i64) {
    if let Some(f) = &b.cycle_error {
        let _ = writeln!(
            o,
            "<p>Cycle: <span class=\"b refused\">failed</span> {} — the lists served stay those of the last good cycle; retrying in 30 s:<br><code>{}</code></p>",
            when(Some(f.at), now),
            esc(&f.message)
        );
    }
    if let Some(f) = &b.tls_error {
        let _ = writeln!(
            o,
            "<p>TLS: <span class=\"b refused\">new certificate refused</span> {} — the previous one stays in use:<br><code>{}</code></p>",
            when(Some(f.at), now),
            esc(&f.message)
        );
    }
}

/// The first 12 hex digits of a hash, for people.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// PostgreSQL only: whether this replica's configuration matches the leader's, the replicas
/// of the database, and the database version of each list served here.
fn replica(o: &mut String, b: &Board, now: i64) {
    let Some(r) = &b.replica else { return };
    let verdict = match r.matches_leader {
        Some(true) => "<span class=\"b ok\">same as the leader's</span>".to_string(),
        Some(false) => {
            let mut what = Vec::new();
            if r.leader_config_hash.as_deref() != Some(r.config_hash.as_str()) {
                what.push("feeds.toml");
            }
            if r.leader_files_hash.as_deref() != Some(r.files_hash.as_str()) {
                what.push("lists/ files");
            }
            format!(
                "<span class=\"b refused\">differs from the leader's</span> ({}: leader <code>{}</code>) — this replica serves the leader's lists, but would compile other lists if it led; mount the same files on every replica",
                what.join(" and "),
                esc(&r.leader),
            )
        }
        None => "<span class=\"b never\">leader unknown</span>".to_string(),
    };
    let _ = writeln!(
        o,
        "<p>Replica <code>{}</code>: feeds.toml <code>{}</code>, lists/ files <code>{}</code>: {verdict}</p>",
        esc(&r.holder),
        short(&r.config_hash),
        short(&r.files_hash),
    );
    if !r.replicas.is_empty() {
        o.push_str("<div class=\"wrap\"><table><tr><th>Replica</th><th>Role</th><th>feeds.toml</th><th>lists/ files</th><th>Last seen</th></tr>\n");
        for x in &r.replicas {
            let _ = writeln!(
                o,
                "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td class=\"t\">{}</td></tr>",
                esc(&x.holder),
                esc(&x.role),
                short(&x.config_hash),
                short(&x.files_hash),
                when(Some(now - x.seen_secs_ago.max(0.0) as i64), now),
            );
        }
        o.push_str("</table></div>\n");
    }
    let seen: Vec<String> = b
        .lists
        .iter()
        .filter_map(|l| {
            let d = l.database?;
            Some(format!(
                "<code>{}</code> v{} (generation {}, published {}, served here {})",
                esc(&l.name),
                d.version,
                d.generation,
                when(Some(d.published_at), now),
                when(Some(d.applied_at), now),
            ))
        })
        .collect();
    if !seen.is_empty() {
        let _ = writeln!(o, "<p>Database versions served: {}</p>", seen.join(" · "));
    }
}

/// Renders the status page.
pub fn html(v: &View) -> String {
    let b = &v.board;
    let now = v.now;
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>edlforge status</title>
<style>
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem;color:#1b1f23;background:#fff}}
h1{{font-size:1.4rem;margin:0 0 .25rem}} h2{{font-size:1.1rem;margin:1.6rem 0 .5rem}}
.meta{{color:#57606a;margin:.2rem 0}}
.verdict{{padding:.6rem .9rem;border-radius:6px;margin:1rem 0;font-weight:600}}
.v-ok{{background:#dafbe1;color:#116329}} .v-bad{{background:#ffebe9;color:#a40e26}} .v-warn{{background:#fff8c5;color:#7d4e00}}
table{{border-collapse:collapse;width:100%;margin-bottom:.5rem}} .wrap{{overflow-x:auto}}
th,td{{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #d0d7de;vertical-align:top}}
th{{background:#f6f8fa;font-weight:600;white-space:nowrap}} td.n{{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}}
td.t{{white-space:nowrap}} .small{{font-size:12px;color:#57606a}}
code{{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f6f8fa;padding:0 .2rem;border-radius:3px}}
.b{{display:inline-block;padding:0 .5rem;border-radius:1rem;font-size:12px;font-weight:600;white-space:nowrap}}
.ok{{background:#dafbe1;color:#116329}} .failing,.unavailable,.refused,.withheld{{background:#ffebe9;color:#a40e26}}
.stale,.never,.partial{{background:#fff8c5;color:#7d4e00}} .err{{color:#a40e26;font-size:12px}}
dl{{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;font-size:13px}} dt{{font-weight:600}} dd{{margin:0}}
</style></head><body>
<h1>edlforge status</h1>
<div class="meta">edlforge {} · config <code>{}</code> · {} · up {} · last compile {}</div>
<div class="meta">TLS: <code>{}</code></div>
{}"#,
        esc(v.version),
        esc(&b.config),
        b.role.as_str(),
        age(now - b.started_at),
        when(b.last_cycle, now),
        esc(&b.tls),
        match &b.database {
            None => String::new(),
            Some(d) => format!(
                "<div class=\"meta\">database <code>{}</code>: <span class=\"b {}\">{}</span> for {}{}</div>\n",
                esc(&d.target),
                if d.up { "ok" } else { "failing" },
                if d.up { "up" } else { "unreachable" },
                age(now - d.since),
                d.latency_seconds
                    .map(|l| format!(" · latency {:.1} ms", l * 1000.0))
                    .unwrap_or_default(),
            ),
        },
    );
    // The verdict first: is every list served, is every source healthy.
    let unserved: Vec<&str> = b
        .lists
        .iter()
        .filter(|l| !l.available)
        .map(|l| l.name.as_str())
        .collect();
    let unhealthy: Vec<&str> = b
        .sources
        .iter()
        .filter(|s| health(s, now) != "ok")
        .map(|s| s.name.as_str())
        .collect();
    let (class, text) = if !unserved.is_empty() {
        (
            "v-bad",
            format!(
                "Not ready: {} of {} lists not served ({}).",
                unserved.len(),
                b.lists.len(),
                unserved.join(", ")
            ),
        )
    } else if !unhealthy.is_empty() {
        (
            "v-warn",
            format!(
                "All {} lists served; {} of {} sources need attention ({}): their lists use their last good data.",
                b.lists.len(),
                unhealthy.len(),
                b.sources.len(),
                unhealthy.join(", ")
            ),
        )
    } else {
        (
            "v-ok",
            format!(
                "All {} lists served, all {} sources healthy.",
                b.lists.len(),
                b.sources.len()
            ),
        )
    };
    let (class, text) = match (&b.cycle_error, &b.tls_error) {
        (Some(_), _) if class == "v-ok" => (
            "v-warn",
            format!(
                "All {} lists served from the last good cycle; the last cycle failed (below).",
                b.lists.len()
            ),
        ),
        (_, Some(_)) if class == "v-ok" => (
            "v-warn",
            format!(
                "All {} lists served; a new TLS certificate was refused (below).",
                b.lists.len()
            ),
        ),
        _ => (class, text),
    };
    let _ = writeln!(o, "<div class=\"verdict {class}\">{}</div>", esc(&text));
    failures(&mut o, b, now);
    if b.reload.ok {
        let _ = writeln!(
            o,
            "<p>Config: <span class=\"b ok\">loaded</span> {}</p>",
            when(b.reload.loaded_at, now)
        );
    } else {
        let _ = writeln!(
            o,
            "<p>Config: <span class=\"b refused\">change refused</span> {} — the previous config stays in force. Fix:</p><ul>",
            when(b.reload.refused_at, now)
        );
        for e in &b.reload.errors {
            let _ = writeln!(o, "<li><code>{}</code></li>", esc(e));
        }
        o.push_str("</ul>\n");
    }
    replica(&mut o, b, now);
    // Lists.
    o.push_str("<h2>Lists</h2>\n<div class=\"wrap\"><table><tr><th>List</th><th>Vendor</th><th>State</th><th class=\"n\">Entries</th><th>Changed / compiled</th><th>ETag</th><th>Auth</th><th class=\"n\">Polls</th><th>Polled by</th><th>Refused logins</th><th>Dropped</th></tr>\n");
    let mut reasons_seen: Vec<crate::indicator::SkipReason> = Vec::new();
    for l in &b.lists {
        let state = if let (false, Some(w)) = (l.available, &l.withheld) {
            format!(
                "<span class=\"b withheld\">503: withheld</span><br><span class=\"small\">{}; next attempt {}</span>",
                esc(w),
                match l.next_attempt {
                    Some(t) => format!("in {}", age(t.saturating_sub(now))),
                    None => "when the source file changes".to_string(),
                }
            )
        } else if !l.available {
            "<span class=\"b unavailable\">503: not compiled yet</span>".to_string()
        } else if !l.failing_sources.is_empty() {
            format!(
                "<span class=\"b partial\">served</span><br><span class=\"small\">failing: {}</span>",
                esc(&l.failing_sources.join(", "))
            )
        } else {
            "<span class=\"b ok\">served</span>".to_string()
        };
        let cap = l
            .max_entries
            .map(|m| format!("<br><span class=\"small\">max {}</span>", thousands(m)))
            .unwrap_or_default();
        let polled_by = if l.last_polls.is_empty() {
            "–".to_string()
        } else {
            let mut v: Vec<(&String, &i64)> = l.last_polls.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            v.iter()
                .map(|(c, t)| format!("{} {}", esc(c), when(Some(**t), now)))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let refused = if l.refused == 0 {
            "–".to_string()
        } else {
            format!(
                "<span class=\"err\">{} (last {})</span>",
                thousands(l.refused),
                when(l.last_refused, now)
            )
        };
        let etag = match &l.etag {
            Some(e) => {
                let short: String = e.trim_matches('"').chars().take(10).collect();
                format!("<code title=\"{}\">{}…</code>", esc(e), esc(&short))
            }
            None => "–".into(),
        };
        let mut dropped: Vec<String> = Vec::new();
        for (k, n) in &l.dropped {
            if let Some(r) = crate::indicator::SkipReason::ALL
                .iter()
                .find(|r| r.as_str() == k)
            {
                if !reasons_seen.contains(r) {
                    reasons_seen.push(*r);
                }
            }
            dropped.push(format!("{}&nbsp;{}", thousands(*n), esc(k)));
        }
        let _ = writeln!(
            o,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"n\">{}{}</td><td class=\"t\">{}<br><span class=\"small\">compiled {}</span></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"t\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.path),
            esc(&l.name),
            esc(&l.vendor),
            state,
            thousands(l.entries),
            cap,
            when(l.changed_at, now),
            when(l.compiled_at, now),
            etag,
            esc(&l.auth),
            thousands(l.polls),
            polled_by,
            refused,
            if dropped.is_empty() { "–".to_string() } else { dropped.join(", ") },
        );
    }
    o.push_str("</table></div>\n");
    // Sources.
    o.push_str("<h2>Sources</h2>\n<div class=\"wrap\"><table><tr><th>Source</th><th>Health</th><th>Kind</th><th>Last success</th><th>Last attempt</th><th>Refresh</th><th class=\"n\">Records</th><th>By type</th><th>Skipped (last parse)</th><th>Last error</th></tr>\n");
    for s in &b.sources {
        let h = health(s, now);
        let err = match (&s.last_error, &s.last_error_reason) {
            (Some(e), r) if h != "ok" => format!(
                "<span class=\"err\">{}{}</span>",
                r.as_deref()
                    .map(|r| format!("[{}] ", esc(r)))
                    .unwrap_or_default(),
                esc(e)
            ),
            _ => "–".into(),
        };
        for k in s.skipped.keys() {
            if let Some(r) = crate::indicator::SkipReason::ALL
                .iter()
                .find(|r| r.as_str() == k)
            {
                if !reasons_seen.contains(r) {
                    reasons_seen.push(*r);
                }
            }
        }
        let _ = writeln!(
            o,
            "<tr><td>{}<br><code>{}</code></td><td><span class=\"b {h}\">{h}</span></td><td>{} ({})</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"t\">every {}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            esc(&s.location),
            esc(&s.kind),
            esc(&s.role),
            when(s.last_success, now),
            when(s.last_attempt, now),
            age(s.refresh_secs as i64),
            thousands(s.records),
            counts(&s.by_type),
            counts(&s.skipped),
            err,
        );
    }
    o.push_str("</table></div>\n");
    if !reasons_seen.is_empty() {
        reasons_seen.sort_by_key(|r| {
            crate::indicator::SkipReason::ALL
                .iter()
                .position(|x| x == r)
                .unwrap_or(usize::MAX)
        });
        o.push_str("<h2>Reasons</h2>\n<dl>\n");
        for r in reasons_seen {
            let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", r.as_str(), esc(r.meaning()));
        }
        o.push_str("</dl>\n");
    }
    o.push_str("<p class=\"meta\">Times are relative to now; hover for the UTC time. Machine-readable: <a href=\"/status.json\">/status.json</a> · <a href=\"/metrics\">/metrics</a> · <a href=\"/readyz\">/readyz</a></p>\n</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_health() {
        assert_eq!(esc("<a href=\"x\">&"), "&lt;a href=&quot;x&quot;&gt;&amp;");
        let mut s = SourceView {
            kind: "http".into(),
            refresh_secs: 3600,
            ..SourceView::default()
        };
        assert_eq!(health(&s, 10_000), "never");
        s.last_attempt = Some(9_000);
        assert_eq!(health(&s, 10_000), "failing");
        s.last_success = Some(9_000);
        assert_eq!(health(&s, 10_000), "ok");
        assert_eq!(health(&s, 9_000 + 3 * 3600), "stale");
        s.last_attempt = Some(9_500);
        s.last_error = Some("timeout".into());
        assert_eq!(health(&s, 10_000), "failing");
    }

    #[test]
    fn cycle_and_tls_failures_are_shown_with_their_message() {
        // See: issue 12 item 12.
        let mut v = View {
            now: 1000,
            version: "test",
            board: Board::default(),
        };
        let page = html(&v);
        assert!(page.contains("v-ok") && !page.contains("failed"), "{page}");
        v.board.cycle_error = Some(Failure {
            at: 990,
            reason: "disk_full".into(),
            message: "cannot write x: No space left on device (os error 28)".into(),
        });
        v.board.tls_error = Some(Failure {
            at: 995,
            reason: "tls".into(),
            message: "tls.key: no private key".into(),
        });
        let page = html(&v);
        assert!(page.contains("v-warn"), "{page}");
        assert!(page.contains("No space left on device"), "{page}");
        assert!(page.contains("new certificate refused"), "{page}");
        assert!(page.contains("tls.key: no private key"), "{page}");
    }

    #[test]
    fn a_503_names_its_real_reason() {
        let state = State::new(
            super::super::Rules::default(),
            crate::metrics::Metrics::new(),
        );
        let msg = |n: &str| unavailable(&state, n, 1_000);
        assert!(msg("pa").contains("the first compile since start is running"));
        if let Ok(mut b) = state.board.lock() {
            b.lists.push(ListView {
                name: "pa".into(),
                withheld: Some("withheld: because source down has never delivered data".into()),
                next_attempt: Some(1_000 + 1800),
                ..ListView::default()
            });
            b.lists.push(ListView {
                name: "local".into(),
                withheld: Some("withheld: because source a has never delivered data".into()),
                ..ListView::default()
            });
            b.last_cycle = Some(900);
        }
        assert_eq!(
            msg("pa"),
            "list pa is withheld: because source down has never delivered data; the next attempt is due at 1970-01-01T00:46:40Z (in 30m)"
        );
        assert!(msg("local").ends_with("as soon as the source file changes"));
        assert!(msg("new").contains("new in the config"));
        if let Ok(mut b) = state.board.lock() {
            b.cycle_error = Some(Failure {
                at: 990,
                reason: "store".into(),
                message: "store locked".into(),
            });
        }
        assert!(msg("new").contains("the last compile failed (store locked)"));
        let page = html(&View::gather(&state, 1_000));
        assert!(page.contains("store locked"), "{page}");
        assert!(
            page.contains("503: withheld</span><br><span class=\"small\">withheld: because source down has never delivered data; next attempt in 30m"),
            "{page}"
        );
    }

    #[test]
    fn a_replica_says_whether_its_files_match_the_leaders() {
        let mut v = View {
            now: 1000,
            version: "test",
            board: Board::default(),
        };
        assert!(!html(&v).contains("Replica <code>"));
        let hash = |c: char| c.to_string().repeat(64);
        v.board.replica = Some(ReplicaView {
            holder: "edl2:41".into(),
            config_hash: hash('a'),
            files_hash: hash('b'),
            leader: "edl1:7".into(),
            leader_config_hash: Some(hash('c')),
            leader_files_hash: Some(hash('b')),
            matches_leader: Some(false),
            replicas: vec![ReplicaSeen {
                holder: "edl1:7".into(),
                role: "leader".into(),
                config_hash: hash('c'),
                files_hash: hash('b'),
                seen_secs_ago: 1.5,
            }],
        });
        v.board.lists.push(ListView {
            name: "pa".into(),
            database: Some(ListSeen {
                version: 3,
                generation: 2,
                published_at: 940,
                applied_at: 941,
            }),
            ..ListView::default()
        });
        let page = html(&v);
        assert!(
            page.contains("feeds.toml <code>aaaaaaaaaaaa</code>, lists/ files <code>bbbbbbbbbbbb</code>: <span class=\"b refused\">differs from the leader's</span> (feeds.toml: leader <code>edl1:7</code>)"),
            "{page}"
        );
        assert!(
            page.contains("<td><code>edl1:7</code></td><td>leader</td>"),
            "{page}"
        );
        assert!(
            page.contains("<code>pa</code> v3 (generation 2, published <span"),
            "{page}"
        );
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["replica"]["matches_leader"], false);
        assert_eq!(json["lists"][0]["database"]["version"], 3);
        if let Some(r) = v.board.replica.as_mut() {
            r.matches_leader = Some(true);
        }
        assert!(html(&v).contains("same as the leader's"));
    }

    #[test]
    fn numbers_and_durations_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(age(45), "45s");
        assert_eq!(age(60), "1m");
        assert_eq!(age(900), "15m");
        assert_eq!(age(3600), "1h");
        assert_eq!(age(5400), "90m");
        assert_eq!(age(43_200), "12h");
        assert_eq!(age(86_400), "1d");
        assert_eq!(age(200_000), "2d");
    }
}
