//! The checks every request passes before a route sees it, in this order:
//! the `Host` header names this server (against DNS rebinding), the token
//! (a bearer header, the `durable_token` cookie, or `?token=`, which sets
//! the cookie), and for a request that changes something, its `Origin`
//! against its `Host` and the read-only mode.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode};

/// The name of the cookie that carries the token for a browser.
pub(crate) const COOKIE: &str = "durable_token";

/// What the checks compare a request against.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    /// The token every request needs.
    pub(crate) token: String,
    /// Refuse every request that changes something.
    pub(crate) read_only: bool,
    /// The address the server is bound to, once it is.
    pub(crate) bound: Option<IpAddr>,
    /// Host names allowed besides the local ones (lowercase, no port).
    pub(crate) hosts: Vec<String>,
}

impl Access {
    /// Whether `host` (a `Host` header's value) names this server: a local
    /// name (`localhost`, `*.localhost`), a loopback address, the bound
    /// address (any address when bound to all of them), or an allowed name.
    /// A host name an attacker's DNS points here is none of these.
    pub(crate) fn allows_host(&self, host: &str) -> bool {
        let name = host_name(host);
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return ip.is_loopback()
                || self
                    .bound
                    .is_some_and(|bound| bound == ip || bound.is_unspecified());
        }
        self.hosts.contains(&name)
    }

    /// The token the request presents and whether it came in the query
    /// (then the answer sets the cookie), if it matches.
    fn presented(&self, request: &Request) -> Result<bool, ApiError> {
        let token = &self.token;
        let headers = request.headers();
        if bearer(headers).is_some_and(|given| same(given, token))
            || cookie(headers).is_some_and(|given| same(given, token))
        {
            return Ok(false);
        }
        if query_token(request.uri().query()).is_some_and(|given| same(&given, token)) {
            return Ok(true);
        }
        Err(ApiError::new(
            ErrorCode::Unauthorized,
            "this console needs its token: send `Authorization: Bearer <token>`, the \
             `durable_token` cookie, or open the URL it printed (`?token=...`)",
        ))
    }
}

/// The middleware: runs the checks, then the route.
pub(crate) async fn check(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    // A request without `Host` (HTTP/1.0) comes from no browser, and DNS
    // rebinding needs one; it is let through to the token check.
    if let Some(host) = request.headers().get(header::HOST) {
        let host = host.to_str().unwrap_or_default();
        if !access.allows_host(host) {
            return ApiError::new(
                ErrorCode::ForbiddenHost,
                format!(
                    "the Host header `{}` does not name this server; add the name with Console::allow_host",
                    crate::extract::clip(host)
                ),
            )
            .into_response();
        }
    }
    let set_cookie = match access.presented(&request) {
        Ok(from_query) => from_query,
        Err(error) => return error.into_response(),
    };
    if changes_something(request.method()) {
        if let Err(error) = same_origin(request.headers()) {
            return error.into_response();
        }
        if access.read_only {
            return ApiError::new(
                ErrorCode::ReadOnly,
                "this console is read-only: it refuses every action",
            )
            .into_response();
        }
    }
    let mut response = next.run(request).await;
    if set_cookie {
        let cookie = format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            access.token
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Whether a request with `method` may change something: everything but
/// reads.
fn changes_something(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a request whose `Origin` (when it has one) is not the server its
/// `Host` names: a page of another site posting here.
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let authority = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    match (authority, host) {
        (Some(authority), Some(host)) if authority.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(ApiError::new(
            ErrorCode::ForbiddenOrigin,
            format!(
                "a request from origin `{}` cannot change anything on {}",
                crate::extract::clip(origin),
                host.map(crate::extract::clip)
                    .unwrap_or_else(|| "this server".into())
            ),
        )),
    }
}

/// The host name of a `Host` value, lowercase, without its port or a
/// trailing dot; an IPv6 address keeps its brackets.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of the `durable_token` cookie.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `token` query parameter.
fn query_token(query: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs
        .into_iter()
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value)
}

/// Compares two tokens in time that depends on their lengths only, so the
/// time an answer takes tells nothing about how much of a guess was right.
/// An empty token matches nothing.
fn same(given: &str, token: &str) -> bool {
    !token.is_empty()
        && given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// A fresh token: two random (v4) UUIDs as hex, 244 random bits from the
/// operating system's generator.
pub(crate) fn random_token() -> String {
    format!(
        "{}{}",
        durable::Uuid::new_v4().simple(),
        durable::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(bound: Option<&str>) -> Access {
        Access {
            token: "t".into(),
            read_only: false,
            bound: bound.map(|ip| ip.parse().unwrap()),
            hosts: vec!["console.internal".into()],
        }
    }

    #[test]
    fn local_names_loopback_and_the_bound_address_are_this_server() {
        let loopback = access(Some("127.0.0.1"));
        for host in [
            "localhost:7777",
            "LOCALHOST",
            "app.localhost",
            "127.0.0.1:7777",
            "127.0.0.2",
            "[::1]:7777",
            "console.internal:80",
            "console.internal.",
        ] {
            assert!(loopback.allows_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:7777",
            "localhost.evil.example",
            "10.0.0.5:7777",
            "",
        ] {
            assert!(!loopback.allows_host(host), "{host}");
        }
        assert!(access(Some("10.0.0.5")).allows_host("10.0.0.5:7777"));
        assert!(access(Some("0.0.0.0")).allows_host("10.0.0.5:7777"));
        assert!(!access(Some("0.0.0.0")).allows_host("evil.example"));
    }

    #[test]
    fn tokens_are_read_from_the_header_the_cookie_and_the_query() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        headers.insert(header::COOKIE, "a=1; durable_token=xyz".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        assert_eq!(cookie(&headers), Some("xyz"));
        assert_eq!(query_token(Some("x=1&token=q%20r")).as_deref(), Some("q r"));
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", ""));
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 64);
    }

    #[test]
    fn an_origin_must_be_the_host() {
        let headers = |origin: &str, host: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ORIGIN, origin.parse().unwrap());
            headers.insert(header::HOST, host.parse().unwrap());
            headers
        };
        assert!(same_origin(&headers("http://localhost:7777", "localhost:7777")).is_ok());
        assert!(same_origin(&headers("http://evil.example", "localhost:7777")).is_err());
        assert!(same_origin(&headers("http://localhost:8888", "localhost:7777")).is_err());
        assert!(same_origin(&headers("null", "localhost:7777")).is_err());
        assert!(same_origin(&HeaderMap::new()).is_ok());
    }
}
