//! The checks of the fn's shape: an `async fn` taking `ctx: Ctx` first, owned
//! parameters that can be stored, and a `Result` to record failures in.

use proc_macro2::Span;
use syn::Ident;
use syn::spanned::Spanned;

use super::Input;
use crate::errors::Errors;
use crate::model::{Param, WorkflowModel};
use crate::symbols::{self, Symbol};

/// A workflow is an `async fn`: its steps are awaited.
pub(super) fn check_async(cx: &Errors, sig: &syn::Signature) {
    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            &sig.fn_token,
            "a workflow must be an `async fn`; write `async fn`",
        );
    }
}

/// A workflow is not a `const fn`.
pub(super) fn check_not_const(cx: &Errors, sig: &syn::Signature) {
    if let Some(constness) = &sig.constness {
        cx.error_spanned_by(
            constness,
            "a workflow cannot be a `const fn`; remove `const`",
        );
    }
}

/// A workflow is not `unsafe`: the engine calls it with no contract to keep.
pub(super) fn check_not_unsafe(cx: &Errors, sig: &syn::Signature) {
    if let Some(unsafety) = &sig.unsafety {
        cx.error_spanned_by(unsafety, "a workflow cannot be `unsafe`; remove `unsafe`");
    }
}

/// A workflow has no `extern` ABI: only Rust calls it.
pub(super) fn check_no_abi(cx: &Errors, sig: &syn::Signature) {
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "a workflow cannot have an ABI; remove `extern`");
    }
}

/// A workflow has no generic parameters or where clause: its input and
/// output are stored, so they are concrete types.
pub(super) fn check_not_generic(cx: &Errors, sig: &syn::Signature) {
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let span = match sig.generics.params.first() {
            Some(param) => param.span(),
            None => sig.generics.where_clause.span(),
        };
        cx.error_at(
            span,
            "a workflow cannot be generic: its input and output are stored, so they must be concrete types; remove the generic parameters",
        );
    }
}

/// A workflow is a free fn, without `self`.
pub(super) fn check_not_a_method(cx: &Errors, model: &WorkflowModel) {
    for receiver in &model.receivers {
        cx.error_at(
            *receiver,
            "a workflow is a free function, not a method; remove `self` and take `ctx: Ctx` first",
        );
    }
}

/// The first parameter is the context, `ctx: Ctx`, bound to a name.
pub(super) fn check_ctx_first(cx: &Errors, model: &WorkflowModel) {
    match &model.ctx {
        None => cx.error_at(
            model.function.sig.paren_token.span.join(),
            "a workflow takes its context first: write `(ctx: Ctx, ...)`",
        ),
        Some((_, ty)) if !is_named(ty, symbols::CTX) => cx.error_spanned_by(
            ty,
            "the first parameter of a workflow is its context: write `ctx: Ctx` first",
        ),
        Some((pat, _)) if !matches!(pat, syn::Pat::Ident(_)) => {
            cx.error_spanned_by(pat, "bind the context to a name: write `ctx: Ctx`");
        }
        Some(_) => {}
    }
}

/// The input the parameters after `ctx` make, checking each of them in turn
/// with [`check_param_owned`] and [`param_field`].
pub(super) fn check_params<'m>(cx: &Errors, model: &'m WorkflowModel) -> Input<'m> {
    let single = model.params.len() == 1;
    let mut fields: Vec<(Ident, &syn::Type)> = model
        .params
        .iter()
        .enumerate()
        .filter_map(|(index, param)| {
            check_param_owned(cx, param);
            param_field(cx, param, index, single)
        })
        .collect();
    match fields.len() {
        0 => Input::Unit,
        1 => {
            let (ident, ty) = fields.remove(0);
            Input::Single(ident, ty)
        }
        _ => Input::Struct(fields),
    }
}

/// A parameter has an owned, concrete type: it is stored as JSON.
fn check_param_owned(cx: &Errors, param: &Param) {
    if let Some(span) = borrowed_or_generic(&param.ty) {
        cx.error_at(
            span,
            "workflow parameters are stored as JSON, so they must be owned, concrete types: write `String` for `&str`, `Vec<T>` for `&[T]`",
        );
    }
}

/// The input field a parameter becomes. With several parameters each is a
/// field of the input struct, so each is a plain identifier; a single one may
/// be any pattern.
fn param_field<'m>(
    cx: &Errors,
    param: &'m Param,
    index: usize,
    single: bool,
) -> Option<(Ident, &'m syn::Type)> {
    match &param.pat {
        syn::Pat::Ident(ident) if ident.by_ref.is_none() => Some((ident.ident.clone(), &param.ty)),
        _ if single => Some((Ident::new("input", param.pat.span()), &param.ty)),
        other => {
            cx.error_spanned_by(
                other,
                format!(
                    "with several parameters each becomes a field of the input struct: name parameter {} with a plain identifier",
                    index + 2
                ),
            );
            None
        }
    }
}

/// A workflow returns a `Result`, so that its failures are recorded. The
/// return type, if it is one.
pub(super) fn check_return_type<'m>(cx: &Errors, sig: &'m syn::Signature) -> Option<&'m syn::Type> {
    match &sig.output {
        syn::ReturnType::Type(_, ty) if is_named(ty, symbols::RESULT) => Some(&**ty),
        syn::ReturnType::Type(_, ty) => {
            cx.error_spanned_by(
                ty,
                "a workflow returns `Result<Output, Error>` so that failures are recorded; wrap the output in `Result`",
            );
            None
        }
        syn::ReturnType::Default => {
            cx.error_at(
                sig.paren_token.span.close(),
                "a workflow returns `Result<Output, Error>`; add `-> Result<(), durable::Error>`",
            );
            None
        }
    }
}

/// Whether `ty` is a path whose last segment is `name` (`Ctx`,
/// `durable::Ctx`, `Result<..>`, `anyhow::Result<..>`).
fn is_named(ty: &syn::Type, name: Symbol) -> bool {
    match ty {
        syn::Type::Path(path) => {
            path.qself.is_none() && path.path.segments.last().is_some_and(|s| s.ident == name)
        }
        syn::Type::Group(group) => is_named(&group.elem, name),
        syn::Type::Paren(paren) => is_named(&paren.elem, name),
        _ => false,
    }
}

/// The span of a reference or `impl Trait` inside a parameter type.
fn borrowed_or_generic(ty: &syn::Type) -> Option<Span> {
    match ty {
        syn::Type::Reference(reference) => Some(reference.span()),
        syn::Type::ImplTrait(bound) => Some(bound.span()),
        syn::Type::Paren(paren) => borrowed_or_generic(&paren.elem),
        syn::Type::Group(group) => borrowed_or_generic(&group.elem),
        _ => None,
    }
}
