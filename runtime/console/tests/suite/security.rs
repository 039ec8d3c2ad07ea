//! Security by default: the token (missing, wrong, as a header, a cookie
//! or `?token=`), the `Host` check against DNS rebinding, the `Origin`
//! check on actions, read-only mode, and `bind`: loopback by default, no
//! other address without a token.

use axum::body::Body;
use axum::http::Method;
use serde_json::json;

use super::{Api, TOKEN, wait_for};

const TRIGGER: &str = "/api/v1/workflows/console.order/trigger";
const INPUT: &str = r#"{"input": {"order_id": "o", "amount": 1}}"#;

fn post(path: &str) -> axum::http::request::Builder {
    Api::request(Method::POST, path).header("content-type", "application/json")
}

#[tokio::test]
async fn every_request_needs_the_token() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    let bare = |method: Method, path: &str| {
        axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
    };
    for path in ["/api/v1/runs", "/healthz", "/openapi.json", "/api/v1/nope"] {
        api.refused(
            bare(Method::GET, path).body(Body::empty()).unwrap(),
            401,
            "unauthorized",
        )
        .await;
    }
    let missing = bare(Method::POST, TRIGGER)
        .header("content-type", "application/json")
        .body(Body::from(INPUT))
        .unwrap();
    let message = api.refused(missing, 401, "unauthorized").await;
    assert!(message.contains("Bearer"), "{message}");
    let wrong = bare(Method::POST, TRIGGER)
        .header("content-type", "application/json")
        .header("authorization", "Bearer not-the-token")
        .body(Body::from(INPUT))
        .unwrap();
    api.refused(wrong, 401, "unauthorized").await;
    let wrong_cookie = bare(Method::GET, "/api/v1/runs")
        .header("cookie", "durable_token=nope")
        .body(Body::empty())
        .unwrap();
    api.refused(wrong_cookie, 401, "unauthorized").await;
    let wrong_query = bare(Method::GET, "/api/v1/runs?token=nope")
        .body(Body::empty())
        .unwrap();
    api.refused(wrong_query, 401, "unauthorized").await;

    let cookie = bare(Method::GET, "/api/v1/runs")
        .header("cookie", format!("theme=dark; durable_token={TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(api.send(cookie).await.status, 200);
    // `?token=` lets a browser in and sets the cookie for what follows.
    let query = bare(
        Method::GET,
        &format!("/api/v1/runs?token={TOKEN}&status=failed"),
    )
    .body(Body::empty())
    .unwrap();
    let answer = api.send(query).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let set_cookie = answer.headers["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.starts_with(&format!("durable_token={TOKEN};")),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
}

#[tokio::test]
async fn a_host_that_is_not_this_server_is_refused() {
    let db = test_db!();
    let api = Api::with(&db.engine().await, |console| {
        console.allow_host("console.internal")
    });
    for host in [
        "evil.example",
        "evil.example:7777",
        "localhost.evil.example",
    ] {
        // `Api::request` set a local Host; this one replaces it.
        let mut request = post(TRIGGER).body(Body::from(INPUT)).unwrap();
        request.headers_mut().insert("host", host.parse().unwrap());
        let message = api.refused(request, 403, "forbidden_host").await;
        assert!(message.contains("allow_host"), "{message}");
        let mut read = Api::request(Method::GET, "/api/v1/runs")
            .body(Body::empty())
            .unwrap();
        read.headers_mut().insert("host", host.parse().unwrap());
        api.refused(read, 403, "forbidden_host").await;
    }
    for host in [
        "127.0.0.1:7777",
        "[::1]:7777",
        "console.internal",
        "app.localhost",
    ] {
        let mut read = Api::request(Method::GET, "/api/v1/runs")
            .body(Body::empty())
            .unwrap();
        read.headers_mut().insert("host", host.parse().unwrap());
        assert_eq!(api.send(read).await.status, 200, "{host}");
    }
}

#[tokio::test]
async fn an_action_from_another_origin_is_refused() {
    let db = test_db!();
    let api = Api::new(&db.engine().await);
    for origin in ["http://evil.example", "http://localhost:8888", "null"] {
        let request = post(TRIGGER)
            .header("origin", origin)
            .body(Body::from(INPUT))
            .unwrap();
        api.refused(request, 403, "forbidden_origin").await;
    }
    let cancel = post("/api/v1/runs/cancel")
        .header("origin", "http://evil.example")
        .body(Body::from(r#"{"filter": {"workflow": "console.order"}}"#))
        .unwrap();
    api.refused(cancel, 403, "forbidden_origin").await;
    // A read from another origin is answered (the browser keeps it from
    // the page); the same origin may act.
    let read = Api::request(Method::GET, "/api/v1/runs")
        .header("origin", "http://evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(api.send(read).await.status, 200);
    let same = post(TRIGGER)
        .header("origin", "http://localhost:7777")
        .body(Body::from(INPUT))
        .unwrap();
    let answer = api.send(same).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(api.total_runs().await, 1);
}

#[tokio::test]
async fn a_read_only_console_refuses_every_action_and_answers_reads() {
    let db = test_db!();
    let engine = db.engine().await;
    let writer = Api::new(&engine);
    let id = super::workflows::trigger(&writer, "console.wait", json!("a")).await;
    wait_for(&writer, &id, "suspended").await;
    let api = Api::with(&engine, |console| console.read_only(true));
    let actions = [
        (TRIGGER.to_owned(), INPUT.to_owned()),
        (format!("/api/v1/runs/{id}/cancel"), String::new()),
        (format!("/api/v1/runs/{id}/retry"), String::new()),
        (
            format!("/api/v1/runs/{id}/signal"),
            r#"{"name": "approve"}"#.to_owned(),
        ),
        ("/api/v1/events".to_owned(), r#"{"name": "e"}"#.to_owned()),
        (
            "/api/v1/runs/cancel".to_owned(),
            format!(r#"{{"ids": ["{id}"]}}"#),
        ),
        (
            "/api/v1/runs/retry".to_owned(),
            format!(r#"{{"ids": ["{id}"]}}"#),
        ),
    ];
    for (path, body) in actions {
        let message = api.post_refused(&path, &body, 403, "read_only").await;
        assert!(message.contains("read-only"), "{message}");
    }
    assert_eq!(api.get("/healthz").await.body["read_only"], true);
    let detail = api.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(
        detail.body["run"]["status"], "suspended",
        "nothing was cancelled"
    );
}

#[tokio::test]
async fn bind_serves_on_loopback_and_refuses_an_open_address_without_a_token() {
    let db = test_db!();
    let engine = db.engine().await;
    let open = durable_console::Console::new(&engine)
        .bind("0.0.0.0:0")
        .await;
    match open {
        Err(durable_console::ConsoleError::TokenRequired { addr }) => {
            assert!(addr.ip().is_unspecified())
        }
        other => panic!("expected TokenRequired, got {other:?}"),
    }
    let empty = durable_console::Console::new(&engine)
        .token("")
        .bind("127.0.0.1:0")
        .await;
    assert!(matches!(
        empty,
        Err(durable_console::ConsoleError::InvalidToken)
    ));

    let console = durable_console::Console::new(&engine);
    let token = console.access_token().to_owned();
    let serving = console.bind("127.0.0.1:0").await.expect("binds loopback");
    let addr = serving.local_addr();
    assert!(addr.ip().is_loopback());
    assert_eq!(serving.url(), format!("http://{addr}/?token={token}"));
    let answer = http_get(addr, "/healthz", &token).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""status":"ok""#), "{answer}");
    let refused = http_get(addr, "/healthz", "wrong").await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    serving.shutdown().await.expect("stops");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening"
    );

    let with_token = durable_console::Console::new(&engine)
        .token("t0k3n")
        .bind("0.0.0.0:0")
        .await;
    let serving = with_token.expect("an open address with a token");
    assert_eq!(
        serving.url(),
        format!("http://localhost:{}/", serving.local_addr().port())
    );
    serving.shutdown().await.expect("stops");
}

/// A `GET` over a real connection, with the bearer token; the whole answer.
async fn http_get(addr: std::net::SocketAddr, path: &str, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
}
