//! Live updates and metrics: one run's stream (its steps and final status
//! in order, its end, `Last-Event-ID`), the all-runs stream (every status
//! change of many runs), keep-alives, the streams' bad inputs, and
//! `/metrics` (parsed, its counters matching the runs done).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::Method;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::workflows::trigger;
use super::{Api, UNKNOWN_RUN, wait_for};

/// One server-sent event.
#[derive(Debug, Clone, Default)]
struct Sse {
    event: String,
    id: Option<String>,
    data: Value,
}

/// An open event stream, read a frame at a time.
struct Stream {
    body: Body,
    buffer: String,
    /// Keep-alive comments seen so far.
    comments: usize,
}

impl Stream {
    /// Opens `GET path` with `headers`; panics unless it answers 200 with
    /// an event stream.
    async fn open(api: &Api, path: &str, headers: &[(&str, &str)]) -> Stream {
        let mut request = Api::request(Method::GET, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = api
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Stream {
            body: response.into_body(),
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event (keep-alives counted, not returned), or `None` when
    /// the stream ended; panics after 10 s without one.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Sse::default();
                let mut data = String::new();
                let mut comment = false;
                for line in block.lines() {
                    if let Some(text) = line.strip_prefix(':') {
                        comment = text.trim() == "keep-alive";
                    } else if let Some(value) = line.strip_prefix("event: ") {
                        event.event = value.to_owned();
                    } else if let Some(value) = line.strip_prefix("id: ") {
                        event.id = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data += value;
                    }
                }
                if comment && event.event.is_empty() {
                    self.comments += 1;
                    continue;
                }
                event.data = serde_json::from_str(&data).expect("event data is JSON");
                return Some(event);
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("an event within 10 s");
            match frame {
                None => return None,
                Some(frame) => {
                    if let Ok(bytes) = frame.expect("a frame").into_data() {
                        self.buffer += std::str::from_utf8(&bytes).expect("UTF-8");
                    }
                }
            }
        }
    }

    /// Events until the stream ends.
    async fn rest(&mut self) -> Vec<Sse> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }

    /// Events until one satisfies `done` (included).
    async fn until(&mut self, done: impl Fn(&Sse) -> bool) -> Vec<Sse> {
        let mut events = Vec::new();
        loop {
            let event = self.next().await.expect("the stream ended early");
            let stop = done(&event);
            events.push(event);
            if stop {
                return events;
            }
        }
    }
}

/// `(kind, name or status)` of each event: the order a client sees.
fn outline(events: &[Sse]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|event| {
            let what = match event.event.as_str() {
                "run" => event.data["status"].as_str().unwrap().to_owned(),
                "step" => format!(
                    "{} {}",
                    event.data["name"].as_str().unwrap(),
                    event.data["status"].as_str().unwrap()
                ),
                "log" => event.data["message"].as_str().unwrap().to_owned(),
                "end" => event.data["status"].as_str().unwrap().to_owned(),
                _ => event.data.to_string(),
            };
            (event.event.clone(), what)
        })
        .collect()
}

fn pair(kind: &str, what: &str) -> (String, String) {
    (kind.to_owned(), what.to_owned())
}

#[tokio::test]
async fn a_run_s_stream_follows_its_steps_to_its_final_status_and_ends() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.wait", json!("live")).await;
    wait_for(&api, &id, "suspended").await;
    let mut stream = Stream::open(&api, &format!("/api/v1/runs/{id}/events"), &[]).await;
    let first = stream
        .until(|event| event.event == "step" && event.data["name"] == "approval")
        .await;
    assert_eq!(
        outline(&first),
        [pair("run", "suspended"), pair("step", "approval waiting")]
    );
    assert_eq!(first[0].data["id"], id.as_str());
    let sent = api
        .post(
            &format!("/api/v1/runs/{id}/signal"),
            json!({"name": "approve", "data": true}),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let rest = stream.rest().await;
    let outline = outline(&rest);
    assert_eq!(
        outline.last().unwrap(),
        &pair("end", "completed"),
        "{outline:?}"
    );
    let completed_step = outline
        .iter()
        .position(|entry| *entry == pair("step", "approval completed"))
        .expect("the step's completion");
    let completed_run = outline
        .iter()
        .position(|entry| *entry == pair("run", "completed"))
        .expect("the run's completion");
    assert!(completed_step < completed_run, "{outline:?}");
    assert_eq!(completed_run, outline.len() - 2, "{outline:?}");
    let final_run = &rest[completed_run].data;
    assert_eq!(final_run["output"]["value"], "live: Some(true)");
    // Every event has an id, and no two the same.
    let mut ids: Vec<&str> = first
        .iter()
        .chain(&rest[..completed_run + 1])
        .map(|event| event.id.as_deref().expect("an id"))
        .collect();
    let count = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), count);
}

#[tokio::test]
async fn a_run_s_stream_tells_its_pause_and_resume() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.wait", json!("held")).await;
    wait_for(&api, &id, "suspended").await;
    let mut stream = Stream::open(&api, &format!("/api/v1/runs/{id}/events"), &[]).await;
    stream
        .until(|event| event.event == "step" && event.data["name"] == "approval")
        .await;
    let paused = api
        .post(&format!("/api/v1/runs/{id}/pause"), json!({}))
        .await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    let seen = stream
        .until(|event| event.event == "run" && event.data["paused_at"].is_i64())
        .await;
    let last = seen.last().unwrap();
    assert_eq!(last.data["status"], "suspended");
    assert!(last.id.as_deref().unwrap().starts_with("s1P."), "{last:?}");
    let resumed = api
        .post(&format!("/api/v1/runs/{id}/resume"), json!({}))
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    stream
        .until(|event| event.event == "run" && event.data["paused_at"].is_null())
        .await;
}

#[tokio::test]
async fn last_event_id_resumes_without_losing_or_repeating() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.wait", json!("resume")).await;
    wait_for(&api, &id, "suspended").await;
    let path = format!("/api/v1/runs/{id}/events");
    let mut stream = Stream::open(&api, &path, &[]).await;
    let seen = stream
        .until(|event| event.event == "step" && event.data["name"] == "approval")
        .await;
    let last = seen.last().unwrap().id.clone().unwrap();
    drop(stream);
    // While the client is away the run completes.
    api.post(
        &format!("/api/v1/runs/{id}/signal"),
        json!({"name": "approve", "data": true}),
    )
    .await;
    wait_for(&api, &id, "completed").await;
    let mut resumed = Stream::open(&api, &path, &[("last-event-id", &last)]).await;
    let rest = resumed.rest().await;
    assert_eq!(
        outline(&rest),
        [
            pair("step", "approval completed"),
            pair("run", "completed"),
            pair("end", "completed")
        ]
    );
    // Resumed from its last event, an ended run's stream only ends.
    let final_id = rest.last().unwrap().id.clone().unwrap();
    let mut again = Stream::open(&api, &path, &[("last-event-id", &final_id)]).await;
    assert_eq!(outline(&again.rest().await), [pair("end", "completed")]);
    // From the start, the whole run.
    let mut whole = Stream::open(&api, &path, &[]).await;
    assert_eq!(
        outline(&whole.rest().await),
        [
            pair("step", "approval completed"),
            pair("run", "completed"),
            pair("end", "completed")
        ]
    );
}

#[tokio::test]
async fn a_run_s_stream_carries_its_log_lines_once() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let id = trigger(&api, "console.order", json!({"order_id": "o", "amount": 3})).await;
    wait_for(&api, &id, "completed").await;
    let path = format!("/api/v1/runs/{id}/events");
    let events = Stream::open(&api, &path, &[]).await.rest().await;
    assert_eq!(
        outline(&events),
        [
            pair("step", "charge completed"),
            pair("log", "charging"),
            pair("run", "completed"),
            pair("end", "completed")
        ]
    );
    assert_eq!(events[1].data["level"], "info");
    // As `GET .../logs` shows it: the fields as their JSON text.
    let fields: Value = serde_json::from_str(events[1].data["fields"].as_str().unwrap()).unwrap();
    assert_eq!(fields["amount"], 3);
}

#[tokio::test]
async fn the_streams_refuse_what_they_cannot_follow() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    api.get_refused(
        &format!("/api/v1/runs/{UNKNOWN_RUN}/events"),
        404,
        "run_not_found",
    )
    .await;
    api.get_refused("/api/v1/runs/not-a-uuid/events", 400, "invalid_path")
        .await;
    let id = trigger(&api, "console.wait", json!("x")).await;
    let request = Api::request(Method::GET, &format!("/api/v1/runs/{id}/events"))
        .header("last-event-id", "nonsense")
        .body(Body::empty())
        .unwrap();
    let message = api.refused(request, 400, "invalid_query").await;
    assert!(message.contains("Last-Event-ID"), "{message}");
    api.get_refused("/api/v1/runs/events?status=failed", 400, "invalid_query")
        .await;
    let request = Api::request(Method::GET, "/api/v1/runs/events")
        .header("last-event-id", "x1")
        .body(Body::empty())
        .unwrap();
    api.refused(request, 400, "invalid_query").await;
    // Without the token, no stream.
    let request = axum::http::Request::builder()
        .uri("/api/v1/runs/events")
        .header("host", "localhost:7777")
        .body(Body::empty())
        .unwrap();
    api.refused(request, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_all_runs_stream_sees_every_status_change_of_many_runs() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let mut stream = Stream::open(&api, "/api/v1/runs/events", &[]).await;
    let mut ids = Vec::new();
    for index in 0..20 {
        let input = json!({"order_id": format!("o{index}"), "amount": index});
        ids.push(trigger(&api, "console.order", input).await);
    }
    let failed = trigger(&api, "console.fail", json!("no")).await;
    let mut statuses: HashMap<String, Vec<String>> = HashMap::new();
    let mut last_id = 0u64;
    let ended = |statuses: &HashMap<String, Vec<String>>| {
        ids.iter().chain([&failed]).all(|id| {
            statuses
                .get(id)
                .is_some_and(|s| ["completed", "failed"].contains(&s.last().unwrap().as_str()))
        })
    };
    while !ended(&statuses) {
        let event = stream.next().await.expect("the stream is open");
        assert_eq!(event.event, "status", "{event:?}");
        let id: u64 = event.id.as_deref().unwrap().parse().unwrap();
        assert!(id > last_id, "ids grow");
        last_id = id;
        let run = event.data["run_id"].as_str().unwrap().to_owned();
        let status = event.data["status"].as_str().unwrap().to_owned();
        statuses.entry(run).or_default().push(status);
    }
    for id in &ids {
        let seen = &statuses[id];
        assert_eq!(seen.last().unwrap(), "completed", "{seen:?}");
        assert!(seen.contains(&"running".to_owned()), "{seen:?}");
        assert_eq!(seen.iter().filter(|s| *s == "completed").count(), 1);
    }
    assert_eq!(statuses[&failed].last().unwrap(), "failed");
    // The workflow filter, and a reconnect told to resync.
    let mut orders = Stream::open(
        &api,
        "/api/v1/runs/events?workflow=console.fail",
        &[("last-event-id", &last_id.to_string())],
    )
    .await;
    let resync = orders.next().await.unwrap();
    assert_eq!(resync.event, "resync");
    assert_eq!(resync.data["reason"], "reconnected");
    trigger(
        &api,
        "console.order",
        json!({"order_id": "skip", "amount": 1}),
    )
    .await;
    let other = trigger(&api, "console.fail", json!("again")).await;
    let next = orders.next().await.unwrap();
    assert_eq!(next.data["run_id"], other.as_str());
    assert_eq!(next.data["workflow"], "console.fail");
}

#[tokio::test]
async fn a_quiet_stream_sends_keep_alives() {
    let db = test_db!();
    let engine = db.engine().await;
    let api = Api::with(&engine, |console| {
        console.keep_alive(Duration::from_millis(50))
    });
    let mut stream = Stream::open(&api, "/api/v1/runs/events", &[]).await;
    // The first change after two keep-alives: they came while it was quiet.
    let reader = tokio::spawn(async move {
        let event = stream.next().await;
        (event, stream.comments)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    trigger(&api, "console.order", json!({"order_id": "k", "amount": 1})).await;
    let (event, comments) = reader.await.unwrap();
    assert_eq!(event.unwrap().event, "status");
    assert!(comments >= 2, "{comments} keep-alives");
}

/// The samples of an OpenMetrics text: `name{labels}` to value; checks the
/// format's rules on the way (every sample's family is declared with a
/// type, the text ends with `# EOF`).
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut types = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_owned(), kind.to_owned());
        } else if line.starts_with('#') {
            continue;
        } else {
            let (key, value) = line.rsplit_once(' ').expect("a sample has a value");
            let name = key.split('{').next().unwrap();
            let family = ["_total", "_bucket", "_count", "_sum", "_created"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|family| types.contains_key(*family))
                .unwrap_or(name);
            assert!(types.contains_key(family), "no TYPE for {name}: {text}");
            samples.insert(key.to_owned(), value.parse().expect("a number"));
        }
    }
    samples
}

#[tokio::test]
async fn metrics_count_the_runs_done_and_read_the_queue() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let mut done = Vec::new();
    for index in 0..3 {
        let input = json!({"order_id": format!("m{index}"), "amount": 1});
        done.push(trigger(&api, "console.order", input).await);
    }
    let failed = trigger(&api, "console.fail", json!("no")).await;
    let waiting = trigger(&api, "console.wait", json!("w")).await;
    let cancelled = trigger(&api, "console.wait", json!("c")).await;
    for id in &done {
        wait_for(&api, id, "completed").await;
    }
    wait_for(&api, &failed, "failed").await;
    wait_for(&api, &waiting, "suspended").await;
    wait_for(&api, &cancelled, "suspended").await;
    let answer = api
        .post(&format!("/api/v1/runs/{cancelled}/cancel"), json!({}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    // A delayed run is pending but not due: no age.
    let delayed = api
        .post(
            "/api/v1/workflows/console.order/trigger",
            json!({"input": {"order_id": "later", "amount": 1}, "delay": "1h"}),
        )
        .await;
    assert_eq!(delayed.status, 200, "{}", delayed.body);

    let request = Api::request(Method::GET, "/metrics")
        .body(Body::empty())
        .unwrap();
    // The counters follow the feed in a task of their own: wait for the
    // cancel to be counted.
    let started = std::time::Instant::now();
    let samples = loop {
        let response = api
            .router
            .clone()
            .oneshot(request_clone(&request))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let samples = parse_metrics(std::str::from_utf8(&bytes).unwrap());
        if samples.get(r#"durable_runs_cancelled_total{workflow="console.wait"}"#) == Some(&1.0) {
            break samples;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{samples:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let get = |key: &str| samples.get(key).copied();
    assert_eq!(
        get(r#"durable_runs_completed_total{workflow="console.order"}"#),
        Some(3.0)
    );
    assert_eq!(
        get(r#"durable_runs_failed_total{workflow="console.fail"}"#),
        Some(1.0)
    );
    assert_eq!(
        get(r#"durable_runs_started_total{workflow="console.order"}"#),
        Some(3.0)
    );
    assert_eq!(
        get(r#"durable_runs_started_total{workflow="console.wait"}"#),
        Some(2.0)
    );
    assert_eq!(
        get(r#"durable_runs_completed_total{workflow="console.fail"}"#),
        None
    );
    assert_eq!(
        get(r#"durable_runs_suspended{workflow="console.wait"}"#),
        Some(1.0)
    );
    assert_eq!(
        get(r#"durable_runs_pending{workflow="console.order"}"#),
        Some(1.0)
    );
    assert_eq!(get("durable_oldest_pending_run_age_seconds"), Some(0.0));
    // Three `charge` steps and one `boom`, each of one attempt.
    assert_eq!(
        get(r#"durable_step_attempts_count{workflow="console.order"}"#),
        Some(3.0)
    );
    assert_eq!(
        get(r#"durable_step_attempts_bucket{le="1.0",workflow="console.order"}"#),
        Some(3.0)
    );
    assert_eq!(
        get(r#"durable_step_duration_seconds_count{workflow="console.order"}"#),
        Some(3.0)
    );
    assert_eq!(
        get(r#"durable_step_attempts_count{workflow="console.fail"}"#),
        Some(1.0)
    );
}

fn request_clone(request: &axum::http::Request<Body>) -> axum::http::Request<Body> {
    let mut builder = axum::http::Request::builder()
        .method(request.method())
        .uri(request.uri());
    for (name, value) in request.headers() {
        builder = builder.header(name, value);
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_client_console_follows_a_worker_s_runs_and_steps_on_postgres() {
    let db = test_db!();
    // Only PostgreSQL has separate processes' engines on one database.
    let super::Db::Test(shared @ durable_tests::TestDb::Postgres { .. }) = &db else {
        return;
    };
    let worker = Api::new(&db.engine().await);
    let client = shared.builder().client().await.unwrap();
    // A poll would take an hour: what the streams tell within the tests'
    // 10 s comes from the client's change feed.
    let console = Api::with(&client, |console| {
        console.poll_interval(Duration::from_secs(3600))
    });
    let mut all = Stream::open(&console, "/api/v1/runs/events", &[]).await;
    // The worker relays once the client wants its changes, and says so:
    // the stream asks its reader to read again what it shows.
    let began = all.until(|event| event.event == "resync").await;
    assert_eq!(began.last().unwrap().data["reason"], "interrupted");
    let id = trigger(&worker, "console.wait", json!("remote")).await;
    let of_run = |status: &'static str| {
        let id = id.clone();
        move |event: &Sse| event.data["run_id"] == id.as_str() && event.data["status"] == status
    };
    let seen = all.until(of_run("suspended")).await;
    assert!(seen.iter().all(|event| event.event == "status"), "{seen:?}");
    assert_eq!(seen.last().unwrap().data["workflow"], "console.wait");
    let mut one = Stream::open(&console, &format!("/api/v1/runs/{id}/events"), &[]).await;
    one.until(|event| event.event == "step" && event.data["name"] == "approval")
        .await;
    let sent = worker
        .post(
            &format!("/api/v1/runs/{id}/signal"),
            json!({"name": "approve", "data": true}),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let rest = outline(&one.rest().await);
    assert!(
        rest.contains(&pair("step", "approval completed")),
        "{rest:?}"
    );
    assert_eq!(rest.last().unwrap(), &pair("end", "completed"), "{rest:?}");
    all.until(of_run("completed")).await;
}
