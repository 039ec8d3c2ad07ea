//! The service's own routes: health, and the OpenAPI document that
//! describes every route.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::AppState;

/// The OpenAPI 3.1 document of the API, written by hand beside the crate;
/// a test checks it against the route table.
pub(crate) const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /healthz`: the console answers, and whether it refuses actions:
/// set read-only, or on an engine that opened its database read-only (a
/// SQLite file another engine holds).
pub(super) async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let read_only = state.read_only || state.engine.is_read_only();
    Json(json!({ "status": "ok", "read_only": read_only }))
}

/// `GET /openapi.json`.
pub(super) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
