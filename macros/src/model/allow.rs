//! `#[durable::allow_nondeterministic]` on a statement of the body: the
//! statements it marks, found and unmarked before the body is walked. The
//! attribute is removed from the fn the macro emits, so the compiler never
//! sees an attribute on a statement it does not know.

use std::collections::HashSet;

use syn::visit_mut::VisitMut;
use syn::{Attribute, Expr, Stmt};

use crate::symbols;

/// The statements of `function` marked `#[durable::allow_nondeterministic]`
/// (or `#[allow_nondeterministic]`), by address, with the attribute
/// removed. The addresses hold while `function` is not changed again: its
/// statements live in boxed blocks, which moving the fn does not move.
pub(crate) fn strip_allowances(function: &mut syn::ItemFn) -> HashSet<*const Stmt> {
    let mut stripper = Stripper {
        allowed: HashSet::new(),
    };
    stripper.visit_block_mut(&mut function.block);
    stripper.allowed
}

struct Stripper {
    allowed: HashSet<*const Stmt>,
}

impl VisitMut for Stripper {
    fn visit_stmt_mut(&mut self, stmt: &mut Stmt) {
        // Nested statements first: the recorded address is the one left
        // once nothing changes any more.
        syn::visit_mut::visit_stmt_mut(self, stmt);
        let attrs = match stmt {
            Stmt::Local(local) => Some(&mut local.attrs),
            Stmt::Macro(mac) => Some(&mut mac.attrs),
            Stmt::Expr(expr, _) => statement_attrs(expr),
            Stmt::Item(_) => None,
        };
        if let Some(attrs) = attrs {
            let before = attrs.len();
            attrs.retain(|attr| !is_allowance(attr));
            if attrs.len() != before {
                self.allowed.insert(stmt as *const Stmt);
            }
        }
    }

    fn visit_item_mut(&mut self, _item: &mut syn::Item) {
        // A nested item is not part of the workflow body.
    }
}

/// The outer attributes of an expression statement: syn puts them on the
/// statement's expression, or on the left of an assignment, a binary
/// operation or a cast. `None` for expressions that do not start a
/// statement a reader would mark.
fn statement_attrs(mut expr: &mut Expr) -> Option<&mut Vec<Attribute>> {
    loop {
        expr = match expr {
            Expr::Assign(inner) => &mut inner.left,
            Expr::Binary(inner) => &mut inner.left,
            Expr::Cast(inner) => &mut inner.expr,
            _ => break,
        };
    }
    match expr {
        Expr::Await(inner) => Some(&mut inner.attrs),
        Expr::Block(inner) => Some(&mut inner.attrs),
        Expr::Call(inner) => Some(&mut inner.attrs),
        Expr::Field(inner) => Some(&mut inner.attrs),
        Expr::ForLoop(inner) => Some(&mut inner.attrs),
        Expr::If(inner) => Some(&mut inner.attrs),
        Expr::Loop(inner) => Some(&mut inner.attrs),
        Expr::Macro(inner) => Some(&mut inner.attrs),
        Expr::Match(inner) => Some(&mut inner.attrs),
        Expr::MethodCall(inner) => Some(&mut inner.attrs),
        Expr::Path(inner) => Some(&mut inner.attrs),
        Expr::Try(inner) => Some(&mut inner.attrs),
        Expr::Unsafe(inner) => Some(&mut inner.attrs),
        Expr::While(inner) => Some(&mut inner.attrs),
        _ => None,
    }
}

/// Whether `attr` is `#[durable::allow_nondeterministic]` or
/// `#[allow_nondeterministic]`, without arguments.
fn is_allowance(attr: &Attribute) -> bool {
    let syn::Meta::Path(path) = &attr.meta else {
        return false;
    };
    let segments: Vec<&syn::Ident> = path.segments.iter().map(|s| &s.ident).collect();
    match segments.as_slice() {
        [name] => **name == symbols::ALLOW_NONDETERMINISTIC,
        [krate, name] => **krate == symbols::DURABLE && **name == symbols::ALLOW_NONDETERMINISTIC,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use quote::ToTokens;
    use syn::parse_quote;

    use super::*;

    #[test]
    fn unmarks_let_call_await_and_assignment_statements_and_records_them() {
        let mut function: syn::ItemFn = parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                #[durable::allow_nondeterministic]
                let started = Instant::now();
                #[allow_nondeterministic]
                tokio::time::sleep(pause).await;
                #[durable::allow_nondeterministic]
                seen = SystemTime::now();
                #[allow(unused)]
                let kept = 1;
                if ready {
                    #[durable::allow_nondeterministic]
                    tokio::spawn(report());
                }
                Ok(())
            }
        };
        let allowed = strip_allowances(&mut function);
        assert_eq!(allowed.len(), 4);
        let text = function.to_token_stream().to_string();
        assert!(!text.contains("allow_nondeterministic"), "{text}");
        assert!(text.contains("# [allow (unused)]"), "{text}");
        let top: Vec<bool> = function
            .block
            .stmts
            .iter()
            .map(|stmt| allowed.contains(&(stmt as *const Stmt)))
            .collect();
        assert_eq!(top, [true, true, true, false, false, false]);
    }

    #[test]
    fn leaves_other_attributes_and_nested_items_alone() {
        let mut function: syn::ItemFn = parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                #[durable::allow_nondeterministic(clock)]
                let a = 1;
                #[other::allow_nondeterministic]
                let b = 2;
                fn helper() {
                    #[durable::allow_nondeterministic]
                    let c = 3;
                }
                Ok(())
            }
        };
        assert!(strip_allowances(&mut function).is_empty());
    }
}
