//! `[store]`: the backend and, for PostgreSQL, its URL.

use super::*;
use crate::config::raw::RawStore;
use crate::config::Backend;

/// `backend` and `url`, checked: `url` is required with `"postgres"`, refused with
/// `"embedded"`, and must be a secret reference (it may carry a password).
pub(super) fn backend(cx: &mut Ctx<'_>, rs: &RawStore) -> Backend {
    let kind = rs
        .backend
        .as_ref()
        .map(|b| (b.get_ref().as_str(), b.span()));
    match kind {
        None | Some(("embedded", _)) => {
            if let Some(u) = &rs.url {
                cx.err(
                    u.span(),
                    "store.url",
                    "url is only used with backend = \"postgres\"; set backend = \"postgres\" or remove url",
                );
            }
            Backend::Embedded
        }
        Some(("postgres", span)) => {
            let Some(u) = &rs.url else {
                cx.err(
                    span,
                    "store.backend",
                    "backend = \"postgres\" needs url = \"${env:EDLFORGE_DATABASE_URL}\" (a libpq URL, postgresql://user:password@host/db)",
                );
                return Backend::Embedded;
            };
            let Some(url) = cx.secret(u, "store.url", true) else {
                return Backend::Embedded;
            };
            Backend::Postgres { url }
        }
        Some((other, span)) => {
            cx.err(
                span,
                "store.backend",
                format!("unknown backend {other:?}: expected \"embedded\" or \"postgres\""),
            );
            Backend::Embedded
        }
    }
}
