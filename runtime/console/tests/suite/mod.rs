//! The console's routes through the router (no sockets), on whichever
//! backend the including test file chooses with `test_db`: the helpers
//! that send requests and check refusals, and one file per concern.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use durable::{Engine, EngineBuilder};
use serde_json::Value;
use tower::ServiceExt;

/// The name of the function this is used in, for labels.
macro_rules! test_name {
    () => {{
        fn here() {}
        let path = ::std::any::type_name_of_val(&here);
        path.rsplit("::")
            .skip(1)
            .find(|segment| *segment != "{{closure}}")
            .unwrap_or(path)
    }};
}

/// The database of the test this is used in, on the including file's
/// backend; when that backend is not configured (a notice was printed),
/// the test returns early and passes.
macro_rules! test_db {
    () => {
        match crate::test_db(test_name!()) {
            Some(db) => db,
            None => return,
        }
    };
}

mod actions;
mod bulk;
mod catalog;
mod live;
mod runs;
mod security;
mod stats;
mod unserved;
mod workflows;

/// A fresh database for one test.
// Each including file (one per backend) builds one of the variants.
#[allow(dead_code)]
pub(crate) enum Db {
    /// An in-memory SQLite database.
    Memory,
    /// A SQLite file or a PostgreSQL schema of the behaviour suite's.
    Test(durable_tests::TestDb),
}

impl Db {
    /// An engine builder on this database, with the suite's workflows.
    pub(crate) fn builder(&self) -> EngineBuilder {
        let builder = match self {
            Db::Memory => Engine::builder().sqlite_memory(),
            Db::Test(db) => db.builder(),
        };
        workflows::register(builder)
    }

    /// A started engine with the suite's workflows.
    pub(crate) async fn engine(&self) -> Engine {
        self.builder()
            .start()
            .await
            .expect("the test engine starts")
    }
}

/// The token the suite's consoles have.
pub(crate) const TOKEN: &str = "suite-token";

/// A console's router and the engine under it.
pub(crate) struct Api {
    pub(crate) engine: Engine,
    router: Router,
}

/// An answer: status, headers, and the body as JSON.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Api {
    /// The console on `engine`, with [`TOKEN`].
    pub(crate) fn new(engine: &Engine) -> Self {
        Api::with(engine, |console| console)
    }

    /// The console on `engine` as `configure` sets it up, with [`TOKEN`].
    pub(crate) fn with(
        engine: &Engine,
        configure: impl FnOnce(durable_console::Console) -> durable_console::Console,
    ) -> Self {
        let console = configure(durable_console::Console::new(engine).token(TOKEN));
        Api {
            engine: engine.clone(),
            router: console.router(),
        }
    }

    /// A request to `path` as a local client sends it: with the token and
    /// a local `Host`.
    pub(crate) fn request(method: Method, path: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost:7777")
            .header("authorization", format!("Bearer {TOKEN}"))
    }

    /// Sends `request` through the router.
    pub(crate) async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body");
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )
        });
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send(Api::request(Method::GET, path).body(Body::empty()).unwrap())
            .await
    }

    /// `POST path` with a JSON body.
    pub(crate) async fn post(&self, path: &str, body: Value) -> Answer {
        self.post_text(path, &body.to_string()).await
    }

    /// `POST path` with `text` as a JSON body.
    pub(crate) async fn post_text(&self, path: &str, text: &str) -> Answer {
        let request = Api::request(Method::POST, path)
            .header("content-type", "application/json")
            .body(Body::from(text.to_owned()))
            .unwrap();
        self.send(request).await
    }

    /// How many runs the database holds, by `count_runs`.
    pub(crate) async fn total_runs(&self) -> u64 {
        let counts = self.engine.count_runs().await.expect("count_runs");
        counts.iter().map(|count| count.count).sum()
    }

    /// Sends `request` and checks that it is refused with `status` and
    /// `code`, a message, and no run written; returns the message.
    pub(crate) async fn refused(&self, request: Request<Body>, status: u16, code: &str) -> String {
        let before = self.total_runs().await;
        let answer = self.send(request).await;
        assert_eq!(answer.status.as_u16(), status, "{}", answer.body);
        assert_eq!(answer.body["code"], code, "{}", answer.body);
        let message = answer.body["message"].as_str().expect("a message");
        assert!(!message.is_empty());
        assert_eq!(self.total_runs().await, before, "a refusal wrote a run");
        message.to_owned()
    }

    /// [`refused`](Api::refused) for `POST path` with a JSON body.
    pub(crate) async fn post_refused(
        &self,
        path: &str,
        body: &str,
        status: u16,
        code: &str,
    ) -> String {
        let request = Api::request(Method::POST, path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        self.refused(request, status, code).await
    }

    /// [`refused`](Api::refused) for `GET path`.
    pub(crate) async fn get_refused(&self, path: &str, status: u16, code: &str) -> String {
        let request = Api::request(Method::GET, path).body(Body::empty()).unwrap();
        self.refused(request, status, code).await
    }
}

/// Waits (up to 10 s) until run `id` has `status`, as the API shows it.
pub(crate) async fn wait_for(api: &Api, id: &str, status: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let answer = api.get(&format!("/api/v1/runs/{id}")).await;
        if answer.body["run"]["status"] == status {
            return answer.body;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "run {id} stayed {}, expected {status}",
            answer.body["run"]["status"]
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A run id that no run has.
pub(crate) const UNKNOWN_RUN: &str = "0190e0a4-4c6e-7a3e-9d0b-5b1f3c2a1d00";
