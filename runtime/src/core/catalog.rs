//! The catalog's pure decisions: a workflow version's fingerprint, and
//! whether an input fits a version's stored JSON Schema (for a trigger of a
//! workflow this process does not register).

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::catalog::CatalogStep;
use crate::model::error::{clip, clip_to};

/// How many of the fingerprint's hex digits are kept: 64 bits tell the
/// versions of one name apart (the catalog's key is name and fingerprint)
/// and stay short enough to read in a table, as a short git hash does.
const FINGERPRINT_DIGITS: usize = 16;

/// How many schema violations one error message names.
const LISTED_VIOLATIONS: usize = 3;

/// The version fingerprint of a workflow: SHA-256 over its steps' names,
/// kinds, keyed flags and fan-out parents in order, and its input and
/// output schemas, as 16 hex digits.
///
/// Source lines and call-site options are left out: moving a step or
/// changing its retry policy does not change which steps a run records, so
/// it is not a new version. Object keys are hashed sorted, so the
/// fingerprint does not depend on the order a map keeps its keys in.
pub(crate) fn fingerprint(
    steps: &[CatalogStep],
    input_schema: &Value,
    output_schema: Option<&Value>,
) -> String {
    let steps: Vec<Value> = steps
        .iter()
        .map(|step| serde_json::json!([step.name, step.kind, step.keyed, step.parent]))
        .collect();
    let mut text = String::new();
    canonical(&Value::Array(steps), &mut text);
    text.push('\n');
    canonical(input_schema, &mut text);
    text.push('\n');
    canonical(output_schema.unwrap_or(&Value::Null), &mut text);
    hex_digest(&text)
}

/// The fingerprint of a typed event's schema, as [`fingerprint`] hashes a
/// workflow's: SHA-256 over the schema with its keys sorted, 16 hex digits.
pub(crate) fn schema_fingerprint(schema: &Value) -> String {
    let mut text = String::new();
    canonical(schema, &mut text);
    hex_digest(&text)
}

/// The first [`FINGERPRINT_DIGITS`] hex digits of the SHA-256 of `text`.
fn hex_digest(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(FINGERPRINT_DIGITS);
    for byte in digest.iter().take(FINGERPRINT_DIGITS / 2) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The version runs of a workflow are pinned to: `v2` for one declared
/// with `#[workflow(version = 2)]`, else its [`fingerprint`], so that a
/// change to its steps or schemas is a new version by itself, and a
/// declared version stays one while its steps change behind `ctx.patched`.
pub(crate) fn version_key(declared: Option<u32>, fingerprint: &str) -> String {
    match declared {
        Some(version) => format!("v{version}"),
        None => fingerprint.to_owned(),
    }
}

/// Writes `value` as JSON with every object's keys sorted.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema)
        .map_err(|error| format!("the stored input schema cannot be used: {error}"))
}

/// How many compiled schemas a [`Validators`] keeps before it starts over.
const CACHED_VALIDATORS: usize = 256;

/// Compiled input schemas by (workflow, fingerprint): a catalog version's
/// schema never changes under its fingerprint, so a trigger by name
/// compiles it once, not on every call.
#[derive(Default)]
pub(crate) struct Validators {
    cache: std::sync::Mutex<
        std::collections::HashMap<(String, String), std::sync::Arc<jsonschema::Validator>>,
    >,
}

impl Validators {
    /// Checks `input` against the JSON Schema `schema`, or says what is wrong
    /// in words, naming the field as `Engine::trigger_json` does for a
    /// registered workflow (`order_id: "order_id" is a required property`,
    /// `items[0].qty: "x" is not of type "integer"`).
    ///
    /// The validator resolves no remote reference (durable builds `jsonschema`
    /// without its HTTP and file resolvers): a schema that needs one is refused
    /// with a message saying so.
    ///
    /// `schema` is that of `workflow`'s version `fingerprint`, compiled
    /// once.
    pub(crate) fn validate(
        &self,
        (workflow, fingerprint): (&str, &str),
        schema: &Value,
        input: &Value,
    ) -> Result<(), String> {
        let key = (workflow.to_owned(), fingerprint.to_owned());
        let cached = crate::model::sync::lock(&self.cache).get(&key).cloned();
        let validator = match cached {
            Some(validator) => validator,
            None => {
                let validator = std::sync::Arc::new(compile(schema)?);
                let mut cache = crate::model::sync::lock(&self.cache);
                // Bounded: versions come and go over a long-lived client's life.
                if cache.len() >= CACHED_VALIDATORS {
                    cache.clear();
                }
                cache.insert(key, validator.clone());
                validator
            }
        };
        check(&validator, input)
    }

    /// How many compiled schemas are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        crate::model::sync::lock(&self.cache).len()
    }
}

fn check(validator: &jsonschema::Validator, input: &Value) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut more = 0usize;
    for error in validator.iter_errors(input) {
        if problems.len() == LISTED_VIOLATIONS {
            more += 1;
            continue;
        }
        let mut path: Vec<String> = error
            .instance_path()
            .iter()
            .map(|segment| segment.to_string())
            .collect();
        if let jsonschema::error::ValidationErrorKind::Required { property } = error.kind()
            && let Some(property) = property.as_str()
        {
            path.push(property.to_owned());
        }
        let message = clip_to(&error.to_string(), 300);
        problems.push(match field_path(&path, input) {
            Some(field) => format!("{}: {message}", clip(&field)),
            None => message,
        });
    }
    if problems.is_empty() {
        return Ok(());
    }
    if more > 0 {
        problems.push(format!("and {more} more"));
    }
    Err(problems.join("; "))
}

/// The path of a field as `decode_json` writes it (`address.zip`,
/// `items[0].qty`), or `None` for the input itself. A segment is an index
/// where the input holds an array at that point.
fn field_path(segments: &[String], input: &Value) -> Option<String> {
    if segments.is_empty() {
        return None;
    }
    let mut path = String::new();
    let mut at = Some(input);
    for segment in segments {
        let index = at
            .filter(|value| value.is_array())
            .and_then(|_| segment.parse::<usize>().ok());
        match index {
            Some(index) => {
                let _ = write!(path, "[{index}]");
                at = at.and_then(|value| value.get(index));
            }
            None => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(segment);
                at = at.and_then(|value| value.get(segment));
            }
        }
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn validate_input(schema: &Value, input: &Value) -> Result<(), String> {
        Validators::default().validate(("test", "test"), schema, input)
    }

    #[test]
    fn a_schema_fingerprint_ignores_key_order_and_tells_schemas_apart() {
        let a = json!({ "type": "object", "required": ["id"] });
        let b: Value = serde_json::from_str(r#"{ "required": ["id"], "type": "object" }"#).unwrap();
        assert_eq!(schema_fingerprint(&a), schema_fingerprint(&b));
        assert_eq!(schema_fingerprint(&a).len(), FINGERPRINT_DIGITS);
        let other = json!({ "type": "object", "required": ["order"] });
        assert_ne!(schema_fingerprint(&a), schema_fingerprint(&other));
    }

    fn step(name: &str, kind: &str) -> CatalogStep {
        CatalogStep {
            name: name.into(),
            kind: kind.into(),
            keyed: false,
            options: Vec::new(),
            parent: None,
            line: 1,
        }
    }

    #[test]
    fn the_fingerprint_follows_steps_and_schemas_not_lines_or_key_order() {
        let schema = json!({ "type": "object", "properties": { "a": {}, "b": {} } });
        let base = fingerprint(&[step("x", "run"), step("y", "sleep")], &schema, None);
        assert_eq!(base.len(), 16);
        assert!(base.chars().all(|c| c.is_ascii_hexdigit()));
        let mut moved = step("x", "run");
        moved.line = 40;
        moved.options.push(("timeout".into(), "30s".into()));
        let reordered_keys = json!({ "properties": { "b": {}, "a": {} }, "type": "object" });
        assert_eq!(
            fingerprint(&[moved, step("y", "sleep")], &reordered_keys, None),
            base
        );
        for other in [
            fingerprint(&[step("y", "sleep"), step("x", "run")], &schema, None),
            fingerprint(&[step("x", "run"), step("y", "run")], &schema, None),
            fingerprint(&[step("x", "run")], &schema, None),
            fingerprint(&[step("x", "run"), step("y", "sleep")], &json!({}), None),
            fingerprint(
                &[step("x", "run"), step("y", "sleep")],
                &schema,
                Some(&json!({ "type": "string" })),
            ),
        ] {
            assert_ne!(other, base);
        }
    }

    #[test]
    fn an_input_that_breaks_the_schema_names_the_field() {
        let schema = json!({
            "type": "object",
            "required": ["order_id", "items"],
            "properties": {
                "order_id": { "type": "string" },
                "items": { "type": "array", "items": { "$ref": "#/$defs/Item" } }
            },
            "$defs": { "Item": { "type": "object", "properties": { "qty": { "type": "integer" } } } }
        });
        assert_eq!(
            validate_input(&schema, &json!({ "order_id": "o", "items": [] })),
            Ok(())
        );
        let missing = validate_input(&schema, &json!({ "items": [] })).unwrap_err();
        assert!(missing.starts_with("order_id: "), "{missing}");
        let wrong = validate_input(
            &schema,
            &json!({ "order_id": "o", "items": [{ "qty": 1 }, { "qty": "x" }] }),
        )
        .unwrap_err();
        assert!(wrong.starts_with("items[1].qty: "), "{wrong}");
        assert!(wrong.contains("integer"), "{wrong}");
        let whole = validate_input(&schema, &json!([1])).unwrap_err();
        assert!(whole.contains("object"), "{whole}");
    }

    #[test]
    fn many_violations_are_counted_not_all_listed() {
        let schema = json!({ "type": "object", "required": ["a", "b", "c", "d", "e"] });
        let error = validate_input(&schema, &json!({})).unwrap_err();
        assert!(error.ends_with("and 2 more"), "{error}");
    }

    #[test]
    fn a_version_s_schema_is_compiled_once_and_still_checks() {
        let validators = Validators::default();
        let schema = json!({"type": "object", "required": ["id"]});
        for _ in 0..3 {
            assert!(
                validators
                    .validate(("flow", "f1"), &schema, &json!({"id": 1}))
                    .is_ok()
            );
            let refused = validators.validate(("flow", "f1"), &schema, &json!({}));
            assert!(refused.unwrap_err().contains("id"));
        }
        assert_eq!(validators.len(), 1);
        let other = json!({"type": "string"});
        assert!(
            validators
                .validate(("flow", "f2"), &other, &json!("x"))
                .is_ok()
        );
        assert_eq!(validators.len(), 2);
    }

    #[test]
    fn a_remote_reference_is_refused_not_fetched() {
        let schema = json!({ "$ref": "https://example.invalid/schema.json" });
        let error = validate_input(&schema, &json!({})).unwrap_err();
        assert!(error.contains("cannot be used"), "{error}");
    }
}
