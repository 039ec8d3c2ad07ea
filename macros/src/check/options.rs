//! The checks of the attribute's options and of the durations written as
//! literals: a valid name, a parseable timeout, cron options that fit
//! together, and event triggers with valid patterns and filters.

use syn::LitStr;

use crate::errors::Errors;
use crate::model::WorkflowModel;
use crate::symbols;

/// A workflow name is 1 to 200 characters without whitespace. The name:
/// `name = "..."`, else the fn's name in kebab case.
pub(super) fn check_workflow_name(cx: &Errors, model: &WorkflowModel) -> String {
    let Some(literal) = &model.options.name else {
        let fn_name = model.function.sig.ident.to_string();
        return fn_name.trim_start_matches("r#").replace('_', "-");
    };
    let value = literal.value();
    if value.is_empty() || value.len() > 200 || value.chars().any(char::is_whitespace) {
        cx.error_spanned_by(
            literal,
            format!(
                "a workflow name is 1 to 200 characters without spaces, e.g. `{} = \"order-fulfillment\"`",
                symbols::NAME
            ),
        );
    }
    value
}

/// `timeout = "..."` is a duration. It in milliseconds, if given and valid.
pub(super) fn check_workflow_timeout(cx: &Errors, model: &WorkflowModel) -> Option<u64> {
    let literal = model.options.timeout.as_ref()?;
    duration_ms(literal, "workflow timeout")
        .map_err(|error| cx.syn_error(error))
        .ok()
}

/// `version = N` is a whole number from 1 to `u32::MAX`, without a suffix.
/// It, if given and valid.
pub(super) fn check_workflow_version(cx: &Errors, model: &WorkflowModel) -> Option<u32> {
    let literal = model.options.version.as_ref()?;
    match literal.base10_parse::<u32>() {
        Ok(version) if version >= 1 && literal.suffix().is_empty() => Some(version),
        _ => {
            cx.error_spanned_by(
                literal,
                format!(
                    "a workflow version is a whole number from 1 to {}, e.g. `version = 2`",
                    u32::MAX
                ),
            );
            None
        }
    }
}

/// Every duration literal in the body (sleeps, step timeouts, lookbacks,
/// retry delays) is a valid duration.
pub(super) fn check_durations(cx: &Errors, model: &WorkflowModel) {
    for (what, literal) in &model.durations {
        if let Err(error) = duration_ms(literal, what.label()) {
            cx.syn_error(error);
        }
    }
}

/// The cron options fit together: a policy the runtime knows, no time zone
/// or policy without an expression, a valid expression, and no parameters
/// (a cron run has no input). The expression, its zone and the policy's
/// variant, if `cron` is given.
pub(super) fn check_cron_options(
    cx: &Errors,
    model: &WorkflowModel,
) -> Option<(String, String, &'static str)> {
    let overlap = check_overlap_policy(cx, model);
    let Some(expression) = &model.options.cron else {
        check_cron_only_options(cx, model);
        return None;
    };
    check_cron_expression(cx, expression);
    check_cron_without_params(cx, model);
    let zone = model
        .options
        .timezone
        .as_ref()
        .map_or_else(|| "UTC".to_owned(), LitStr::value);
    Some((expression.value(), zone, overlap))
}

/// `overlap` is one of the policies of [`symbols::OVERLAP_POLICIES`]. Its
/// variant of `durable::Overlap`, the default one if absent or unknown.
fn check_overlap_policy(cx: &Errors, model: &WorkflowModel) -> &'static str {
    let [(_, default), ..] = symbols::OVERLAP_POLICIES;
    let Some(literal) = &model.options.overlap else {
        return default;
    };
    let value = literal.value();
    if let Some((_, variant)) = symbols::OVERLAP_POLICIES
        .iter()
        .find(|(policy, _)| value == *policy)
    {
        return variant;
    }
    let policies = symbols::OVERLAP_POLICIES.map(|(policy, _)| policy);
    cx.error_spanned_by(
        literal,
        format!(
            "unknown overlap policy {value:?}; write {}",
            symbols::listed(&policies, "\"", "or")
        ),
    );
    default
}

/// `timezone` and `overlap` are given only with `cron`.
fn check_cron_only_options(cx: &Errors, model: &WorkflowModel) {
    let options = &model.options;
    for (literal, option) in [
        (&options.timezone, symbols::TIMEZONE),
        (&options.overlap, symbols::OVERLAP),
    ] {
        if let Some(literal) = literal {
            cx.error_spanned_by(
                literal,
                format!(
                    "`{option}` applies to cron workflows: add `{} = \"...\"` or remove it",
                    symbols::CRON
                ),
            );
        }
    }
}

/// `cron = "..."` is a valid cron expression.
fn check_cron_expression(cx: &Errors, expression: &LitStr) {
    if let Err(error) = expression
        .value()
        .parse::<durable_grammar::cron::Schedule>()
    {
        cx.error_spanned_by(expression, error);
    }
}

/// A cron workflow takes no parameters after `ctx`: the schedule starts it
/// with no input.
fn check_cron_without_params(cx: &Errors, model: &WorkflowModel) {
    if let Some(first) = model.params.first() {
        cx.error_spanned_by(
            &first.pat,
            "a cron workflow is started by the schedule, with no input: remove the parameters after `ctx`",
        );
    }
}

/// A duration literal in milliseconds; the error names `what` it is for.
pub(super) fn duration_ms(literal: &LitStr, what: &str) -> Result<u64, syn::Error> {
    durable_grammar::parse_duration(&literal.value())
        .map(|duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
        .map_err(|error| syn::Error::new(literal.span(), format!("{what}: {error}")))
}

/// Each `on_event` has a pattern of the grammar of
/// `durable_grammar::event_pattern` and a filter that is a JSON object, no
/// two are the same, and a cron workflow has none (a schedule starts it with
/// no input). The triggers, each as (pattern, filter as compact JSON).
pub(super) fn check_on_event(cx: &Errors, model: &WorkflowModel) -> Vec<(String, Option<String>)> {
    let options = &model.options;
    if let (Some(cron), Some(first)) = (&options.cron, options.on_event.first()) {
        cx.error_at(
            first.span,
            format!(
                "a workflow is started by a schedule or by events, not both: remove `{}` or \
                 `{}`, or write two workflows, e.g. one with `{} = {:?}` that calls the other",
                symbols::CRON,
                symbols::ON_EVENT,
                symbols::CRON,
                cron.value()
            ),
        );
    }
    let mut triggers: Vec<(String, Option<String>)> = Vec::new();
    for on_event in &options.on_event {
        let pattern = on_event.pattern.value();
        if let Err(error) = durable_grammar::event_pattern::check_event_pattern(&pattern) {
            cx.error_spanned_by(&on_event.pattern, error);
            continue;
        }
        let filter = match &on_event.filter {
            None => None,
            Some(literal) => match json_object(&literal.value()) {
                Ok(filter) => Some(filter),
                Err(problem) => {
                    cx.error_spanned_by(
                        literal,
                        format!(
                            "an `{}` filter is the JSON object the event's data must contain, \
                             e.g. `{} = r#\"{{\"region\": \"eu\"}}\"#`: {problem}",
                            symbols::ON_EVENT,
                            symbols::FILTER
                        ),
                    );
                    continue;
                }
            },
        };
        let trigger = (pattern, filter);
        if triggers.contains(&trigger) {
            cx.error_at(
                on_event.span,
                format!(
                    "this `{}` repeats an earlier one; remove it",
                    symbols::ON_EVENT
                ),
            );
            continue;
        }
        triggers.push(trigger);
    }
    triggers
}

/// `text` as compact JSON, if it is a JSON object; else what it is.
fn json_object(text: &str) -> Result<String, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value.to_string()),
        Ok(other) => Err(format!("found {}", json_kind(&other))),
        Err(error) => Err(format!("it is not JSON ({error})")),
    }
}

/// What a JSON value is, in words.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
