//! The checks of the attribute's options and of the durations written as
//! literals: a valid name, a parseable timeout, cron options that fit
//! together, event triggers with valid patterns and filters, a
//! concurrency limit with a key that fits the input, a debounce or a
//! throttle (not both) with periods, limits and keys that fit, and
//! `cancel_on` events named exactly with a match that fits the input too.

use syn::LitStr;

use super::Input;
use crate::errors::Errors;
use crate::model::{FlowOption, WorkflowModel};
use crate::symbols::{self, Symbol};

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

/// `queue = ".."` follows the queue grammar (`durable_grammar::queue`).
/// The queue, `"default"` when not given.
pub(super) fn check_workflow_queue(cx: &Errors, model: &WorkflowModel) -> String {
    let Some(literal) = &model.options.queue else {
        return durable_grammar::queue::DEFAULT_QUEUE.to_owned();
    };
    let value = literal.value();
    if durable_grammar::queue::check_queue_name(&value).is_err() {
        cx.error_spanned_by(
            literal,
            format!(
                "a queue name is 1 to {} letters, digits, `-`, `_` or `.`, e.g. `{} = \"billing\"`",
                durable_grammar::queue::MAX_QUEUE_NAME_BYTES,
                symbols::QUEUE
            ),
        );
    }
    value
}

/// Each `.queue("..")` literal of a child step follows the queue grammar.
pub(super) fn check_child_queues(cx: &Errors, model: &WorkflowModel) {
    for literal in &model.queues {
        if durable_grammar::queue::check_queue_name(&literal.value()).is_err() {
            cx.error_spanned_by(
                literal,
                format!(
                    "a queue name is 1 to {} letters, digits, `-`, `_` or `.`, e.g. `.queue(\"gpu\")`",
                    durable_grammar::queue::MAX_QUEUE_NAME_BYTES
                ),
            );
        }
    }
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

/// `concurrency` has a limit from 1 to `u32::MAX`, and a key only if the
/// workflow takes an input: a path of field names joined by dots, whose
/// first name, when the input is the generated struct of several
/// parameters, is one of them. The limit and the key, if given and valid.
pub(super) fn check_concurrency(
    cx: &Errors,
    model: &WorkflowModel,
    input: &Input<'_>,
) -> Option<(u32, Option<String>)> {
    let option = model.options.concurrency.as_ref()?;
    let limit = match option.limit.base10_parse::<u32>() {
        Ok(limit) if limit >= 1 && option.limit.suffix().is_empty() => Some(limit),
        _ => {
            cx.error_spanned_by(
                &option.limit,
                format!(
                    "a concurrency limit is a whole number from 1 to {}, e.g. `{} = 2`",
                    u32::MAX,
                    symbols::CONCURRENCY
                ),
            );
            None
        }
    };
    let Some(literal) = &option.key else {
        return limit.map(|limit| (limit, None));
    };
    let without = format!(
        "limit the workflow as a whole with `{} = {}`",
        symbols::CONCURRENCY,
        option.limit
    );
    let valid = check_input_path(
        cx,
        model,
        input,
        literal,
        ("concurrency key", symbols::KEY),
        &without,
    );
    let limit = limit?;
    valid.then_some((limit, Some(literal.value())))
}

/// A path into the workflow's input written as `literal` (a concurrency
/// key, a `cancel_on` match; `what` it is, and the option `key` it is
/// written under): the workflow takes an input (else `without` says what
/// to write instead), the path is field names joined by dots, and its first
/// name, when the input is the generated struct of several parameters, is
/// one of them, and not the one parameter's name. Whether it is valid.
fn check_input_path(
    cx: &Errors,
    model: &WorkflowModel,
    input: &Input<'_>,
    literal: &LitStr,
    (what, key_symbol): (&str, Symbol),
    without: &str,
) -> bool {
    let key = literal.value();
    match input {
        Input::Unit => {
            cx.error_spanned_by(
                literal,
                format!(
                    "a {what} names a field of the workflow's input, but `{}` takes no input after `ctx`; add a parameter, or {without}",
                    model.function.sig.ident,
                ),
            );
            false
        }
        _ if key.is_empty() || key.split('.').any(str::is_empty) => {
            cx.error_spanned_by(
                literal,
                format!(
                    "the {what} {key:?} is not a path of field names; write the names joined by single dots, e.g. `{key_symbol} = \"customer.id\"`",
                ),
            );
            false
        }
        Input::Struct(fields) => {
            let first = key.split('.').next().unwrap_or_default();
            let known = fields.iter().any(|(ident, _)| ident == first);
            if !known {
                let names: Vec<String> = fields
                    .iter()
                    .map(|(ident, _)| format!("`{ident}`"))
                    .collect();
                cx.error_spanned_by(
                    literal,
                    format!(
                        "the {what} {key:?} starts with `{first}`, which is not a parameter of `{}`; the input's fields are its parameters after `ctx`: {}",
                        model.function.sig.ident,
                        names.join(", ")
                    ),
                );
            }
            known
        }
        Input::Single(ident, _) => {
            let first = key.split('.').next().unwrap_or_default();
            let names_the_parameter = ident == first;
            if names_the_parameter {
                cx.error_spanned_by(
                    literal,
                    format!(
                        "the input of a workflow with one parameter after `ctx` is that parameter's value, not an object with a field `{first}`: name a field inside its type (e.g. `{key_symbol} = \"id\"` for `{first}.id`), or take a second parameter so the input is an object of them",
                    ),
                );
            }
            !names_the_parameter
        }
    }
}

/// A checked `debounce`: its period and longest wait (ms) and its key.
pub(crate) type ValidDebounce = (u64, Option<u64>, Option<String>);

/// A checked `throttle`: its limit, its period (ms) and its key.
pub(crate) type ValidThrottle = (u32, u64, Option<String>);

/// `debounce(..)` has a period above zero, a `max_wait`, if given, no
/// shorter than the period, and a key that fits the input. It, if given
/// and valid.
pub(super) fn check_debounce(
    cx: &Errors,
    model: &WorkflowModel,
    input: &Input<'_>,
) -> Option<ValidDebounce> {
    let option = model.options.debounce.as_ref()?;
    let period = flow_period(cx, option, symbols::DEBOUNCE);
    let max_wait = option.max_wait.as_ref().map(|literal| {
        let wait = duration_ms(literal, "debounce max_wait").map_err(|error| cx.syn_error(error));
        (literal, wait.ok())
    });
    let mut valid = true;
    if let (Some(period), Some((literal, Some(wait)))) = (period, &max_wait)
        && *wait < period
    {
        cx.error_spanned_by(
            *literal,
            format!(
                "`{}` bounds how long triggers can hold a run back, so it is at least the period ({:?}); make it longer, or remove it",
                symbols::MAX_WAIT,
                option.period.as_ref().map(LitStr::value).unwrap_or_default()
            ),
        );
        valid = false;
    }
    let key = flow_key(cx, model, input, option, symbols::DEBOUNCE)?;
    let max_wait = match max_wait {
        Some((_, wait)) => Some(wait?),
        None => None,
    };
    valid.then_some((period?, max_wait, key))
}

/// `throttle(..)` has a limit from 1 to `u32::MAX`, a period above zero,
/// and a key that fits the input. It, if given and valid.
pub(super) fn check_throttle(
    cx: &Errors,
    model: &WorkflowModel,
    input: &Input<'_>,
) -> Option<ValidThrottle> {
    let option = model.options.throttle.as_ref()?;
    let limit = match &option.limit {
        None => {
            cx.error_at(
                option.span,
                format!(
                    "`{0}(..)` needs its limit: write e.g. `{0}({1} = 10, {2} = \"1m\")`",
                    symbols::THROTTLE,
                    symbols::LIMIT,
                    symbols::PERIOD
                ),
            );
            None
        }
        Some(literal) => match literal.base10_parse::<u32>() {
            Ok(limit) if limit >= 1 && literal.suffix().is_empty() => Some(limit),
            _ => {
                cx.error_spanned_by(
                    literal,
                    format!(
                        "a throttle limit is a whole number from 1 to {}, e.g. `{} = 10`; a limit of 0 would never start a run",
                        u32::MAX,
                        symbols::LIMIT
                    ),
                );
                None
            }
        },
    };
    let period = flow_period(cx, option, symbols::THROTTLE);
    let key = flow_key(cx, model, input, option, symbols::THROTTLE)?;
    Some((limit?, period?, key))
}

/// The period of `debounce(..)` or `throttle(..)` (`option`), required, a
/// duration above zero.
fn flow_period(cx: &Errors, flow: &FlowOption, option: symbols::Symbol) -> Option<u64> {
    let Some(literal) = &flow.period else {
        cx.error_at(
            flow.span,
            format!(
                "`{option}(..)` needs its period: write e.g. `{option}({} = \"5s\")`",
                symbols::PERIOD
            ),
        );
        return None;
    };
    let period = duration_ms(literal, &format!("{option} period"))
        .map_err(|error| cx.syn_error(error))
        .ok()?;
    if period == 0 {
        cx.error_spanned_by(
            literal,
            format!("a {option} period of zero would hold nothing back; give it a duration, e.g. `{} = \"5s\"`", symbols::PERIOD),
        );
        return None;
    }
    Some(period)
}

/// The key of `debounce(..)` or `throttle(..)` (`option`): `Some(None)`
/// without one, `None` if it does not fit the input.
fn flow_key(
    cx: &Errors,
    model: &WorkflowModel,
    input: &Input<'_>,
    flow: &FlowOption,
    option: symbols::Symbol,
) -> Option<Option<String>> {
    let Some(literal) = &flow.key else {
        return Some(None);
    };
    let whole = format!(
        "remove `{}` to {option} the workflow as a whole",
        symbols::KEY
    );
    let what = format!("{option} key");
    check_input_path(cx, model, input, literal, (&what, symbols::KEY), &whole)
        .then(|| Some(literal.value()))
}

/// A workflow is debounced or throttled, not both: each decides when a
/// run starts, from different runs, so the two would contradict each other.
pub(super) fn check_debounce_or_throttle(cx: &Errors, model: &WorkflowModel) {
    if let (Some(_), Some(throttle)) = (&model.options.debounce, &model.options.throttle) {
        cx.error_at(
            throttle.span,
            format!(
                "a workflow is debounced or throttled, not both: `{0}` starts a run after its key's last trigger and `{1}` after its key's earlier starts, so they would disagree on when it starts; keep one, or write two workflows, e.g. a debounced one that triggers a throttled one",
                symbols::DEBOUNCE,
                symbols::THROTTLE
            ),
        );
    }
}

/// Each `cancel_on` names an event exactly (the grammar of
/// `durable_grammar::event_pattern`, without wildcards: an event cancels
/// the runs registered under its own name), its `match` is a path into the
/// input (as a concurrency key is), and no two are the same. Each as
/// (event, match).
pub(super) fn check_cancel_on(
    cx: &Errors,
    model: &WorkflowModel,
    input: &Input<'_>,
) -> Vec<(String, Option<String>)> {
    let mut cancel_on: Vec<(String, Option<String>)> = Vec::new();
    for option in &model.options.cancel_on {
        let event = option.event.value();
        let mut valid = true;
        if let Err(error) = durable_grammar::event_pattern::check_event_name(&event) {
            cx.error_spanned_by(&option.event, error);
            valid = false;
        }
        let without = format!(
            "remove `{}` to cancel every run of the workflow",
            symbols::MATCH
        );
        if let Some(literal) = &option.matching {
            valid &= check_input_path(
                cx,
                model,
                input,
                literal,
                ("`cancel_on` match", symbols::MATCH),
                &without,
            );
        }
        if !valid {
            continue;
        }
        let entry = (event, option.matching.as_ref().map(LitStr::value));
        if cancel_on.contains(&entry) {
            cx.error_at(
                option.span,
                format!(
                    "this `{}` repeats an earlier one; remove it",
                    symbols::CANCEL_ON
                ),
            );
            continue;
        }
        cancel_on.push(entry);
    }
    cancel_on
}
