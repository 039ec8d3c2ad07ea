//! The output types of step bodies that are written in the source, so the
//! checks can tell a borrowed one from an owned one: the turbofish of
//! `ctx.run::<T, ..>` or of the body's final `Ok::<T, E>(..)`, a closure's
//! `-> Result<T, E>`, and the type of a `let` the step's result is bound to;
//! and the bodies that end in `Ok(..)` with nothing naming their error type.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::visit::Visit;
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

/// The `Ok` of a step body (a closure or async block) that ends in a bare
/// `Ok(..)` while nothing else in it names the error type: no `-> Result<..>`
/// on the closure, no `return` and no `Err(..)` anywhere in it. Such a body
/// cannot compile, because `Ok(..)` leaves `E` of `Result<T, E>` open and a
/// `?` does not fix it; the macro says what to write instead of the
/// compiler's "type annotations needed". Anything that might name `E` makes
/// this `None`, so a body that compiles is never reported.
pub(crate) fn untyped_ok(body: &Expr) -> Option<Span> {
    match body {
        Expr::Closure(closure) => match closure.output {
            syn::ReturnType::Default => untyped_ok(&closure.body),
            syn::ReturnType::Type(..) => None,
        },
        Expr::Async(block) => untyped_ok_block(&block.block),
        Expr::Block(block) => untyped_ok_block(&block.block),
        Expr::Paren(inner) => untyped_ok(&inner.expr),
        Expr::Call(call) => bare_ok(call).filter(|_| !names_an_error(body)),
        _ => None,
    }
}

/// [`untyped_ok`] of a block: its tail, if nothing in the block names `E`.
fn untyped_ok_block(block: &syn::Block) -> Option<Span> {
    let Some(syn::Stmt::Expr(tail, None)) = block.stmts.last() else {
        return None;
    };
    let mut finder = ErrorNamer(false);
    finder.visit_block(block);
    if finder.0 {
        return None;
    }
    match tail {
        Expr::Call(call) => bare_ok(call),
        Expr::Paren(inner) => match &*inner.expr {
            Expr::Call(call) => bare_ok(call),
            _ => None,
        },
        _ => None,
    }
}

/// The span of `Ok` in a call `Ok(..)` written without a turbofish.
fn bare_ok(call: &syn::ExprCall) -> Option<Span> {
    let Expr::Path(path) = &*call.func else {
        return None;
    };
    match path.path.segments.iter().collect::<Vec<_>>().as_slice() {
        [only] if only.ident == symbols::OK && only.arguments.is_none() && path.qself.is_none() => {
            Some(path.span())
        }
        _ => None,
    }
}

/// Whether `expr` holds a `return` or an `Err(..)`, which may name the
/// error type.
fn names_an_error(expr: &Expr) -> bool {
    let mut finder = ErrorNamer(false);
    finder.visit_expr(expr);
    finder.0
}

/// Finds a `return`, or a path ending in `Err`, anywhere it visits.
struct ErrorNamer(bool);

impl<'ast> Visit<'ast> for ErrorNamer {
    fn visit_expr_return(&mut self, _: &'ast syn::ExprReturn) {
        self.0 = true;
    }
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path
            .segments
            .last()
            .is_some_and(|last| last.ident == symbols::ERR)
        {
            self.0 = true;
        }
        syn::visit::visit_path(self, path);
    }
    fn visit_macro(&mut self, _: &'ast syn::Macro) {
        // A macro's tokens may hold a `return` or an `Err` (`bail!`):
        // unseen, so assume they name the error type.
        self.0 = true;
    }
}
