//! The options of `#[workflow(...)]`, parsed into their typed form; syntax
//! errors of the attribute go to the one collector.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Token};

use crate::errors::Errors;
use crate::symbols::{self, Symbol};

/// The options of `#[workflow(...)]`.
#[derive(Default)]
pub(crate) struct WorkflowOptions {
    /// `name = "..."`.
    pub(crate) name: Option<LitStr>,
    /// `timeout = "..."`.
    pub(crate) timeout: Option<LitStr>,
    /// `on_failure = path::to::hook`.
    pub(crate) on_failure: Option<syn::Path>,
    /// `cron = "0 9 * * 1-5"`.
    pub(crate) cron: Option<LitStr>,
    /// `timezone = "Europe/Berlin"`.
    pub(crate) timezone: Option<LitStr>,
    /// `overlap = "skip" | "allow" | "cancel_previous"`.
    pub(crate) overlap: Option<LitStr>,
    /// `version = 2`.
    pub(crate) version: Option<LitInt>,
}

/// The options written in `attr`; what does not parse is reported to `cx`
/// and left out.
pub(super) fn parse_options(cx: &Errors, attr: TokenStream) -> WorkflowOptions {
    let mut options = WorkflowOptions::default();
    let parsed = Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated.parse2(attr);
    let pairs = match parsed {
        Ok(pairs) => pairs,
        Err(error) => {
            cx.error_at(
                error.span(),
                format!(
                    "expected options like `#[workflow({} = \"{}\", {} = \"{}\")]`",
                    symbols::NAME,
                    example(symbols::NAME),
                    symbols::TIMEOUT,
                    example(symbols::TIMEOUT),
                ),
            );
            return options;
        }
    };
    for pair in pairs {
        let key = pair
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let Some(option) = symbols::OPTIONS.into_iter().find(|option| key == *option) else {
            cx.error_spanned_by(
                &pair.path,
                format!(
                    "unknown option `{key}`; #[workflow] accepts {}",
                    symbols::listed(&symbols::OPTIONS, "`", "and")
                ),
            );
            continue;
        };
        if option == symbols::VERSION {
            match integer_literal(&pair.value) {
                Some(literal) if options.version.is_none() => {
                    options.version = Some(literal.clone());
                }
                Some(_) => cx.error_spanned_by(
                    &pair.path,
                    format!("option `{option}` is given twice; keep one"),
                ),
                None => cx.error_spanned_by(
                    &pair.value,
                    format!(
                        "option `{option}` takes a whole number, e.g. `{option} = {}`",
                        example(option)
                    ),
                ),
            }
            continue;
        }
        let Some(slot) = options.string_slot(option) else {
            // The one option left that is not a string: `on_failure`.
            match &pair.value {
                Expr::Path(path) if options.on_failure.is_none() => {
                    options.on_failure = Some(path.path.clone());
                }
                Expr::Path(_) => cx.error_spanned_by(
                    &pair.path,
                    format!("option `{option}` is given twice; keep one"),
                ),
                other => cx.error_spanned_by(
                    other,
                    format!(
                        "option `{option}` takes the path of an async fn, e.g. `{option} = {}`",
                        example(option)
                    ),
                ),
            }
            continue;
        };
        match string_literal(&pair.value) {
            Some(literal) if slot.is_none() => *slot = Some(literal.clone()),
            Some(_) => cx.error_spanned_by(
                &pair.path,
                format!("option `{option}` is given twice; keep one"),
            ),
            None => cx.error_spanned_by(
                &pair.value,
                format!(
                    "option `{option}` takes a string literal, e.g. `{option} = \"{}\"`",
                    example(option)
                ),
            ),
        }
    }
    options
}

impl WorkflowOptions {
    /// Where the value of a string option goes; `None` for `on_failure`.
    fn string_slot(&mut self, option: Symbol) -> Option<&mut Option<LitStr>> {
        match option {
            symbols::NAME => Some(&mut self.name),
            symbols::TIMEOUT => Some(&mut self.timeout),
            symbols::CRON => Some(&mut self.cron),
            symbols::TIMEZONE => Some(&mut self.timezone),
            symbols::OVERLAP => Some(&mut self.overlap),
            _ => None,
        }
    }
}

/// A value of `option` that messages show as an example.
fn example(option: Symbol) -> &'static str {
    match option {
        symbols::TIMEOUT => "24h",
        symbols::ON_FAILURE => "notify_support",
        symbols::CRON => "0 9 * * 1-5",
        symbols::TIMEZONE => "Europe/Berlin",
        symbols::OVERLAP => symbols::OVERLAP_POLICIES[0].0.as_str(),
        symbols::VERSION => "2",
        _ => "order-fulfillment",
    }
}

/// The literal an expression is, through parentheses and groups.
fn bare_literal(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        Expr::Paren(inner) => bare_literal(&inner.expr),
        Expr::Group(inner) => bare_literal(&inner.expr),
        _ => None,
    }
}

/// The integer literal an expression is, through parentheses and groups.
fn integer_literal(expr: &Expr) -> Option<&LitInt> {
    match bare_literal(expr)? {
        Lit::Int(literal) => Some(literal),
        _ => None,
    }
}

/// The string literal an expression is, through parentheses and groups.
pub(super) fn string_literal(expr: &Expr) -> Option<&LitStr> {
    match bare_literal(expr)? {
        Lit::Str(literal) => Some(literal),
        _ => None,
    }
}
