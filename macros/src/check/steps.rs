//! The checks of the step calls found in the body. Each step goes through
//! every rule before the next step, so messages come in source order.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::LitStr;

use super::ValidStep;
use crate::errors::Errors;
use crate::model::{StepCall, StepNameArg, WorkflowModel};

/// Where each step name was first used, per branch scope.
type FirstUses = HashMap<(Option<usize>, String), Span>;

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
/// branch); a duplicate is reported at both uses.
fn check_step_name_unique(
    cx: &Errors,
    call: &StepCall,
    literal: &LitStr,
    first_uses: &mut FirstUses,
) {
    let name = literal.value();
    let scope_key = (call.scope.as_ref().map(|(_, id)| *id), name.clone());
    match first_uses.get(&scope_key) {
        Some(first) => {
            cx.error_spanned_by(
                literal,
                format!("duplicate step name `{name}`: each step of a workflow needs its own name"),
            );
            cx.error_at(
                *first,
                format!("step `{name}` is first named here; rename one of the two"),
            );
        }
        None => {
            first_uses.insert(scope_key, literal.span());
        }
    }
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
    }
}
