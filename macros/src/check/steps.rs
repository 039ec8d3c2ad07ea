//! The checks of the step calls found in the body. Each step goes through
//! every rule before the next step, so messages come in source order.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::LitStr;

use super::ValidStep;
use crate::errors::Errors;
use crate::model::{StepCall, StepKind, StepNameArg, WorkflowModel};
use crate::symbols;

/// Where each step name was used, per branch scope: the literal's span and
/// the `if`/`match` arms the use is in.
type FirstUses = HashMap<(Option<usize>, String), Vec<(Span, Vec<(usize, usize)>)>>;

/// Checks every step call in turn; the steps of the manifest, without the
/// calls whose name cannot be known.
pub(super) fn check_steps(cx: &Errors, model: &WorkflowModel) -> Vec<ValidStep> {
    let mut first_uses = FirstUses::new();
    let mut steps = Vec::new();
    for call in &model.steps {
        let Some((literal, keyed)) = check_step_name_literal(cx, call) else {
            continue;
        };
        check_step_name_form(cx, literal);
        check_group_name_free(cx, call, literal);
        check_step_not_repeated(cx, call, literal, keyed);
        check_step_name_unique(cx, call, literal, &mut first_uses);
        steps.push(valid_step(call, literal, keyed));
    }
    steps
}

/// A step is named by a string literal, `"name"` or `("name", key)`, so its
/// name can be checked here. The literal and whether it is keyed.
fn check_step_name_literal<'c>(cx: &Errors, call: &'c StepCall) -> Option<(&'c LitStr, bool)> {
    match &call.name {
        StepNameArg::Literal(literal) => Some((literal, false)),
        StepNameArg::Keyed(literal) => Some((literal, true)),
        StepNameArg::Other(span) => {
            cx.error_at(
                *span,
                "a step name must be a string literal so the macro can check it is unique: write `\"name\"`, or `(\"name\", key)` for a step in a loop",
            );
            None
        }
        StepNameArg::Missing(span) => {
            cx.error_at(*span, "this step needs a name: write `(\"name\", ...)`");
            None
        }
    }
}

/// A step name is not empty and has no `/`, which separates a fan-out
/// branch from its steps.
fn check_step_name_form(cx: &Errors, literal: &LitStr) {
    let name = literal.value();
    if name.is_empty() || name.contains('/') {
        cx.error_spanned_by(
            literal,
            "a step name is not empty and has no `/` (it separates a fan-out branch from its steps); write e.g. \"charge-card\"",
        );
    }
}

/// A group's steps are recorded under its name, and the runtime records a
/// saga's compensations and the on-failure hook's steps under scopes of
/// their own: a group may not take one of those names.
fn check_group_name_free(cx: &Errors, call: &StepCall, literal: &LitStr) {
    let name = literal.value();
    if call.kind == StepKind::Group && symbols::RESERVED_SCOPES.contains(&name.as_str()) {
        cx.error_spanned_by(
            literal,
            format!(
                "a group cannot be named {name:?}: the steps of a saga's compensations and of the on-failure hook are recorded under `compensate/` and `on-failure/`; name the group for what it does, e.g. \"ship\""
            ),
        );
    }
}

/// A step inside a loop or closure is keyed: every iteration needs a name
/// of its own.
fn check_step_not_repeated(cx: &Errors, call: &StepCall, literal: &LitStr, keyed: bool) {
    if call.repeated && !keyed {
        let name = literal.value();
        cx.error_spanned_by(
            literal,
            format!(
                "step `{name}` is inside a loop or closure, so every iteration would reuse its name; use the keyed form `(\"{name}\", key)` with a key unique per iteration"
            ),
        );
    }
}

/// Step names are unique within their scope (the body, or one fan-out
/// branch), except in different arms of one `if`/`match`, of which only one
/// runs; a duplicate is reported at both uses.
fn check_step_name_unique(
    cx: &Errors,
    call: &StepCall,
    literal: &LitStr,
    first_uses: &mut FirstUses,
) {
    let name = literal.value();
    let scope_key = (call.scope.as_ref().map(|(_, id)| *id), name.clone());
    let uses = first_uses.entry(scope_key).or_default();
    let clash = uses.iter().find(|(_, arms)| !exclusive(arms, &call.arms));
    if let Some((first, _)) = clash {
        cx.error_spanned_by(
            literal,
            format!(
                "duplicate step name `{name}`: each step of a workflow needs its own name (only the arms of one `if`/`match` may share one)"
            ),
        );
        cx.error_at(
            *first,
            format!("step `{name}` is first named here; rename one of the two"),
        );
    }
    uses.push((literal.span(), call.arms.clone()));
}

/// Whether two calls, in the `if`/`match` arms `a` and `b`, never both run:
/// where their arms first differ, they are two arms of the same `if` or
/// `match`. (A call after an `if` and one inside it both run.)
fn exclusive(a: &[(usize, usize)], b: &[(usize, usize)]) -> bool {
    a.iter()
        .zip(b)
        .find(|(a, b)| a != b)
        .is_some_and(|((construct_a, _), (construct_b, _))| construct_a == construct_b)
}

/// The manifest entry of a step call.
fn valid_step(call: &StepCall, literal: &LitStr, keyed: bool) -> ValidStep {
    ValidStep {
        name: literal.value(),
        keyed,
        kind: call.kind,
        span: call.span,
        options: call
            .options
            .iter()
            .map(|(key, value)| (*key, value.value()))
            .collect(),
        parent: call
            .scope
            .as_ref()
            .map(|(fan_out, _)| fan_out.clone())
            .filter(|fan_out| !fan_out.is_empty()),
        event_type: call
            .typed_event
            .as_ref()
            .and_then(|typed| typed.ty.clone())
            .map(|ty| (symbols::EVENT.as_str(), ty)),
    }
}

/// A typed wait names its event type, `ctx.wait_for::<E>(..)`, so that the
/// manifest knows the event and the catalog its schema (a type left to
/// inference is invisible to the macro).
pub(super) fn check_typed_waits_name_their_type(cx: &Errors, model: &WorkflowModel) {
    for call in &model.steps {
        if let Some(typed) = &call.typed_event
            && typed.waits
            && typed.ty.is_none()
        {
            cx.error_at(
                call.span,
                format!(
                    "write the event type of this wait, e.g. `{}::<ShipmentScanned>(..)`, so the workflow's manifest and the catalog know which event it waits for",
                    symbols::WAIT_FOR
                ),
            );
        }
    }
}

/// The event types of the typed steps, each once (by their tokens), in
/// source order.
pub(super) fn event_types(steps: &[ValidStep]) -> Vec<syn::Type> {
    let mut seen = std::collections::HashSet::new();
    steps
        .iter()
        .filter_map(|step| step.event_type.as_ref())
        .filter(|(_, ty)| seen.insert(quote::ToTokens::to_token_stream(ty).to_string()))
        .map(|(_, ty)| ty.clone())
        .collect()
}
