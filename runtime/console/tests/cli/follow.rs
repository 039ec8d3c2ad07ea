//! `runs watch --api` follows the run's event stream: a console router
//! served here behind a layer that records every request (and cuts the
//! first event stream after its first event), so a test can tell that the
//! CLI read no run by polling and resumed the cut stream with
//! `Last-Event-ID`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use durable::{Engine, RunStatus};
use durable_console::Console;
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{Cli, Event, wait_for};

/// One request the served console received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    last_event_id: Option<String>,
}

/// A console router served on a loopback port, recording its requests.
struct Served {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn start(engine: &Engine, token: &str) -> Served {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let cut = Arc::new(AtomicBool::new(true));
        let log = seen.clone();
        let layer = axum::middleware::from_fn(move |request: Request, next: Next| {
            let (log, cut) = (log.clone(), cut.clone());
            async move {
                let path = request.uri().path().to_owned();
                log.lock().unwrap().push(Seen {
                    method: request.method().to_string(),
                    path: path.clone(),
                    last_event_id: request
                        .headers()
                        .get("last-event-id")
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned),
                });
                let response = next.run(request).await;
                if !(path.ends_with("/events") && cut.swap(false, Ordering::SeqCst)) {
                    return response;
                }
                // The first stream ends after its first event, as a
                // connection a proxy cut would.
                let (parts, body) = response.into_parts();
                Response::from_parts(parts, Body::from_stream(body.into_data_stream().take(1)))
            }
        });
        let router = Console::new(engine).token(token).router().layer(layer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Served { url, seen, server }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A run waiting for an event, watched through the API: the watch prints
/// the run suspended, then, once the event is sent, the run completed, and
/// exits 0 at once; it never read the run (`GET /api/v1/runs/{id}`), and
/// opened the cut stream again from the last event it had.
pub(crate) async fn watch_follows_the_stream(engine: &Engine, token: &str) {
    let served = Served::start(engine, token).await;
    let cli = Cli::api(&served.url, token);
    let run = engine.trigger::<Event>(41).await.unwrap().id();
    wait_for(engine, run, RunStatus::Suspended).await;
    let id = run.to_string();
    let args = ["runs", "watch", &id];
    let mut child = cli.command(&args).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines = Vec::new();
    let suspended = format!("run {id} suspended");
    while !lines.iter().any(|line: &String| line.ends_with(&suspended)) {
        let line = tokio::time::timeout(Duration::from_secs(10), stdout.next_line())
            .await
            .expect("the watch prints the run suspended")
            .unwrap()
            .unwrap_or_else(|| panic!("the watch ended early: {lines:?}"));
        lines.push(line);
    }
    // Five of the old watch's reads of the run would have come meanwhile.
    tokio::time::sleep(Duration::from_secs(1)).await;
    engine
        .send_event("cli.paid", serde_json::json!({ "order": 41, "cents": 99 }))
        .await
        .unwrap();
    let sent = Instant::now();
    while let Some(line) = tokio::time::timeout(Duration::from_secs(10), stdout.next_line())
        .await
        .expect("the watch follows the run to its end")
        .unwrap()
    {
        lines.push(line);
    }
    let status = child.wait().await.unwrap();
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(0), "{lines:?}");
    assert!(took < Duration::from_secs(5), "{took:?}: {lines:?}");
    assert_eq!(
        lines
            .iter()
            .filter(|line| line.ends_with(&suspended))
            .count(),
        1,
        "the resumed stream told the run again: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.ends_with(&format!("run {id} completed"))),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("paid (wait_for_event) completed")),
        "{lines:?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("output: 99"));

    let seen = served.seen();
    let reads = seen
        .iter()
        .filter(|request| request.path == format!("/api/v1/runs/{id}"))
        .count();
    assert_eq!(reads, 0, "the watch read the run: {seen:?}");
    let streams: Vec<&Seen> = seen
        .iter()
        .filter(|request| request.path == format!("/api/v1/runs/{id}/events"))
        .collect();
    assert_eq!(streams.len(), 2, "{seen:?}");
    assert!(streams.iter().all(|request| request.method == "GET"));
    assert_eq!(streams[0].last_event_id, None);
    // The id of the one event the cut stream sent: the run suspended.
    let resumed = streams[1].last_event_id.as_deref().unwrap_or_default();
    assert!(resumed.starts_with("s1."), "{seen:?}");
    served.server.abort();
}
