//! Every Prometheus metric edlforge exports, and the events that move them.
//!
//! A leaf module: anyone may call it, it calls nothing of ours. Each metric name is a variant of
//! [`Name`] (one place to read what `/metrics` can show); each notable event is one method of
//! [`Metrics`] that writes the log line and moves the metric together, so the log and `/metrics`
//! never disagree.
//!
//! Naming follows Prometheus conventions: prefix `edlforge_`, base units (`_seconds`,
//! `_bytes`), counters end in `_total`, timestamps are Unix seconds in `_timestamp_seconds`
//! gauges (freshness is `time() - edlforge_source_last_success_timestamp_seconds`). Labels are
//! bounded: configured source and list names, indicator types, reason ids, status codes, and the
//! configured names of clients — never an indicator, a URL, a peer address or raw error text.
//!
//! The registry is owned by [`Metrics`] rather than the crate's global one, so two servers in one
//! test process never share counters. Gauges that describe configured things (a source, a list)
//! are cleared for names that left the config on reload ([`Metrics::retain`]).

use prometheus::{Encoder, Gauge, GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Every metric name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// `edlforge_build_info{version}`.
    BuildInfo,
    /// `edlforge_config_reload_success`.
    ConfigReloadSuccess,
    /// `edlforge_config_last_reload_timestamp_seconds`.
    ConfigLastReload,
    /// `edlforge_config_reloads_total{result}`.
    ConfigReloads,
    /// `edlforge_source_last_attempt_timestamp_seconds{source}`.
    SourceLastAttempt,
    /// `edlforge_source_last_success_timestamp_seconds{source}`.
    SourceLastSuccess,
    /// `edlforge_source_up{source}`.
    SourceUp,
    /// `edlforge_source_fetch_duration_seconds{source}`.
    SourceFetchDuration,
    /// `edlforge_source_fetch_errors_total{source,reason}`.
    SourceFetchErrors,
    /// `edlforge_source_indicators{source,type}`.
    SourceIndicators,
    /// `edlforge_source_skipped{source,reason}`.
    SourceSkipped,
    /// `edlforge_source_refresh_interval_seconds{source}`.
    SourceRefresh,
    /// `edlforge_source_last_fetch_bytes{source}`.
    SourceBytes,
    /// `edlforge_list_entries{list}`.
    ListEntries,
    /// `edlforge_list_max_entries{list}`.
    ListMaxEntries,
    /// `edlforge_list_available{list}`.
    ListAvailable,
    /// `edlforge_list_withheld{list,reason}`.
    ListWithheld,
    /// `edlforge_list_last_compile_timestamp_seconds{list}`.
    ListLastCompile,
    /// `edlforge_list_last_change_timestamp_seconds{list}`.
    ListLastChange,
    /// `edlforge_list_compile_duration_seconds{list}`.
    ListCompileDuration,
    /// `edlforge_list_dropped{list,reason}`.
    ListDropped,
    /// `edlforge_list_dropped_total{list,reason}`.
    ListDroppedTotal,
    /// `edlforge_list_last_poll_timestamp_seconds{list,client}`.
    ListLastPoll,
    /// `edlforge_http_requests_total{endpoint,list,code}`.
    HttpRequests,
    /// `edlforge_http_auth_failures_total{list}`.
    HttpAuthFailures,
    // Server hardening (connection limits, refusals, log summaries).
    /// `edlforge_http_connections_refused_total{reason}`.
    HttpConnectionsRefused,
    /// `edlforge_http_access_refused_total{reason}`.
    HttpAccessRefused,
    /// `edlforge_log_lines_suppressed_total{event}`.
    LogSuppressed,
    /// `edlforge_cycle_success`.
    CycleSuccess,
    /// `edlforge_cycle_failures_total{reason}`.
    CycleFailures,
    /// `edlforge_tls_reload_success`.
    TlsReloadSuccess,
    /// `edlforge_leader`.
    Leader,
    /// `edlforge_database_up`.
    DatabaseUp,
    /// `edlforge_database_latency_seconds`.
    DatabaseLatency,
    /// `edlforge_config_matches_leader`.
    ConfigMatchesLeader,
    /// `edlforge_list_version{list}`.
    ListVersion,
    /// `edlforge_list_published_timestamp_seconds{list}`.
    ListPublished,
    /// `edlforge_list_applied_timestamp_seconds{list}`.
    ListApplied,
}

impl Name {
    /// The exported name.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::BuildInfo => "edlforge_build_info",
            Name::ConfigReloadSuccess => "edlforge_config_reload_success",
            Name::ConfigLastReload => "edlforge_config_last_reload_timestamp_seconds",
            Name::ConfigReloads => "edlforge_config_reloads_total",
            Name::SourceLastAttempt => "edlforge_source_last_attempt_timestamp_seconds",
            Name::SourceLastSuccess => "edlforge_source_last_success_timestamp_seconds",
            Name::SourceUp => "edlforge_source_up",
            Name::SourceFetchDuration => "edlforge_source_fetch_duration_seconds",
            Name::SourceFetchErrors => "edlforge_source_fetch_errors_total",
            Name::SourceIndicators => "edlforge_source_indicators",
            Name::SourceSkipped => "edlforge_source_skipped",
            Name::SourceRefresh => "edlforge_source_refresh_interval_seconds",
            Name::SourceBytes => "edlforge_source_last_fetch_bytes",
            Name::ListEntries => "edlforge_list_entries",
            Name::ListMaxEntries => "edlforge_list_max_entries",
            Name::ListAvailable => "edlforge_list_available",
            Name::ListWithheld => "edlforge_list_withheld",
            Name::ListLastCompile => "edlforge_list_last_compile_timestamp_seconds",
            Name::ListLastChange => "edlforge_list_last_change_timestamp_seconds",
            Name::ListCompileDuration => "edlforge_list_compile_duration_seconds",
            Name::ListDropped => "edlforge_list_dropped",
            Name::ListDroppedTotal => "edlforge_list_dropped_total",
            Name::ListLastPoll => "edlforge_list_last_poll_timestamp_seconds",
            Name::HttpRequests => "edlforge_http_requests_total",
            Name::HttpAuthFailures => "edlforge_http_auth_failures_total",
            Name::HttpConnectionsRefused => "edlforge_http_connections_refused_total",
            Name::HttpAccessRefused => "edlforge_http_access_refused_total",
            Name::LogSuppressed => "edlforge_log_lines_suppressed_total",
            Name::CycleSuccess => "edlforge_cycle_success",
            Name::CycleFailures => "edlforge_cycle_failures_total",
            Name::TlsReloadSuccess => "edlforge_tls_reload_success",
            Name::Leader => "edlforge_leader",
            Name::DatabaseUp => "edlforge_database_up",
            Name::DatabaseLatency => "edlforge_database_latency_seconds",
            Name::ConfigMatchesLeader => "edlforge_config_matches_leader",
            Name::ListVersion => "edlforge_list_version",
            Name::ListPublished => "edlforge_list_published_timestamp_seconds",
            Name::ListApplied => "edlforge_list_applied_timestamp_seconds",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Name::BuildInfo => "edlforge version; always 1.",
            Name::Leader => {
                "1 when this replica leads (fetches, compiles and publishes), 0 when it follows another; always 1 with the embedded store."
            }
            Name::DatabaseUp => {
                "1 when the PostgreSQL database answers (always 1 with the embedded store), 0 while it cannot be reached: lists are then served from memory and the local cache, and nothing is fetched."
            }
            Name::DatabaseLatency => {
                "Round trip of the last database probe (one read); absent with the embedded store and while the database cannot be reached."
            }
            Name::ConfigMatchesLeader => {
                "1 when this replica's feeds.toml and lists/ files hash the same as the leader's (always 1 on the leader and with the embedded store), 0 when they differ: this replica would compile other lists if it led."
            }
            Name::ListVersion => {
                "PostgreSQL only: the database version of the list this replica serves (the same on every replica once a publish has reached them all)."
            }
            Name::ListPublished => {
                "PostgreSQL only: when the leader published the version this replica serves (the database's clock)."
            }
            Name::ListApplied => {
                "PostgreSQL only: when this replica started serving that version (its own clock)."
            }
            Name::ConfigReloadSuccess => {
                "1 when the last attempt to load feeds.toml succeeded, 0 when it was refused (the previous config stays in force)."
            }
            Name::ConfigLastReload => "When feeds.toml was last loaded successfully.",
            Name::ConfigReloads => "Attempts to load feeds.toml, by result.",
            Name::SourceLastAttempt => "When the source was last fetched or read.",
            Name::SourceLastSuccess => {
                "When the source last gave an accepted set (or an unchanged one)."
            }
            Name::SourceUp => "1 when the source's last fetch succeeded, 0 when it failed.",
            Name::SourceFetchDuration => "Duration of the source's last fetch, parse and gates.",
            Name::SourceFetchErrors => {
                "Failed fetches by reason (a gate, http_status, timeout, ...); the last good set is kept."
            }
            Name::SourceIndicators => "Indicators the source holds now, by type.",
            Name::SourceSkipped => "Lines or objects skipped by the source's last accepted parse, by reason.",
            Name::SourceRefresh => "The source's configured refresh interval.",
            Name::SourceBytes => "Bytes of the source's last received body, as sent (before decompression).",
            Name::ListEntries => "Entries (lines) in the list being served.",
            Name::ListMaxEntries => "The list's max_entries (the vendor's limit unless set).",
            Name::ListAvailable => "1 when the list has been compiled and is served, 0 while it answers 503.",
            Name::ListWithheld => "1 while the publication rule holds the list back (it answers 503), by reason; absent otherwise.",
            Name::ListLastCompile => "When the list was last compiled.",
            Name::ListLastChange => "When the list's content last changed.",
            Name::ListCompileDuration => "Duration of the list's last compile.",
            Name::ListDropped => "Indicators dropped by the list's last compile, by reason.",
            Name::ListDroppedTotal => "Indicators dropped by all compiles of the list, by reason.",
            Name::ListLastPoll => "When a client (configured user or token name, or anonymous) last fetched the list.",
            Name::HttpRequests => {
                "HTTP requests by endpoint (list, status, metrics, readyz, healthz, unknown_list, other), list (for endpoint=\"list\") and status code."
            }
            Name::HttpAuthFailures => "Requests refused for missing or wrong credentials.",
            Name::HttpConnectionsRefused => {
                "Connections closed at accept, by reason (max_connections, max_connections_per_client)."
            }
            Name::HttpAccessRefused => {
                "Requests refused by address rules or the failed-login throttle, by reason (client_acl, admin_acl, auth_throttled)."
            }
            Name::LogSuppressed => {
                "Refusal log lines not written one by one (summed up per address each minute), by event."
            }
            Name::CycleSuccess => {
                "1 when the last fetch-compile-save cycle completed, 0 when it failed (the lists served stay as they were)."
            }
            Name::CycleFailures => "Cycles that failed, by reason (disk_full, store, psl, write, internal).",
            Name::TlsReloadSuccess => {
                "1 when the last load of the TLS certificate and key succeeded, 0 when a new one was refused (the previous one stays in use)."
            }
        }
    }
}

/// The metrics of one edlforge process.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    reload_success: Gauge,
    leader: IntGauge,
    database_up: IntGauge,
    database_latency: GaugeVec,
    config_matches_leader: GaugeVec,
    list_version: IntGaugeVec,
    list_published: GaugeVec,
    list_applied: GaugeVec,
    last_reload: Gauge,
    reloads: IntCounterVec,
    src_attempt: GaugeVec,
    src_success: GaugeVec,
    src_up: IntGaugeVec,
    src_duration: GaugeVec,
    src_errors: IntCounterVec,
    src_indicators: IntGaugeVec,
    src_skipped: IntGaugeVec,
    src_refresh: GaugeVec,
    src_bytes: IntGaugeVec,
    list_entries: IntGaugeVec,
    list_max: IntGaugeVec,
    list_available: IntGaugeVec,
    list_withheld: IntGaugeVec,
    list_compiled: GaugeVec,
    list_changed: GaugeVec,
    list_duration: GaugeVec,
    list_dropped: IntGaugeVec,
    list_dropped_total: IntCounterVec,
    list_poll: GaugeVec,
    http_requests: IntCounterVec,
    auth_failures: IntCounterVec,
    conn_refused: IntCounterVec,
    access_refused: IntCounterVec,
    log_suppressed: IntCounterVec,
    cycle_success: GaugeVec,
    cycle_failures: IntCounterVec,
    tls_reload_success: GaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn opts(n: Name) -> Opts {
    Opts::new(n.as_str(), n.help())
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

macro_rules! family {
    ($reg:expr, $ty:ty, $name:expr, $labels:expr) => {{
        // Names and label sets are constants; registration fails only on a programming error
        // (a duplicate name), which the unit test below would catch.
        let m = <$ty>::new(opts($name), $labels).expect("metric definition is valid");
        $reg.register(Box::new(m.clone()))
            .expect("metric names are unique");
        m
    }};
}

impl Metrics {
    /// A fresh registry with every metric and the process collector.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let build = family!(r, IntGaugeVec, Name::BuildInfo, &["version"]);
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let leader = IntGauge::with_opts(opts(Name::Leader)).expect("metric definition is valid");
        r.register(Box::new(leader.clone()))
            .expect("metric names are unique");
        let database_up =
            IntGauge::with_opts(opts(Name::DatabaseUp)).expect("metric definition is valid");
        r.register(Box::new(database_up.clone()))
            .expect("metric names are unique");
        let reload_success =
            Gauge::with_opts(opts(Name::ConfigReloadSuccess)).expect("metric definition is valid");
        r.register(Box::new(reload_success.clone()))
            .expect("metric names are unique");
        let last_reload =
            Gauge::with_opts(opts(Name::ConfigLastReload)).expect("metric definition is valid");
        r.register(Box::new(last_reload.clone()))
            .expect("metric names are unique");

        #[cfg(target_os = "linux")]
        {
            // Process metrics (CPU, memory, open files); not fatal when unavailable.
            let _ = r.register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ));
        }
        Metrics {
            reload_success,
            leader,
            database_up,
            // Without labels, so they appear only once known (see cycle_success below).
            database_latency: family!(r, GaugeVec, Name::DatabaseLatency, &[]),
            config_matches_leader: family!(r, GaugeVec, Name::ConfigMatchesLeader, &[]),
            list_version: family!(r, IntGaugeVec, Name::ListVersion, &["list"]),
            list_published: family!(r, GaugeVec, Name::ListPublished, &["list"]),
            list_applied: family!(r, GaugeVec, Name::ListApplied, &["list"]),
            last_reload,
            reloads: family!(r, IntCounterVec, Name::ConfigReloads, &["result"]),
            src_attempt: family!(r, GaugeVec, Name::SourceLastAttempt, &["source"]),
            src_success: family!(r, GaugeVec, Name::SourceLastSuccess, &["source"]),
            src_up: family!(r, IntGaugeVec, Name::SourceUp, &["source"]),
            src_duration: family!(r, GaugeVec, Name::SourceFetchDuration, &["source"]),
            src_errors: family!(
                r,
                IntCounterVec,
                Name::SourceFetchErrors,
                &["source", "reason"]
            ),
            src_indicators: family!(r, IntGaugeVec, Name::SourceIndicators, &["source", "type"]),
            src_skipped: family!(r, IntGaugeVec, Name::SourceSkipped, &["source", "reason"]),
            src_refresh: family!(r, GaugeVec, Name::SourceRefresh, &["source"]),
            src_bytes: family!(r, IntGaugeVec, Name::SourceBytes, &["source"]),
            list_entries: family!(r, IntGaugeVec, Name::ListEntries, &["list"]),
            list_max: family!(r, IntGaugeVec, Name::ListMaxEntries, &["list"]),
            list_available: family!(r, IntGaugeVec, Name::ListAvailable, &["list"]),
            list_withheld: family!(r, IntGaugeVec, Name::ListWithheld, &["list", "reason"]),
            list_compiled: family!(r, GaugeVec, Name::ListLastCompile, &["list"]),
            list_changed: family!(r, GaugeVec, Name::ListLastChange, &["list"]),
            list_duration: family!(r, GaugeVec, Name::ListCompileDuration, &["list"]),
            list_dropped: family!(r, IntGaugeVec, Name::ListDropped, &["list", "reason"]),
            list_dropped_total: family!(
                r,
                IntCounterVec,
                Name::ListDroppedTotal,
                &["list", "reason"]
            ),
            list_poll: family!(r, GaugeVec, Name::ListLastPoll, &["list", "client"]),
            http_requests: family!(
                r,
                IntCounterVec,
                Name::HttpRequests,
                &["endpoint", "list", "code"]
            ),
            auth_failures: family!(r, IntCounterVec, Name::HttpAuthFailures, &["list"]),
            conn_refused: family!(r, IntCounterVec, Name::HttpConnectionsRefused, &["reason"]),
            access_refused: family!(r, IntCounterVec, Name::HttpAccessRefused, &["reason"]),
            log_suppressed: family!(r, IntCounterVec, Name::LogSuppressed, &["event"]),
            cycle_failures: family!(r, IntCounterVec, Name::CycleFailures, &["reason"]),
            // Families without labels, so the series appears only once known (after the first
            // cycle; once TLS is loaded): before that, absent never reads as "failed".
            cycle_success: family!(r, GaugeVec, Name::CycleSuccess, &[]),
            tls_reload_success: family!(r, GaugeVec, Name::TlsReloadSuccess, &[]),
            registry: r,
        }
    }

    /// The text exposition format (`text/plain; version=0.0.4`).
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families.
        if let Err(e) = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "Cannot encode metrics.");
        }
        out
    }

    /// This replica's role: leader (fetches, compiles, publishes) or follower.
    pub fn role(&self, leader: bool) {
        tracing::info!(
            role = if leader { "leader" } else { "follower" },
            "Replica role set."
        );
        self.leader.set(i64::from(leader));
    }

    /// Whether the PostgreSQL database answers (the caller logs changes, with the database).
    pub fn database_up(&self, up: bool) {
        self.database_up.set(i64::from(up));
    }

    /// The round trip of a database probe; `None` while the database cannot be reached.
    pub fn database_latency(&self, latency: Option<std::time::Duration>) {
        match latency {
            Some(d) => self
                .database_latency
                .with_label_values::<&str>(&[])
                .set(d.as_secs_f64()),
            None => self.database_latency.reset(),
        }
    }

    /// Whether this replica's configuration hashes the same as the leader's (the caller logs
    /// changes, with both hashes).
    pub fn config_matches_leader(&self, matches: bool) {
        self.config_matches_leader
            .with_label_values::<&str>(&[])
            .set(if matches { 1.0 } else { 0.0 });
    }

    /// This replica serves `version` of `list` from the database, published at `published_at`
    /// (the database's clock) and served here since `applied_at`.
    pub fn list_version(&self, list: &str, version: i64, published_at: i64, applied_at: i64) {
        self.list_version.with_label_values(&[list]).set(version);
        self.list_published
            .with_label_values(&[list])
            .set(published_at as f64);
        self.list_applied
            .with_label_values(&[list])
            .set(applied_at as f64);
    }

    /// feeds.toml was loaded (at start or on reload).
    pub fn config_loaded(&self, path: &str, now: i64) {
        tracing::info!(config = %path, "Config loaded.");
        self.reload_success.set(1.0);
        self.last_reload.set(now as f64);
        self.reloads.with_label_values(&["success"]).inc();
    }

    /// feeds.toml was refused; the running config stays.
    pub fn config_refused(&self, path: &str, errors: &str) {
        tracing::error!(config = %path, errors = %errors, "Config change refused; the running config stays in force.");
        self.reload_success.set(0.0);
        self.reloads.with_label_values(&["failure"]).inc();
    }

    /// A source was fetched (or read) and its result accepted or unchanged.
    pub fn source_ok(&self, source: &str, now: i64, took: f64) {
        self.src_attempt
            .with_label_values(&[source])
            .set(now as f64);
        self.src_success
            .with_label_values(&[source])
            .set(now as f64);
        self.src_up.with_label_values(&[source]).set(1);
        self.src_duration.with_label_values(&[source]).set(took);
    }

    /// A body of `bytes` was received for a source.
    pub fn source_bytes(&self, source: &str, bytes: u64) {
        self.src_bytes
            .with_label_values(&[source])
            .set(bytes.min(i64::MAX as u64) as i64);
    }

    /// A source fetch failed; it keeps its last good set.
    pub fn source_failed(&self, source: &str, reason: &str, message: &str, now: i64, took: f64) {
        tracing::warn!(source = %source, reason = %reason, error = %message, "Fetch failed; keeping the last good set.");
        self.src_attempt
            .with_label_values(&[source])
            .set(now as f64);
        self.src_up.with_label_values(&[source]).set(0);
        self.src_duration.with_label_values(&[source]).set(took);
        self.src_errors.with_label_values(&[source, reason]).inc();
    }

    /// What a source holds and its configured interval (set after every cycle).
    pub fn source_held(
        &self,
        source: &str,
        refresh_secs: f64,
        last_success: Option<i64>,
        by_type: &[(&str, u64)],
    ) {
        self.src_refresh
            .with_label_values(&[source])
            .set(refresh_secs);
        // 0 for a source that never succeeded: `time() - this > 2 * refresh` then fires for
        // it from the first cycle instead of the series being absent (and the alert silent).
        self.src_success
            .with_label_values(&[source])
            .set(last_success.unwrap_or(0) as f64);
        for (t, n) in by_type {
            self.src_indicators
                .with_label_values(&[source, t])
                .set(*n as i64);
        }
    }

    /// The skips of a source's last accepted parse.
    pub fn source_skipped(&self, source: &str, by_reason: &[(&str, u64)]) {
        for (r, n) in by_reason {
            self.src_skipped
                .with_label_values(&[source, r])
                .set(*n as i64);
        }
    }

    /// A list was compiled.
    #[allow(clippy::too_many_arguments)]
    pub fn list_compiled(
        &self,
        list: &str,
        entries: u64,
        max_entries: Option<u64>,
        changed_at: i64,
        now: i64,
        took: f64,
        dropped: &[(&str, u64)],
    ) {
        self.list_entries
            .with_label_values(&[list])
            .set(entries as i64);
        if let Some(m) = max_entries {
            self.list_max
                .with_label_values(&[list])
                .set(m.min(i64::MAX as u64) as i64);
        }
        self.list_available.with_label_values(&[list]).set(1);
        self.list_compiled
            .with_label_values(&[list])
            .set(now as f64);
        self.list_changed
            .with_label_values(&[list])
            .set(changed_at as f64);
        self.list_duration.with_label_values(&[list]).set(took);
        for (r, n) in dropped {
            self.list_dropped
                .with_label_values(&[list, r])
                .set(*n as i64);
            self.list_dropped_total
                .with_label_values(&[list, r])
                .inc_by(*n);
        }
    }

    /// A list served from the store at start (not compiled in this process yet).
    pub fn list_loaded(&self, list: &str, entries: u64, changed_at: i64, compiled_at: i64) {
        self.list_entries
            .with_label_values(&[list])
            .set(entries as i64);
        self.list_available.with_label_values(&[list]).set(1);
        self.list_changed
            .with_label_values(&[list])
            .set(changed_at as f64);
        self.list_compiled
            .with_label_values(&[list])
            .set(compiled_at as f64);
    }

    /// A configured list that has never been compiled.
    pub fn list_unavailable(&self, list: &str) {
        self.list_available.with_label_values(&[list]).set(0);
    }

    /// The publication rule holds `list` back for `reason` (a bounded id), or no longer
    /// (`None`).
    pub fn list_withheld(&self, list: &str, reason: Option<&str>) {
        prune_int(&self.list_withheld, &|l: &[&str]| l[0] != list);
        if let Some(r) = reason {
            self.list_withheld.with_label_values(&[list, r]).set(1);
        }
    }

    /// One request for a configured list answered.
    pub fn list_request(&self, list: &str, code: u16) {
        self.request_as("list", list, code);
    }

    /// One request for anything but a configured list answered: `endpoint` is a fixed id
    /// (`status`, `metrics`, `readyz`, `healthz`, `unknown_list`, `other`).
    pub fn endpoint_request(&self, endpoint: &str, code: u16) {
        self.request_as(endpoint, "", code);
    }

    fn request_as(&self, endpoint: &str, list: &str, code: u16) {
        let text;
        let code: &str = match code {
            200 => "200",
            304 => "304",
            401 => "401",
            403 => "403",
            404 => "404",
            503 => "503",
            other => {
                text = other.to_string();
                &text
            }
        };
        self.http_requests
            .with_label_values(&[endpoint, list, code])
            .inc();
    }

    /// A client fetched a list (200 or 304).
    pub fn polled(&self, list: &str, client: &str, now: i64) {
        self.list_poll
            .with_label_values(&[list, client])
            .set(now as f64);
    }

    /// A request was refused for missing or wrong credentials. `log`: write the line (the
    /// server writes the first per address and minute; the rest are summed up).
    pub fn auth_failed(&self, list: &str, peer: &str, why: &str, log: bool) {
        if log {
            tracing::warn!(list = %list, peer = %peer, why = %why, "Authentication failed.");
        } else {
            self.log_suppressed
                .with_label_values(&["auth_failed"])
                .inc();
        }
        self.auth_failures.with_label_values(&[list]).inc();
    }

    /// A connection was closed at accept. `reason`: `max_connections` or
    /// `max_connections_per_client`. `log` as for [`Metrics::auth_failed`].
    pub fn connection_refused(&self, reason: &str, peer: &str, log: bool) {
        if log {
            tracing::warn!(peer = %peer, reason = %reason, "Connection limit reached; closing a new connection.");
        } else {
            self.log_suppressed
                .with_label_values(&["connection_refused"])
                .inc();
        }
        self.conn_refused.with_label_values(&[reason]).inc();
    }

    /// A request was refused before its credentials or list were looked at. `reason`:
    /// `client_acl` (a list's `clients`), `admin_acl` (`admin_clients`) or `auth_throttled`
    /// (the address used up its failed-login budget). `log` as for [`Metrics::auth_failed`].
    pub fn access_refused(&self, reason: &str, what: &str, peer: &str, log: bool) {
        let event = if reason == "auth_throttled" {
            "auth_throttled"
        } else {
            "access_refused"
        };
        if log {
            tracing::warn!(peer = %peer, reason = %reason, path = %what, "Request refused.");
        } else {
            self.log_suppressed.with_label_values(&[event]).inc();
        }
        self.access_refused.with_label_values(&[reason]).inc();
    }

    /// The lines of one kind not written for one address (`None`: for addresses past the
    /// number logged one by one) in the last interval.
    pub fn log_summary(&self, peer: Option<&str>, event: &str, suppressed: u64, secs: u64) {
        tracing::warn!(
            peer = %peer.unwrap_or("other addresses"),
            event = %event,
            suppressed = suppressed,
            "{suppressed} more {event} lines in the last {secs} s not written one by one (counted in metrics)."
        );
    }

    /// A fetch-compile-save cycle completed.
    pub fn cycle_ok(&self) {
        self.cycle_success.with_label_values::<&str>(&[]).set(1.0);
    }

    /// A cycle failed (`reason` a fixed id); the lists served stay as they were.
    pub fn cycle_failed(&self, reason: &str, message: &str) {
        tracing::error!(reason = %reason, error = %message, "Cycle failed; serving the current lists, retrying in 30 s.");
        self.cycle_success.with_label_values::<&str>(&[]).set(0.0);
        self.cycle_failures.with_label_values(&[reason]).inc();
    }

    /// The TLS certificate and key were loaded (at start or on a change).
    pub fn tls_loaded(&self) {
        self.tls_reload_success
            .with_label_values::<&str>(&[])
            .set(1.0);
    }

    /// A new TLS certificate or key was refused; the current one stays in use.
    pub fn tls_refused(&self, message: &str) {
        tracing::error!(error = %message, "New TLS certificate refused; the current one stays in use.");
        self.tls_reload_success
            .with_label_values::<&str>(&[])
            .set(0.0);
    }

    /// Drops label values of sources and lists no longer configured.
    pub fn retain(&self, sources: &[String], lists: &[String]) {
        let keep_s = |labels: &[&str]| sources.iter().any(|s| s == labels[0]);
        let keep_l = |labels: &[&str]| lists.iter().any(|l| l == labels[0]);
        prune(&self.src_attempt.clone().into(), &keep_s);
        prune(&self.src_success.clone().into(), &keep_s);
        prune(&self.src_duration.clone().into(), &keep_s);
        prune(&self.src_refresh.clone().into(), &keep_s);
        prune_int(&self.src_up, &keep_s);
        prune_int(&self.src_bytes, &keep_s);
        prune_int(&self.src_indicators, &keep_s);
        prune_int(&self.src_skipped, &keep_s);
        prune_int(&self.list_entries, &keep_l);
        prune_int(&self.list_max, &keep_l);
        prune_int(&self.list_available, &keep_l);
        prune_int(&self.list_withheld, &keep_l);
        prune_int(&self.list_dropped, &keep_l);
        prune(&self.list_compiled.clone().into(), &keep_l);
        prune(&self.list_changed.clone().into(), &keep_l);
        prune(&self.list_duration.clone().into(), &keep_l);
        prune(&self.list_poll.clone().into(), &keep_l);
        prune_int(&self.list_version, &keep_l);
        prune(&self.list_published.clone().into(), &keep_l);
        prune(&self.list_applied.clone().into(), &keep_l);
    }

    /// Clears a list's per-reason drop gauges before a compile sets them anew.
    pub fn reset_list_drops(&self, list: &str) {
        prune_int(&self.list_dropped, &|l: &[&str]| l[0] != list);
    }

    /// Clears a source's per-reason skip and per-type gauges before they are set anew.
    pub fn reset_source_counts(&self, source: &str) {
        prune_int(&self.src_skipped, &|l: &[&str]| l[0] != source);
        prune_int(&self.src_indicators, &|l: &[&str]| l[0] != source);
    }
}

/// A float gauge family seen through the generic collector API.
struct Family(GaugeVec);

impl From<GaugeVec> for Family {
    fn from(g: GaugeVec) -> Self {
        Family(g)
    }
}

fn label_sets(mfs: Vec<prometheus::proto::MetricFamily>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for mf in mfs {
        for m in mf.get_metric() {
            out.push(
                m.get_label()
                    .iter()
                    .map(|l| l.value().to_string())
                    .collect(),
            );
        }
    }
    out
}

fn prune(f: &Family, keep: &dyn Fn(&[&str]) -> bool) {
    use prometheus::core::Collector;
    for labels in label_sets(f.0.collect()) {
        let l: Vec<&str> = labels.iter().map(String::as_str).collect();
        if !keep(&l) {
            let _ = f.0.remove_label_values(&l);
        }
    }
}

fn prune_int(f: &IntGaugeVec, keep: &dyn Fn(&[&str]) -> bool) {
    use prometheus::core::Collector;
    for labels in label_sets(f.collect()) {
        let l: Vec<&str> = labels.iter().map(String::as_str).collect();
        if !keep(&l) {
            let _ = f.remove_label_values(&l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_help() {
        let m = Metrics::new();
        m.config_loaded("feeds.toml", 100);
        m.role(true);
        m.database_up(true);
        m.source_ok("drop", 100, 0.5);
        m.source_failed("tor", "timeout", "timed out", 100, 1.0);
        m.list_compiled("pa", 3, Some(150_000), 90, 100, 0.01, &[("guarded", 2)]);
        m.list_request("pa", 200);
        m.polled("pa", "fw-hq", 100);
        let text = String::from_utf8(m.render()).unwrap();
        for n in [
            Name::BuildInfo,
            Name::ConfigReloadSuccess,
            Name::SourceLastSuccess,
            Name::SourceFetchErrors,
            Name::ListEntries,
            Name::ListLastChange,
            Name::ListDroppedTotal,
            Name::HttpRequests,
            Name::ListLastPoll,
            Name::Leader,
            Name::DatabaseUp,
        ] {
            assert!(text.contains(&format!("# HELP {} ", n.as_str())), "{n:?}");
        }
        assert!(text
            .contains("edlforge_source_fetch_errors_total{reason=\"timeout\",source=\"tor\"} 1"));
        assert!(text.contains("edlforge_list_dropped_total{list=\"pa\",reason=\"guarded\"} 2"));
        assert!(text.contains("\nedlforge_leader 1\n"));
        assert!(text.contains("\nedlforge_database_up 1\n"));
    }

    #[test]
    fn a_source_that_never_succeeded_is_exported_as_0() {
        // See: issue 12 item 11.
        let m = Metrics::new();
        m.source_failed("tor", "timeout", "timed out", 100, 1.0);
        m.source_held("tor", 3600.0, None, &[]);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            text.contains("edlforge_source_last_success_timestamp_seconds{source=\"tor\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn no_placeholder_series_and_endpoints_apart_from_lists() {
        // See: issue 12 item 13.
        let m = Metrics::new();
        m.source_ok("drop", 100, 0.5);
        m.list_request("status", 200);
        m.endpoint_request("status", 200);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(!text.contains("reason=\"none\""), "{text}");
        assert!(
            !text.contains("edlforge_source_fetch_errors_total{"),
            "{text}"
        );
        assert!(text.contains(
            "edlforge_http_requests_total{code=\"200\",endpoint=\"list\",list=\"status\"} 1"
        ));
        assert!(text.contains(
            "edlforge_http_requests_total{code=\"200\",endpoint=\"status\",list=\"\"} 1"
        ));
    }

    #[test]
    fn cycle_and_tls_results_are_exported() {
        // See: issue 12 item 12.
        let m = Metrics::new();
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            !text.contains("edlforge_cycle_success "),
            "unknown before the first cycle"
        );
        m.cycle_failed("disk_full", "No space left on device");
        m.tls_refused("bad key");
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains("edlforge_cycle_success 0\n"), "{text}");
        assert!(text.contains("edlforge_cycle_failures_total{reason=\"disk_full\"} 1\n"));
        assert!(text.contains("edlforge_tls_reload_success 0\n"));
        m.cycle_ok();
        m.tls_loaded();
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains("edlforge_cycle_success 1\n"));
        assert!(text.contains("edlforge_tls_reload_success 1\n"));
    }

    #[test]
    fn retain_drops_removed_names() {
        let m = Metrics::new();
        m.source_ok("a", 1, 0.1);
        m.source_ok("b", 1, 0.1);
        m.list_compiled("x", 1, None, 1, 1, 0.1, &[]);
        m.retain(&["a".into()], &[]);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains("source=\"a\""));
        assert!(!text.contains("source_last_success_timestamp_seconds{source=\"b\"}"));
        assert!(!text.contains("list=\"x\""));
    }
}
