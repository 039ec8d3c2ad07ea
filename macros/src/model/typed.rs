//! The typed event steps, `ctx.wait_for::<E>(name)` and
//! `ctx.publish(name, event)`: which event type the source names, for the
//! manifest and the catalog.

use syn::Expr;

use super::outputs;
use crate::symbols;

/// A typed event step: `ctx.wait_for::<E>(name)` or
/// `ctx.publish::<E>(name, event)` / `ctx.publish(name, E { .. })`.
pub(crate) struct TypedEvent {
    /// Whether it waits (`wait_for`) rather than publishes.
    pub(crate) waits: bool,
    /// `E`, when written as the turbofish or as the event's struct literal.
    pub(crate) ty: Option<syn::Type>,
}

/// The typed event of a `wait_for` or `publish` call on the ctx: its type
/// from the turbofish, or for `publish` from a struct literal argument.
pub(super) fn typed_event(call: &syn::ExprMethodCall) -> Option<TypedEvent> {
    let waits = call.method == symbols::WAIT_FOR;
    if !waits && call.method != symbols::PUBLISH {
        return None;
    }
    let written = call
        .turbofish
        .as_ref()
        .and_then(outputs::first_type_argument)
        .cloned();
    let literal = match call.args.iter().nth(1) {
        Some(Expr::Struct(literal)) if !waits && literal.qself.is_none() => {
            Some(syn::Type::Path(syn::TypePath {
                qself: None,
                path: literal.path.clone(),
            }))
        }
        _ => None,
    };
    Some(TypedEvent {
        waits,
        ty: written.or(literal),
    })
}
