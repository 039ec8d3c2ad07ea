//! Stage two: validate the model. Each rule is one small fn that reports
//! what is wrong, and what to write instead, into the one collector; [`run`]
//! calls them in one list, so every problem is reported in one pass and in
//! the order a reader meets them: the fn's shape, its options, its steps,
//! what the body does.

mod body;
#[cfg(test)]
mod on_event_tests;
mod options;
mod signature;
mod steps;
#[cfg(test)]
mod tests;

use proc_macro2::Span;
use syn::Ident;

use crate::errors::Errors;
use crate::model::{StepKind, WorkflowModel};

/// A workflow that passed every check, ready for generation.
pub(crate) struct ValidWorkflow<'m> {
    pub(crate) function: &'m syn::ItemFn,
    /// The workflow's name (`Workflow::NAME`).
    pub(crate) name: String,
    /// The generated type, e.g. `OrderFulfillment`.
    pub(crate) type_ident: Ident,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) input: Input<'m>,
    pub(crate) return_type: &'m syn::Type,
    pub(crate) steps: Vec<ValidStep>,
    /// The on-failure hook's path.
    pub(crate) on_failure: Option<&'m syn::Path>,
    /// The cron expression, its time zone, and the overlap policy's variant.
    pub(crate) cron: Option<(String, String, &'static str)>,
    /// `version = N`, if given.
    pub(crate) version: Option<u32>,
    /// The `on_event` triggers: each pattern and its filter as compact JSON.
    pub(crate) on_event: Vec<(String, Option<String>)>,
    /// The event types of typed event steps, each once, in source order.
    pub(crate) events: Vec<syn::Type>,
    /// `concurrency`: the limit, and the key's path if given.
    pub(crate) concurrency: Option<(u32, Option<String>)>,
    /// `debounce`: its period and longest wait (ms), and its key's path.
    pub(crate) debounce: Option<options::ValidDebounce>,
    /// `throttle`: its limit, its period (ms), and its key's path.
    pub(crate) throttle: Option<options::ValidThrottle>,
    /// `queue = ".."` (`Workflow::QUEUE`), `"default"` when not given.
    pub(crate) queue: String,
    /// Each `cancel_on`: the event's name and the match's path if given.
    pub(crate) cancel_on: Vec<(String, Option<String>)>,
}

/// How the parameters after `ctx` become the workflow's input.
pub(crate) enum Input<'m> {
    /// No parameter: the input is `()`.
    Unit,
    /// One parameter: the input is its type.
    Single(Ident, &'m syn::Type),
    /// Several: a generated struct with one field each.
    Struct(Vec<(Ident, &'m syn::Type)>),
}

/// A step of the manifest.
pub(crate) struct ValidStep {
    pub(crate) name: String,
    pub(crate) keyed: bool,
    pub(crate) kind: StepKind,
    pub(crate) span: Span,
    pub(crate) options: Vec<(&'static str, String)>,
    /// The fan-out whose branches the step is in.
    pub(crate) parent: Option<String>,
    /// The event type of a typed event step, whose name the manifest
    /// records under this option key.
    pub(crate) event_type: Option<(&'static str, syn::Type)>,
}

/// Runs every check of `model`, reporting into `cx`. Returns what generation
/// needs, or `None` when a part of it is missing (a check reported why);
/// generate only if `cx` then checks clean.
pub(crate) fn run<'m>(cx: &Errors, model: &'m WorkflowModel) -> Option<ValidWorkflow<'m>> {
    let sig = &model.function.sig;
    signature::check_async(cx, sig);
    signature::check_not_const(cx, sig);
    signature::check_not_unsafe(cx, sig);
    signature::check_no_abi(cx, sig);
    signature::check_not_generic(cx, sig);
    signature::check_not_a_method(cx, model);
    signature::check_ctx_first(cx, model);
    let input = signature::check_params(cx, model);
    let return_type = signature::check_return_type(cx, sig);
    let name = options::check_workflow_name(cx, model);
    let cron = options::check_cron_options(cx, model);
    let on_event = options::check_on_event(cx, model);
    let timeout_ms = options::check_workflow_timeout(cx, model);
    let version = options::check_workflow_version(cx, model);
    let queue = options::check_workflow_queue(cx, model);
    let concurrency = options::check_concurrency(cx, model, &input);
    options::check_debounce_or_throttle(cx, model);
    let debounce = options::check_debounce(cx, model, &input);
    let throttle = options::check_throttle(cx, model, &input);
    let cancel_on = options::check_cancel_on(cx, model, &input);
    options::check_durations(cx, model);
    options::check_child_queues(cx, model);
    body::check_within_workflow_timeout(cx, model, timeout_ms);
    let steps = steps::check_steps(cx, model);
    steps::check_typed_waits_name_their_type(cx, model);
    let events = steps::event_types(&steps);
    body::check_step_outputs_owned(cx, model);
    body::check_step_errors_named(cx, model);
    body::check_deterministic(cx, model);
    Some(ValidWorkflow {
        function: &model.function,
        name,
        type_ident: Ident::new(&upper_camel(&sig.ident.to_string()), sig.ident.span()),
        timeout_ms,
        input,
        return_type: return_type?,
        steps,
        on_failure: model.options.on_failure.as_ref(),
        cron,
        version,
        on_event,
        events,
        concurrency,
        debounce,
        throttle,
        queue,
        cancel_on,
    })
}

/// `order_fulfillment` -> `OrderFulfillment`.
fn upper_camel(snake: &str) -> String {
    snake
        .trim_start_matches("r#")
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}
