//! The checks of the attribute's options and of the durations written as
//! literals: a valid name, a parseable timeout, and cron options that fit
//! together.

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
