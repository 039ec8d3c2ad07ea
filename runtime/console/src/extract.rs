//! Reading requests into typed values with the API's own errors: a JSON
//! body ([`JsonBody`]), query pairs ([`QueryPairs`]) and path segments.
//! axum's extractors answer their refusals in plain text; these answer
//! with an [`ApiError`] whose message names what is wrong.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// A JSON request body of type `T`. Needs `Content-Type: application/json`
/// (a browser cannot send that cross-origin without asking first).
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        "the body is over the console's limit (Console::max_body_bytes); nothing was written",
                    )
                } else {
                    ApiError::new(
                        ErrorCode::InvalidJson,
                        format!("cannot read the body: {}", rejection.body_text()),
                    )
                }
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// `bytes` as JSON of type `T`: a syntax error is `invalid_json`, a value
/// of the wrong shape `invalid_request` naming the field's path.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_data() {
            let at = if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            };
            ApiError::new(ErrorCode::InvalidRequest, format!("{at}{inner}"))
        } else {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("the body is not JSON: {inner}"),
            )
        }
    })?;
    deserializer.end().map_err(|error| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not JSON: {error}"),
        )
    })?;
    Ok(value)
}

/// The query string as decoded `(key, value)` pairs, in order; a key may
/// repeat. The `token` parameter is the security check's, not the route's,
/// and is left out.
pub(crate) struct QueryPairs(pub(crate) Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .map(|pairs| {
                QueryPairs(
                    pairs
                        .into_iter()
                        .filter(|(key, _)| key != "token")
                        .collect(),
                )
            })
            .map_err(|error| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("cannot read the query: {error}"),
                )
            })
    }
}

impl QueryPairs {
    /// Refuses a key outside `known`, naming it and the known ones.
    pub(crate) fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .0
            .iter()
            .find(|(key, _)| !known.contains(&key.as_str()))
        {
            Some((key, _)) => Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!(
                    "unknown query parameter `{}`; this route takes {}",
                    clip(key),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )),
            None => Ok(()),
        }
    }

    /// The one value of `key`, or `None`; a repeated key is refused.
    pub(crate) fn single(&self, key: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.0.iter().filter(|(k, _)| k == key);
        let first = values.next().map(|(_, value)| value.as_str());
        if values.next().is_some() {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("query parameter `{key}` is given more than once"),
            ));
        }
        Ok(first)
    }

    /// The one value of `key` parsed as `T`, naming the key when it is not one.
    pub(crate) fn parsed<T: std::str::FromStr>(
        &self,
        key: &str,
        what: &str,
    ) -> Result<Option<T>, ApiError> {
        self.single(key)?
            .map(|text| {
                text.parse().map_err(|_| {
                    ApiError::new(
                        ErrorCode::InvalidQuery,
                        format!(
                            "query parameter `{key}` must be {what}, not `{}`",
                            clip(text)
                        ),
                    )
                })
            })
            .transpose()
    }
}

/// The path's parameters as `T` (a `String`, or a tuple of them). The
/// router's own refusal (a segment that is not UTF-8 once decoded) becomes
/// `invalid_path`.
pub(crate) struct PathParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(params)| PathParams(params))
            .map_err(|rejection| ApiError::new(ErrorCode::InvalidPath, rejection.body_text()))
    }
}

/// A run id from a path segment.
pub(crate) fn run_id(text: &str) -> Result<durable::RunId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidPath,
            format!("`{}` is not a run id (a UUID)", clip(text)),
        )
    })
}

/// Text from outside, cut to 100 characters for a message.
pub(crate) fn clip(text: &str) -> String {
    const CHARS: usize = 100;
    match text.char_indices().nth(CHARS) {
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read through Debug only: the test checks the errors
    struct Body {
        name: String,
        count: u32,
    }

    #[test]
    fn syntax_errors_are_invalid_json_and_shape_errors_name_the_field() {
        let syntax = parse_json::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(syntax.code, ErrorCode::InvalidJson);
        let shape = parse_json::<Body>(br#"{"name": "a", "count": "x"}"#).unwrap_err();
        assert_eq!(shape.code, ErrorCode::InvalidRequest);
        assert!(shape.message.starts_with("count: "), "{}", shape.message);
        let unknown = parse_json::<Body>(br#"{"name": "a", "count": 1, "cnt": 2}"#).unwrap_err();
        assert!(
            unknown.message.contains("unknown field `cnt`"),
            "{}",
            unknown.message
        );
        let trailing = parse_json::<Body>(br#"{"name": "a", "count": 1} x"#).unwrap_err();
        assert_eq!(trailing.code, ErrorCode::InvalidJson);
    }

    #[test]
    fn query_pairs_refuse_unknown_repeated_and_mistyped_keys() {
        let pairs = QueryPairs(vec![
            ("limit".into(), "x".into()),
            ("status".into(), "a".into()),
            ("status".into(), "b".into()),
        ]);
        assert!(pairs.only(&["limit", "status"]).is_ok());
        assert!(
            pairs
                .only(&["limit"])
                .unwrap_err()
                .message
                .contains("`status`")
        );
        assert!(pairs.single("status").is_err());
        let error = pairs.parsed::<u32>("limit", "a number").unwrap_err();
        assert_eq!(
            error.message,
            "query parameter `limit` must be a number, not `x`"
        );
    }
}
