//! The API's errors: a stable [`ErrorCode`] with its HTTP status, the JSON
//! body `{"code": "...", "message": "..."}` every refusal answers with, and
//! how each [`durable::Error`] maps onto a code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

macro_rules! error_codes {
    ($($(#[$meta:meta])* $variant:ident = ($text:literal, $status:ident),)*) => {
        /// The stable code of every error the API answers with, and its HTTP
        /// status. The code is the `code` field of the JSON error body; a
        /// client branches on it, never on the message.
        ///
        /// ```
        /// use durable_console::ErrorCode;
        /// assert_eq!(ErrorCode::RunNotFound.as_str(), "run_not_found");
        /// assert_eq!(ErrorCode::RunNotFound.status(), 404);
        /// assert!(ErrorCode::ALL.iter().all(|code| code.status() >= 400));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$meta])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of their statuses.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as the JSON body carries it, e.g. `run_not_found`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text,)* }
            }

            /// The HTTP status answered with this code.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => StatusCode::$status.as_u16(),)* }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON (a syntax error, or an empty body where one is
    /// needed). 400.
    InvalidJson = ("invalid_json", BAD_REQUEST),
    /// A query parameter is unknown, repeated or not of its type; the
    /// message names it. 400.
    InvalidQuery = ("invalid_query", BAD_REQUEST),
    /// A path segment is not of its type: a run id that is not a UUID, a
    /// step position that is not a number. 400.
    InvalidPath = ("invalid_path", BAD_REQUEST),
    /// The engine refused a filter: a page size outside 1 to 200, a cursor
    /// that is not one, a series range that is empty or longer than a day. 400.
    InvalidFilter = ("invalid_filter", BAD_REQUEST),
    /// An event or signal the engine refused: its name is empty. 400.
    InvalidEvent = ("invalid_event", BAD_REQUEST),
    /// A bulk action with neither a filter that narrows anything nor ids:
    /// refused rather than read as "every run". 400.
    EmptyFilter = ("empty_filter", BAD_REQUEST),
    /// No token, or a wrong one, on a console that has one. 401.
    Unauthorized = ("unauthorized", UNAUTHORIZED),
    /// The `Host` header names neither the bound address nor a local name
    /// (DNS rebinding). 403.
    ForbiddenHost = ("forbidden_host", FORBIDDEN),
    /// A request that changes something came from another origin than the
    /// `Host` it was sent to. 403.
    ForbiddenOrigin = ("forbidden_origin", FORBIDDEN),
    /// The console is read-only, or the engine cannot write to its
    /// database. 403.
    ReadOnly = ("read_only", FORBIDDEN),
    /// No route has this path. 404.
    NotFound = ("not_found", NOT_FOUND),
    /// No run has this id. 404.
    RunNotFound = ("run_not_found", NOT_FOUND),
    /// The run has no step at this position. 404.
    StepNotFound = ("step_not_found", NOT_FOUND),
    /// The run or step has no such value (yet): no output before it
    /// completed, no error unless it failed, no recorded input. 404.
    ValueNotFound = ("value_not_found", NOT_FOUND),
    /// No workflow of this name is known. 404.
    UnknownWorkflow = ("unknown_workflow", NOT_FOUND),
    /// The path exists, the method does not. 405.
    MethodNotAllowed = ("method_not_allowed", METHOD_NOT_ALLOWED),
    /// The run is in a status that does not allow the action (cancel a
    /// finished run, retry one that did not fail, signal a finished one). 409.
    InvalidTransition = ("invalid_transition", CONFLICT),
    /// The idempotency key already started a run with another input. 409.
    IdempotencyConflict = ("idempotency_conflict", CONFLICT),
    /// The body is over the console's limit, or a payload in it over the
    /// engine's [`durable::Limits`]. Nothing was written. 413.
    PayloadTooLarge = ("payload_too_large", PAYLOAD_TOO_LARGE),
    /// A body without `Content-Type: application/json`. 415.
    UnsupportedMediaType = ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE),
    /// The body is JSON of the wrong shape (a missing or unknown field, a
    /// wrong type); the message names the field. 422.
    InvalidRequest = ("invalid_request", UNPROCESSABLE_ENTITY),
    /// The workflow's input does not fit its schema; the message names the
    /// field. Nothing was written. 422.
    InvalidInput = ("invalid_input", UNPROCESSABLE_ENTITY),
    /// The database failed, or another unexpected error. 500.
    Internal = ("internal", INTERNAL_SERVER_ERROR),
    /// The engine is shut down or cannot reach its database now. 503.
    Unavailable = ("unavailable", SERVICE_UNAVAILABLE),
}

/// An error as the API answers it: a code and a message in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({ "code": self.code.as_str(), "message": self.message });
        (status, Json(body)).into_response()
    }
}

impl From<durable::Error> for ApiError {
    fn from(error: durable::Error) -> Self {
        ApiError::new(code_of(&error), error.to_string())
    }
}

/// The code an engine error answers with. The message is the engine's own
/// (it names the field, the limit, the statuses).
pub(crate) fn code_of(error: &durable::Error) -> ErrorCode {
    use durable::Error as E;
    match error {
        E::UnknownWorkflow { .. } => ErrorCode::UnknownWorkflow,
        E::RunNotFound(_) => ErrorCode::RunNotFound,
        E::InvalidInput { .. } => ErrorCode::InvalidInput,
        E::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
        E::InvalidTransition { .. } => ErrorCode::InvalidTransition,
        E::StepNotInJournal { .. } => ErrorCode::StepNotFound,
        E::IdempotencyConflict { .. } => ErrorCode::IdempotencyConflict,
        E::InvalidFilter(_) => ErrorCode::InvalidFilter,
        E::InvalidEvent(_) => ErrorCode::InvalidEvent,
        E::InvalidDuration(_) | E::InvalidQueue(_) => ErrorCode::InvalidRequest,
        // The engine opened its database read-only (a SQLite file another
        // engine holds); the message says why.
        E::ReadOnly { .. } => ErrorCode::ReadOnly,
        E::Shutdown | E::Connect { .. } | E::DatabaseInUse { .. } => ErrorCode::Unavailable,
        // `durable::Error` is non-exhaustive: a variant added later answers
        // 500 with its own message until it gets a code of its own.
        _ => ErrorCode::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_client_or_server_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text}"
            );
            assert!((400..600).contains(&code.status()), "{text}");
        }
    }

    #[test]
    fn engine_errors_map_to_their_codes() {
        let id: durable::RunId = "0190e0a4-4c6e-7a3e-9d0b-5b1f3c2a1d00".parse().unwrap();
        let cases = [
            (durable::Error::RunNotFound(id), ErrorCode::RunNotFound, 404),
            (
                durable::Error::InvalidInput {
                    workflow: "w".into(),
                    message: "order_id: missing field".into(),
                },
                ErrorCode::InvalidInput,
                422,
            ),
            (
                durable::Error::InvalidTransition {
                    run_id: id,
                    action: "cancel",
                    status: durable::RunStatus::Completed,
                    allowed: "pending, running or suspended",
                },
                ErrorCode::InvalidTransition,
                409,
            ),
            (
                durable::Error::InvalidFilter("x".into()),
                ErrorCode::InvalidFilter,
                400,
            ),
            (
                durable::Error::StepNotInJournal {
                    run_id: id,
                    step: "ship".into(),
                },
                ErrorCode::StepNotFound,
                404,
            ),
            (durable::Error::Shutdown, ErrorCode::Unavailable, 503),
            (
                durable::Error::ReadOnly {
                    reason: "another engine holds the file".into(),
                },
                ErrorCode::ReadOnly,
                403,
            ),
        ];
        for (error, code, status) in cases {
            let api = ApiError::from(error);
            assert_eq!(api.code, code);
            assert_eq!(api.code.status(), status);
        }
    }
}
