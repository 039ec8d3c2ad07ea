//! The route table against `openapi.json`: every route is documented, every
//! documented operation is a route that the router serves, and every error
//! code is in the document.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use super::{Verb, routes};
use crate::error::ErrorCode;
use crate::routes::meta::OPENAPI;

fn document() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
}

/// Every `(method, path)` the document describes.
fn documented() -> BTreeSet<(String, String)> {
    let document = document();
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            operations.insert((method.clone(), path.clone()));
        }
    }
    operations
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_a_route() {
    let served: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|route| (route.verb.as_str().to_owned(), route.path.to_owned()))
        .collect();
    assert_eq!(served.len(), routes().len(), "a route is listed twice");
    let documented = documented();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "not in openapi.json: {undocumented:?}"
    );
    assert!(unserved.is_empty(), "documented, not served: {unserved:?}");
}

#[test]
fn the_document_is_openapi_3_1_with_every_error_code_and_resolvable_refs() {
    let document = document();
    assert_eq!(document["openapi"], "3.1.0");
    let codes: BTreeSet<&str> =
        document["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
            .as_array()
            .expect("the error codes")
            .iter()
            .map(|code| code.as_str().expect("a code"))
            .collect();
    let ours: BTreeSet<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
    assert_eq!(codes, ours);
    let mut references = Vec::new();
    collect_refs(&document, &mut references);
    assert!(references.len() > 20, "{references:?}");
    for pointer in references {
        let target = document.pointer(pointer.trim_start_matches('#'));
        assert!(target.is_some(), "{pointer} resolves to nothing");
    }
}

/// Every `$ref` in `value`.
fn collect_refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match item {
                    Value::String(target) if key == "$ref" => found.push(target.clone()),
                    other => collect_refs(other, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, found)),
        _ => {}
    }
}

/// Each documented operation, sent through the router with sample path
/// values, reaches a route: the answer is not the router's own "no route"
/// or "method not allowed".
#[tokio::test]
async fn every_documented_operation_reaches_a_handler() {
    let engine = durable::Engine::builder()
        .sqlite_memory()
        .start()
        .await
        .expect("engine");
    let console = crate::Console::new(&engine).token("t");
    for (method, path) in documented() {
        let uri = path
            .replace("{id}", "0190e0a4-4c6e-7a3e-9d0b-5b1f3c2a1d00")
            .replace("{seq}", "0")
            .replace("{name}", "nope");
        let verb = if method == "get" {
            Verb::Get
        } else {
            Verb::Post
        };
        let request = Request::builder()
            .method(verb.as_str().to_uppercase().as_str())
            .uri(&uri)
            .header("host", "localhost")
            .header("authorization", "Bearer t")
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .expect("request");
        let response = console.router().oneshot(request).await.expect("answer");
        let status = response.status();
        let json = response
            .headers()
            .get("content-type")
            .is_some_and(|kind| kind == "application/json");
        if !json {
            // A live stream (which does not end) or the metrics' text: a
            // handler answered it.
            assert_eq!(status, StatusCode::OK, "{method} {uri}");
            continue;
        }
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let answer: Value = serde_json::from_slice(&body).expect("a JSON answer");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert_ne!(answer["code"], "not_found", "{method} {uri}: {answer}");
    }
    engine.shutdown().await;
}
