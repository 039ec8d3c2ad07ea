//! The checks of what the body does besides naming its steps: no call in
//! workflow code that a replay would not repeat the same, step outputs that
//! can be stored and read back, and no sleep or step timeout that the
//! workflow's own timeout would cut short.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::visit::Visit;

use super::options::duration_ms;
use crate::errors::Errors;
use crate::model::{DurationUse, NondeterministicCall, WorkflowModel};
use crate::symbols::Nondeterminism;

/// Workflow code outside a step runs again in every replay, so it does not
/// read the clock, draw random numbers, sleep in memory, spawn tasks or read
/// the environment, unless its statement is marked
/// `#[durable::allow_nondeterministic]`.
pub(super) fn check_deterministic(cx: &Errors, model: &WorkflowModel) {
    for call in model.nondeterministic.iter().filter(|call| !call.allowed) {
        cx.error_over(&call.path, nondeterminism_message(call));
    }
}

/// What is wrong with `call` and what to write instead.
fn nondeterminism_message(call: &NondeterministicCall) -> String {
    let path = path_text(&call.path);
    let advice = match call.class {
        Nondeterminism::Clock => {
            "reads the clock, and a replay would read a different time: write `ctx.now(\"name\").await?` (recorded once), or read it inside a step, `ctx.run(\"name\", ...)`"
        }
        Nondeterminism::Random => {
            "draws random numbers, and a replay would draw others: write `ctx.uuid(\"name\").await?` for a random id, or draw inside a step, `ctx.run(\"name\", ...)`, whose result is recorded"
        }
        Nondeterminism::Uuid => {
            "makes a new UUID each time, and a replay would make another: write `ctx.uuid(\"name\").await?` (recorded once)"
        }
        Nondeterminism::Sleep => {
            "waits in memory: the wait is lost if the process stops, and a replay waits again; write `ctx.sleep(\"name\", \"5m\").await?`, a durable sleep"
        }
        Nondeterminism::Spawn => {
            "starts a task the engine neither records nor resumes: do the work in a step, `ctx.run(\"name\", ...)`, or in branches, `ctx.parallel(..)` / `ctx.map(..)`"
        }
        Nondeterminism::Environment => {
            "reads the environment, which a replay on another worker may see differently: read it inside a step, `ctx.run(\"name\", ...)` (recorded once), or pass it in the workflow's input"
        }
    };
    format!(
        "`{path}` {advice}; if this is intended, mark the statement `#[durable::allow_nondeterministic]`"
    )
}

/// `a::b::c` as written, without generic arguments.
fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    segments.join("::")
}

/// A step's output is stored as JSON and read back in replays, so it is an
/// owned type: a borrowed one cannot outlive the step that made it.
pub(super) fn check_step_outputs_owned(cx: &Errors, model: &WorkflowModel) {
    for ty in &model.step_outputs {
        if let Some(part) = borrowed_part(ty) {
            cx.error_over(
                &part,
                "step outputs are owned and serializable (stored as JSON, read back in replays): return `String` for `&str`, `Vec<u8>` for `&[u8]`, `Vec<T>` for `&[T]`, or another owned type",
            );
        }
    }
}

/// A step body's error type is inferred from what the body returns; a body
/// that only ends in `Ok(..)` leaves it open, and the compiler's "type
/// annotations needed" does not say what to write.
pub(super) fn check_step_errors_named(cx: &Errors, model: &WorkflowModel) {
    for (ok, could_compute) in &model.untyped_oks {
        let message = if *could_compute {
            "this step body ends in `Ok(..)` and nothing names its error type: for a body that cannot fail write `ctx.compute(name, async || value)` (or `.compute(..)` on `ctx.step(..)`), which takes the value itself; otherwise name the error: `Ok::<_, StepError>(..)`"
        } else {
            "this compensation ends in `Ok(..)` and nothing names its error type: write `Ok::<_, StepError>(..)`"
        };
        cx.error_at(*ok, message);
    }
}

/// The first reference, or lifetime other than `'static`, in `ty`, as
/// tokens to mark.
fn borrowed_part(ty: &syn::Type) -> Option<TokenStream> {
    struct Finder(Option<TokenStream>);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, reference: &'ast syn::TypeReference) {
            self.0.get_or_insert_with(|| reference.to_token_stream());
        }
        fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
            if lifetime.ident != "static" {
                self.0.get_or_insert_with(|| lifetime.to_token_stream());
            }
        }
    }
    let mut finder = Finder(None);
    finder.visit_type(ty);
    finder.0
}

/// A sleep or step timeout written as a literal is not longer than the
/// workflow's `timeout`: the run would time out before the sleep ends, or
/// before the step timeout could apply.
pub(super) fn check_within_workflow_timeout(
    cx: &Errors,
    model: &WorkflowModel,
    timeout_ms: Option<u64>,
) {
    let (Some(timeout_ms), Some(timeout)) = (timeout_ms, &model.options.timeout) else {
        return;
    };
    let timeout = timeout.value();
    for (what, literal) in &model.durations {
        let Ok(ms) = duration_ms(literal, what.label()) else {
            // Reported by `check_durations`.
            continue;
        };
        if ms <= timeout_ms {
            continue;
        }
        let value = literal.value();
        let message = match what {
            DurationUse::Sleep => format!(
                "this sleep of \"{value}\" is longer than the workflow's `timeout = \"{timeout}\"`: the run would time out before it wakes; sleep less, or raise the workflow's timeout"
            ),
            DurationUse::StepTimeout | DurationUse::InvokeTimeout => format!(
                "this timeout of \"{value}\" is longer than the workflow's `timeout = \"{timeout}\"`, which would end the run first; write at most \"{timeout}\", or raise the workflow's timeout"
            ),
            // A new deadline may well pass the declared timeout: it replaces it.
            DurationUse::Lookback | DurationUse::RetryDelay | DurationUse::Deadline => continue,
        };
        cx.error_spanned_by(literal, message);
    }
}
