//! Sending the API's requests: over HTTP to a serving console (`--api`),
//! or to a console router built in this process on an engine the CLI opens
//! (`--database-url`). Either way a command sees the API's JSON answer, or
//! its refusal as a [`CliError`] whose [`Exit`] a script can branch on.

use std::collections::VecDeque;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tower::ServiceExt;

use super::Exit;
use super::args::Target;
use super::connect;
use super::sse::{SseEvent, SseParser};

/// How long connecting to a console may take before the CLI gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one request may take: long enough for a bulk action over many
/// runs, short enough that a hung server does not hang a script forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a command failed, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The command line cannot be carried out as given.
    #[error("{0}")]
    Usage(String),
    /// The API refused the request.
    #[error("{message} [{code}]")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's stable error code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The console cannot be reached.
    #[error("cannot reach the console at {target}: {message}")]
    Connect {
        /// The console's address.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// The database cannot be opened.
    #[error("cannot open the database: {0}{hint}", hint = connect::hint(.0))]
    Open(#[source] durable::Error),
    /// The console cannot be served (`durable console`).
    #[error(transparent)]
    Serve(crate::ConsoleError),
    /// The answer is not what the API answers.
    #[error("the console's answer is not the API's: {0}")]
    Server(String),
}

impl CliError {
    /// The exit code this error ends the process with.
    pub(crate) fn exit(&self) -> Exit {
        match self {
            CliError::Usage(_) => Exit::Usage,
            CliError::Api { status, .. } => exit_of(*status),
            CliError::Open(durable::Error::Config(_)) => Exit::Usage,
            CliError::Serve(
                crate::ConsoleError::TokenRequired { .. } | crate::ConsoleError::InvalidToken,
            ) => Exit::Usage,
            CliError::Serve(_) => Exit::Unavailable,
            CliError::Connect { .. } | CliError::Open(_) | CliError::Server(_) => Exit::Unavailable,
        }
    }
}

/// The exit code of a refusal with HTTP `status`.
fn exit_of(status: u16) -> Exit {
    match status {
        // The CLI sent what the user typed: a malformed filter, a bad id.
        400 | 405 => Exit::Usage,
        404 => Exit::NotFound,
        500.. => Exit::Unavailable,
        _ => Exit::Refused,
    }
}

/// Where the requests go.
enum Transport {
    /// A console router in this process, on an engine the CLI opened.
    Local {
        router: Router,
        token: String,
        engine: durable::Engine,
    },
    /// A serving console.
    Remote {
        client: Client<HttpConnector, Full<Bytes>>,
        /// `http://host:port` and the path prefix, without a trailing `/`.
        base: String,
        token: Option<String>,
    },
}

/// The API, wherever it is.
pub(crate) struct Api {
    transport: Transport,
}

impl Api {
    /// The API that `target` names: `--api` if given, else `--database-url`.
    pub(crate) async fn connect(target: &Target) -> Result<Api, CliError> {
        if let Some(url) = &target.api {
            let (base, token) = parse_api(url, target.token.as_deref())?;
            let mut connector = HttpConnector::new();
            connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
            let client = Client::builder(TokioExecutor::new()).build(connector);
            return Ok(Api {
                transport: Transport::Remote {
                    client,
                    base,
                    token,
                },
            });
        }
        let engine = connect::open_engine(target).await?;
        let console = crate::Console::new(&engine);
        Ok(Api {
            transport: Transport::Local {
                router: console.router(),
                token: console.access_token().to_owned(),
                engine,
            },
        })
    }

    /// `GET path` (with its query).
    pub(crate) async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with `body` as JSON.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.send(Method::POST, path, Some(body.to_string())).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Value, CliError> {
        let json = body.is_some();
        let head = |uri: &str, token: Option<&str>| request(method.clone(), uri, token, json);
        let response = self.respond(path, head, body.unwrap_or_default()).await?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|error| self.lost(error.to_string()))?;
        answer(status, &bytes)
    }

    /// `GET path` as a stream of server-sent events; a reconnect gives
    /// `last_id` (the last event id seen) as `Last-Event-ID`. A refusal
    /// (the run does not exist) is the error it would be for [`Api::get`].
    pub(crate) async fn events(
        &self,
        path: &str,
        last_id: Option<&str>,
    ) -> Result<EventStream, CliError> {
        let head = |uri: &str, token: Option<&str>| {
            let builder =
                request(Method::GET, uri, token, false).header(header::ACCEPT, "text/event-stream");
            match last_id {
                Some(id) => builder.header("last-event-id", id),
                None => builder,
            }
        };
        let response = self.respond(path, head, String::new()).await?;
        let status = response.status();
        let body = response.into_body();
        if !status.is_success() {
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .map_err(|error| self.lost(error.to_string()))?;
            answer(status, &bytes)?;
            return Err(CliError::Server(format!("{status} is no event stream")));
        }
        Ok(EventStream {
            body,
            parser: SseParser::default(),
            queue: VecDeque::new(),
        })
    }

    /// The answer's head to the request `head` builds (from the URI and the
    /// token) for `path` with `body`; its body comes as it is read. Only
    /// the head is timed: an event stream lasts as long as its run.
    async fn respond(
        &self,
        path: &str,
        head: impl Fn(&str, Option<&str>) -> axum::http::request::Builder,
        body: String,
    ) -> Result<axum::response::Response, CliError> {
        match &self.transport {
            Transport::Local { router, token, .. } => {
                let request = head(path, Some(token))
                    .body(Body::from(body))
                    .map_err(|error| {
                        CliError::Usage(format!("bad request path {path}: {error}"))
                    })?;
                // The router's service never fails: its errors are answers.
                match router.clone().oneshot(request).await {
                    Ok(response) => Ok(response),
                    Err(never) => match never {},
                }
            }
            Transport::Remote {
                client,
                base,
                token,
            } => {
                let uri = format!("{base}{path}");
                let request = head(&uri, token.as_deref())
                    .body(Full::new(Bytes::from(body)))
                    .map_err(|error| CliError::Usage(format!("bad request URL {uri}: {error}")))?;
                let response = tokio::time::timeout(REQUEST_TIMEOUT, client.request(request))
                    .await
                    .map_err(|_| self.lost(format!("no answer in {REQUEST_TIMEOUT:?}")))?
                    .map_err(|error| self.lost(describe(&error)))?;
                Ok(response.map(Body::new))
            }
        }
    }

    /// The error of an answer that could not be had: for a serving
    /// console, that it cannot be reached.
    fn lost(&self, message: String) -> CliError {
        match &self.transport {
            Transport::Local { .. } => CliError::Server(message),
            Transport::Remote { base, .. } => CliError::Connect {
                target: base.clone(),
                message,
            },
        }
    }

    /// Lets go of the database (a SQLite file is free for a worker again).
    pub(crate) async fn close(self) {
        if let Transport::Local { engine, .. } = self.transport {
            engine.shutdown().await;
        }
    }
}

/// An open stream of server-sent events ([`Api::events`]).
pub(crate) struct EventStream {
    body: Body,
    parser: SseParser,
    /// Events read but not yet taken.
    queue: VecDeque<SseEvent>,
}

impl EventStream {
    /// The next event, waiting for it; `Ok(None)` once the server closed
    /// the stream, an error when the connection broke.
    pub(crate) async fn next(&mut self) -> Result<Option<SseEvent>, String> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(Some(event));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(error)) => return Err(error.to_string()),
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.queue.extend(self.parser.push(data));
                    }
                }
            }
        }
    }
}

/// A request with the headers every one carries: the token, a local
/// `Host` (the remote client sets its own), and JSON.
fn request(
    method: Method,
    uri: &str,
    token: Option<&str>,
    json: bool,
) -> axum::http::request::Builder {
    let mut builder = Request::builder().method(method).uri(uri);
    if !uri.starts_with("http") {
        builder = builder.header(header::HOST, "localhost");
    }
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if json {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    builder
}

/// A client error in words, with its cause (hyper's own message is only
/// "client error (Connect)").
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The JSON of a successful answer, or the refusal it carries.
fn answer(status: StatusCode, bytes: &[u8]) -> Result<Value, CliError> {
    let body: Option<Value> = serde_json::from_slice(bytes).ok();
    if status.is_success() {
        return body.ok_or_else(|| {
            CliError::Server(format!(
                "{status} with a body that is not JSON: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ))
        });
    }
    let text = |field: &str| {
        body.as_ref()
            .and_then(|body| body[field].as_str())
            .map(str::to_owned)
    };
    Err(CliError::Api {
        status: status.as_u16(),
        code: text("code").unwrap_or_else(|| status.as_u16().to_string()),
        message: text("message").unwrap_or_else(|| {
            let body = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            format!("{status}: {body}")
        }),
    })
}

/// The base URL (scheme, authority, path prefix) of `--api` and the token:
/// `--token`, else the URL's `?token=` (the URL a console prints).
fn parse_api(url: &str, token: Option<&str>) -> Result<(String, Option<String>), CliError> {
    let usage = |why: &str| CliError::Usage(format!("--api {url:?}: {why}"));
    let uri: Uri = url
        .parse()
        .map_err(|_| usage("not a URL (e.g. http://127.0.0.1:7777)"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(usage(
                "the CLI speaks plain HTTP, to a console on a loopback address or behind a proxy that ends TLS",
            ));
        }
        _ => return Err(usage("expected http://HOST:PORT")),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| usage("expected http://HOST:PORT"))?;
    let prefix = uri.path().trim_end_matches('/');
    let from_url = uri.query().and_then(|query| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find(|(key, _)| key == "token")
            .map(|(_, value)| value)
    });
    let token = token.map(str::to_owned).or(from_url);
    Ok((format!("http://{authority}{prefix}"), token))
}

/// `text` as one path segment: everything but unreserved characters
/// percent-encoded, so a workflow name with `/` or a space stays one
/// segment.
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `path` with `pairs` as its query (none when empty).
pub(crate) fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    // Encoding pairs of strings cannot fail.
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    format!("{path}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_give_a_base_and_a_token() {
        let (base, token) = parse_api("http://127.0.0.1:7777/?token=abc", None).unwrap();
        assert_eq!(base, "http://127.0.0.1:7777");
        assert_eq!(token.as_deref(), Some("abc"));
        let (base, token) = parse_api("http://localhost:80/durable/?token=abc", Some("x")).unwrap();
        assert_eq!(base, "http://localhost:80/durable");
        assert_eq!(token.as_deref(), Some("x"));
        for bad in ["https://h:1", "ftp://h", "127.0.0.1:7777", "not a url"] {
            let error = parse_api(bad, None).unwrap_err();
            assert_eq!(error.exit(), Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn refusals_map_to_exit_codes() {
        let refusal = |status: u16, body: &str| {
            answer(StatusCode::from_u16(status).unwrap(), body.as_bytes()).unwrap_err()
        };
        let error = refusal(404, r#"{"code":"run_not_found","message":"no run x"}"#);
        assert_eq!(error.exit(), Exit::NotFound);
        assert_eq!(error.to_string(), "no run x [run_not_found]");
        assert_eq!(refusal(409, "{}").exit(), Exit::Refused);
        assert_eq!(refusal(422, "{}").exit(), Exit::Refused);
        assert_eq!(refusal(401, "{}").exit(), Exit::Refused);
        assert_eq!(refusal(400, "{}").exit(), Exit::Usage);
        assert_eq!(refusal(503, "down").exit(), Exit::Unavailable);
        assert!(refusal(503, "down").to_string().contains("down"));
        assert_eq!(
            answer(StatusCode::OK, b"[1]").unwrap(),
            serde_json::json!([1])
        );
        assert_eq!(
            answer(StatusCode::OK, b"<html>").unwrap_err().exit(),
            Exit::Unavailable
        );
    }

    #[test]
    fn segments_and_queries_are_encoded() {
        assert_eq!(segment("order-fulfillment"), "order-fulfillment");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
        assert_eq!(
            with_query(
                "/api/v1/runs",
                &[("status", "failed".into()), ("text", "a b&c".into())]
            ),
            "/api/v1/runs?status=failed&text=a+b%26c"
        );
        assert_eq!(with_query("/x", &[]), "/x");
    }
}
