//! The output types of step bodies that are written in the source, so the
//! checks can tell a borrowed one from an owned one: the turbofish of
//! `ctx.run::<T, ..>` or of the body's final `Ok::<T, E>(..)`, a closure's
//! `-> Result<T, E>`, and the type of a `let` the step's result is bound to.

use syn::{AngleBracketedGenericArguments, Expr, GenericArgument, PathArguments, Type};

use crate::symbols;

/// The output types written in a step body (a closure or async block).
pub(crate) fn body_output_types(body: &Expr, into: &mut Vec<Type>) {
    match body {
        Expr::Closure(closure) => {
            if let syn::ReturnType::Type(_, ty) = &closure.output
                && let Some(ok) = result_ok_type(ty)
            {
                into.push(ok.clone());
            }
            body_output_types(&closure.body, into);
        }
        Expr::Async(block) => block_output_types(&block.block, into),
        Expr::Block(block) => block_output_types(&block.block, into),
        Expr::Paren(inner) => body_output_types(&inner.expr, into),
        Expr::Call(call) => {
            if let Expr::Path(path) = &*call.func
                && let Some(last) = path.path.segments.last()
                && last.ident == symbols::OK
                && let PathArguments::AngleBracketed(arguments) = &last.arguments
                && let Some(ty) = first_type_argument(arguments)
            {
                into.push(ty.clone());
            }
        }
        _ => {}
    }
}

/// The tail expression of a block, the value it ends with.
fn block_output_types(block: &syn::Block, into: &mut Vec<Type>) {
    if let Some(syn::Stmt::Expr(tail, None)) = block.stmts.last() {
        body_output_types(tail, into);
    }
}

/// `T` of `Result<T, E>` (any path ending in `Result`).
fn result_ok_type(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .filter(|last| last.ident == symbols::RESULT)
            .and_then(|last| match &last.arguments {
                PathArguments::AngleBracketed(arguments) => first_type_argument(arguments),
                _ => None,
            }),
        Type::Paren(inner) => result_ok_type(&inner.elem),
        Type::Group(inner) => result_ok_type(&inner.elem),
        _ => None,
    }
}

/// The first argument of `<T, ..>`, if it is a type other than `_`.
pub(crate) fn first_type_argument(arguments: &AngleBracketedGenericArguments) -> Option<&Type> {
    match arguments.args.first() {
        Some(GenericArgument::Type(Type::Infer(_))) | None => None,
        Some(GenericArgument::Type(ty)) => Some(ty),
        Some(_) => None,
    }
}

/// The step output a `let` names: for `let x: T = ctx.run(..).await?;` the
/// `ctx.run(..)` call and `T`; without the `?`, `T` of `Result<T, _>`.
pub(crate) fn let_output(local: &syn::Local) -> Option<(&Expr, &Type)> {
    let syn::Pat::Type(typed) = &local.pat else {
        return None;
    };
    let mut expr = &*local.init.as_ref()?.expr;
    let mut tried = false;
    loop {
        expr = match expr {
            Expr::Try(inner) if !tried => {
                tried = true;
                &inner.expr
            }
            Expr::Await(inner) => &inner.base,
            Expr::Paren(inner) => &inner.expr,
            _ => break,
        };
    }
    let ty = if tried {
        Some(&*typed.ty)
    } else {
        result_ok_type(&typed.ty)
    };
    ty.map(|ty| (expr, ty))
}
