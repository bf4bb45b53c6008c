//! `[server]` and a list's access rules (`auth`, `users`, `tokens`, `clients`).

use super::*;

pub(super) fn server(cx: &mut Ctx<'_>, rs: &RawServer) -> Server {
    let mut listen = Vec::new();
    match &rs.listen {
        None => listen.push(std::net::SocketAddr::from(([0, 0, 0, 0], 8443))),
        Some(v) => {
            let span = v.span();
            let items: Vec<&toml::Value> = match v.get_ref() {
                toml::Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            if items.is_empty() {
                cx.err(span.clone(), "server.listen", "give at least one address");
            }
            for it in items {
                match it.as_str().map(|a| a.trim().parse::<std::net::SocketAddr>()) {
                    Some(Ok(a)) => listen.push(a),
                    _ => cx.err(
                        span.clone(),
                        "server.listen",
                        format!("{it} is not ip:port; write e.g. \"0.0.0.0:8443\" or [\"0.0.0.0:8443\", \"[::]:8443\"]"),
                    ),
                }
            }
        }
    }
    let cert = rs
        .tls_cert
        .as_ref()
        .map(|p| (cx.path(p.get_ref()), p.span()));
    let key = rs
        .tls_key
        .as_ref()
        .map(|p| (cx.path(p.get_ref()), p.span()));
    // A missing file is refused here (`check` and reload), with its line, rather than at
    // start-up or in the middle of a certificate rotation.
    for (what, f) in [("server.tls_cert", &cert), ("server.tls_key", &key)] {
        if let Some((path, span)) = f {
            if !path.is_file() {
                cx.err(
                    span.clone(),
                    what,
                    format!(
                        "{} does not exist or is not a file; give the PEM file's path (relative to this file), or remove tls_cert/tls_key for a local CA (tls = \"auto\")",
                        path.display()
                    ),
                );
            }
        }
    }
    let mode = rs.tls.as_ref().map(|t| (t.get_ref().as_str(), t.span()));
    let tls = match (mode, cert, key) {
        (Some(("off", span)), c, k) => {
            if c.is_some() || k.is_some() {
                cx.err(
                    span,
                    "server.tls",
                    "tls = \"off\" with tls_cert/tls_key set; remove one or the other",
                );
            }
            Tls::Off
        }
        (None | Some(("auto", _)), Some((cert, _)), Some((key, _))) => Tls::Files { cert, key },
        (None | Some(("auto", _)), None, None) => Tls::SelfSigned,
        (None | Some(("auto", _)), Some((_, span)), None) => {
            cx.err(span, "server.tls_cert", "tls_cert needs tls_key too");
            Tls::Off
        }
        (None | Some(("auto", _)), None, Some((_, span))) => {
            cx.err(span, "server.tls_key", "tls_key needs tls_cert too");
            Tls::Off
        }
        (Some((other, span)), _, _) => {
            cx.err(
                span,
                "server.tls",
                format!("unknown tls mode {other:?}; expected \"auto\" or \"off\""),
            );
            Tls::Off
        }
    };
    let max_connections = match &rs.max_connections {
        None => 1024,
        Some(n) if (1..=1_000_000).contains(n.get_ref()) => *n.get_ref() as usize,
        Some(n) => {
            cx.err(n.span(), "server.max_connections", "must be in 1..=1000000");
            1024
        }
    };
    let max_connections_per_client = match &rs.max_connections_per_client {
        None => 32,
        Some(n) if (1..=1_000_000).contains(n.get_ref()) => *n.get_ref() as usize,
        Some(n) => {
            cx.err(
                n.span(),
                "server.max_connections_per_client",
                "must be in 1..=1000000",
            );
            32
        }
    };
    let mut tls_names = Vec::new();
    for n in &rs.tls_names {
        let t = n.get_ref().trim();
        let ok = t.parse::<std::net::IpAddr>().is_ok()
            || (!t.is_empty()
                && t.len() <= 253
                && t.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
                }));
        if ok {
            tls_names.push(t.to_ascii_lowercase());
        } else {
            cx.err(
                n.span(),
                "server.tls_names",
                format!("{t:?} is not a DNS name or IP address; write e.g. \"edl.example.net\" or \"192.0.2.10\""),
            );
        }
    }
    let admin_clients = match &rs.admin_clients {
        // Loopback only: the status page and metrics name every list, source and poller.
        None => vec![
            ipnet::IpNet::V4(ipnet::Ipv4Net::new_assert(std::net::Ipv4Addr::LOCALHOST, 8).trunc()),
            ipnet::IpNet::V6(ipnet::Ipv6Net::new_assert(
                std::net::Ipv6Addr::LOCALHOST,
                128,
            )),
        ],
        Some(v) => {
            if v.get_ref().is_empty() {
                cx.err(
                    v.span(),
                    "server.admin_clients",
                    "an empty list would lock everyone out of the status page and metrics; remove the key (loopback only) or write e.g. [\"10.20.0.0/24\"] or [\"0.0.0.0/0\", \"::/0\"]",
                );
            }
            cx.cidrs(v.get_ref(), "server.admin_clients")
        }
    };
    let header_timeout = cx.duration(
        &rs.header_timeout,
        "server.header_timeout",
        Duration::from_secs(10),
    );
    if header_timeout.is_zero() {
        if let Some(h) = &rs.header_timeout {
            cx.err(h.span(), "server.header_timeout", "must be more than 0s");
        }
    }
    Server {
        listen,
        tls,
        trusted_proxies: cx.cidrs(&rs.trusted_proxies, "server.trusted_proxies"),
        admin_clients,
        max_connections,
        max_connections_per_client,
        tls_names,
        header_timeout,
        organization: rs.organization.as_ref().map(|o| o.get_ref().clone()),
    }
}

pub(super) fn access(
    cx: &mut Ctx<'_>,
    rl: &RawList,
    key: &dyn Fn(&str) -> String,
    max_tlp: Tlp,
) -> Access {
    let auth = match rl.auth.as_ref().map(|a| a.get_ref().as_str()) {
        None | Some("none") => AuthMode::None,
        Some("basic") => AuthMode::Basic,
        Some("token") => AuthMode::Token,
        Some(other) => {
            let span = rl.auth.as_ref().map_or(0..0, |a| a.span());
            cx.err(
                span,
                &key("auth"),
                format!("unknown auth {other:?}; expected none, basic or token"),
            );
            AuthMode::None
        }
    };
    let auth_span = rl.auth.as_ref().map_or(rl.name.span(), |a| a.span());
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut users = Vec::new();
    for u in &rl.users {
        let n = u.name.get_ref().trim().to_string();
        if n.is_empty() || n.contains(':') || n.chars().any(char::is_control) {
            cx.err(
                u.name.span(),
                &key("users.name"),
                "a user name is non-empty, without ':' or control characters",
            );
        } else if !names.insert(n.clone()) {
            cx.err(
                u.name.span(),
                &key("users.name"),
                format!("duplicate name {n:?}"),
            );
        }
        if let Some(secret) = cx.secret(&u.password, &key("users.password"), true) {
            users.push(Credential { name: n, secret });
        }
    }
    let mut tokens = Vec::new();
    for t in &rl.tokens {
        let n = t.name.get_ref().trim().to_string();
        if n.is_empty() || n.chars().any(char::is_control) {
            cx.err(
                t.name.span(),
                &key("tokens.name"),
                "a token name is non-empty",
            );
        } else if !names.insert(n.clone()) {
            cx.err(
                t.name.span(),
                &key("tokens.name"),
                format!("duplicate name {n:?}"),
            );
        }
        if let Some(secret) = cx.secret(&t.token, &key("tokens.token"), true) {
            if secret.len() < 16 {
                cx.err(
                    t.token.span(),
                    &key("tokens.token"),
                    "a token of fewer than 16 characters can be guessed; use e.g. `openssl rand -hex 32`",
                );
            }
            tokens.push(Credential { name: n, secret });
        }
    }
    match auth {
        AuthMode::Basic if rl.users.is_empty() => cx.err(
            auth_span.clone(),
            &key("users"),
            "auth = \"basic\" needs users = [{ name = \"fw-hq\", password = \"${env:FW_HQ}\" }]",
        ),
        AuthMode::Token if rl.tokens.is_empty() => cx.err(
            auth_span.clone(),
            &key("tokens"),
            "auth = \"token\" needs tokens = [{ name = \"fw-dc2\", token = \"${file:/run/secrets/dc2}\" }]",
        ),
        _ => {}
    }
    if auth != AuthMode::Basic && !rl.users.is_empty() {
        cx.err(
            auth_span.clone(),
            &key("users"),
            "users are for auth = \"basic\"; set auth = \"basic\" or remove them",
        );
    }
    if auth != AuthMode::Token && !rl.tokens.is_empty() {
        cx.err(
            auth_span.clone(),
            &key("tokens"),
            "tokens are for auth = \"token\"; set auth = \"token\" or remove them",
        );
    }
    // TLP 2.0: AMBER, AMBER+STRICT and RED are limited disclosure; such a list must never be
    // readable by anyone who can reach the server.
    if auth == AuthMode::None && max_tlp > Tlp::Green {
        let span = rl.max_tlp.as_ref().map_or(rl.name.span(), |t| t.span());
        let before = cx.errors.len();
        cx.err(
            span,
            &key("max_tlp"),
            format!(
                "a list that may publish TLP:{} needs auth = \"basic\" or \"token\" (auth is \"none\"); add auth or lower max_tlp to \"green\"",
                max_tlp.as_str().to_ascii_uppercase()
            ),
        );
        // Written files carry no access control of their own; the rule is the server's.
        let e = cx.errors.split_off(before);
        cx.serve_errors.extend(e);
    }
    Access {
        auth,
        users,
        tokens,
        clients: cx.cidrs(&rl.clients, &key("clients")),
    }
}
