//! The options of `#[workflow(...)]`, parsed into their typed form; syntax
//! errors of the attribute go to the one collector.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Meta, Token};

use super::flow_control::{
    CancelOnOption, FlowOption, cancel_on_example, parse_cancel_on_list, set_flow,
};
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
    /// Each `on_event = ".."` or `on_event(name = "..", filter = "..")`,
    /// in source order.
    pub(crate) on_event: Vec<OnEvent>,
    /// `concurrency = N` or `concurrency(limit = N, key = "..")`.
    pub(crate) concurrency: Option<ConcurrencyOption>,
    /// `debounce(period = "..", key = "..", max_wait = "..")`.
    pub(crate) debounce: Option<FlowOption>,
    /// `throttle(limit = N, period = "..", key = "..")`.
    pub(crate) throttle: Option<FlowOption>,
    /// `queue = "billing"`.
    pub(crate) queue: Option<LitStr>,
    /// Each `cancel_on(event = "..", match = "..")`, in source order.
    pub(crate) cancel_on: Vec<CancelOnOption>,
}

/// The `concurrency` option: how many runs execute at once, of the whole
/// workflow or of each value of `key`.
pub(crate) struct ConcurrencyOption {
    /// `concurrency = 2`, or `limit = 2` inside `concurrency(..)`.
    pub(crate) limit: LitInt,
    /// `key = "customer.id"`, if given.
    pub(crate) key: Option<LitStr>,
}

/// One `on_event` option: the event pattern that starts a run, and the
/// JSON its data must contain.
pub(crate) struct OnEvent {
    /// `"order.*"`.
    pub(crate) pattern: LitStr,
    /// `filter = r#"{"region": "eu"}"#`, if given.
    pub(crate) filter: Option<LitStr>,
    /// The option's key, `on_event`, where messages about the whole option
    /// point.
    pub(crate) span: Span,
}

/// The options written in `attr`; what does not parse is reported to `cx`
/// and left out.
pub(super) fn parse_options(cx: &Errors, attr: TokenStream) -> WorkflowOptions {
    let mut options = WorkflowOptions::default();
    let parsed = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr);
    let metas = match parsed {
        Ok(metas) => metas,
        Err(error) => {
            cx.error_at(error.span(), expected_options());
            return options;
        }
    };
    for meta in metas {
        let key = meta
            .path()
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let Some(option) = symbols::OPTIONS.into_iter().find(|option| key == *option) else {
            cx.error_spanned_by(
                meta.path(),
                format!(
                    "unknown option `{key}`; #[workflow] accepts {}",
                    symbols::listed(&symbols::OPTIONS, "`", "and")
                ),
            );
            continue;
        };
        if option == symbols::DEBOUNCE || option == symbols::THROTTLE {
            set_flow(cx, &mut options, option, &meta);
            continue;
        }
        let pair = match meta {
            Meta::NameValue(pair) => pair,
            Meta::List(list) if option == symbols::CONCURRENCY => {
                if let Some(concurrency) = parse_concurrency_list(cx, &list) {
                    set_concurrency(cx, &mut options, &list.path, concurrency);
                }
                continue;
            }
            Meta::List(list) if option == symbols::CANCEL_ON => {
                if let Some(cancel_on) = parse_cancel_on_list(cx, &list) {
                    options.cancel_on.push(cancel_on);
                }
                continue;
            }
            Meta::List(list) if option == symbols::ON_EVENT => {
                if let Some(on_event) = parse_on_event_list(cx, &list) {
                    options.on_event.push(on_event);
                }
                continue;
            }
            other => {
                cx.error_spanned_by(&other, expected_options());
                continue;
            }
        };
        if option == symbols::CANCEL_ON {
            cx.error_spanned_by(&pair, cancel_on_example());
            continue;
        }
        if option == symbols::ON_EVENT {
            match string_literal(&pair.value) {
                Some(literal) => options.on_event.push(OnEvent {
                    pattern: literal.clone(),
                    filter: None,
                    span: pair.path.span(),
                }),
                None => cx.error_spanned_by(&pair.value, on_event_example()),
            }
            continue;
        }
        if option == symbols::CONCURRENCY {
            match integer_literal(&pair.value) {
                Some(limit) => set_concurrency(
                    cx,
                    &mut options,
                    &pair.path,
                    ConcurrencyOption {
                        limit: limit.clone(),
                        key: None,
                    },
                ),
                None => cx.error_spanned_by(&pair.value, concurrency_example()),
            }
            continue;
        }
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

/// The message for options that do not parse as `key = value`.
fn expected_options() -> String {
    format!(
        "expected options like `#[workflow({} = \"{}\", {} = \"{}\")]`",
        symbols::NAME,
        example(symbols::NAME),
        symbols::TIMEOUT,
        example(symbols::TIMEOUT),
    )
}

/// What `on_event` takes, as messages show it.
fn on_event_example() -> String {
    format!(
        "option `{0}` takes an event name or pattern, e.g. `{0} = \"order.created\"`, \
         or `{0}({1} = \"order.*\", {2} = r#\"{{\"region\": \"eu\"}}\"#)`",
        symbols::ON_EVENT,
        symbols::NAME,
        symbols::FILTER
    )
}

/// `on_event(name = "order.*", filter = "..")`: its keys, each a string
/// literal at most once, `name` required.
fn parse_on_event_list(cx: &Errors, list: &syn::MetaList) -> Option<OnEvent> {
    let pairs =
        match list.parse_args_with(Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated) {
            Ok(pairs) => pairs,
            Err(error) => {
                cx.error_at(error.span(), on_event_example());
                return None;
            }
        };
    let mut pattern: Option<LitStr> = None;
    let mut filter: Option<LitStr> = None;
    for pair in pairs {
        let key = pair
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let slot = match symbols::ON_EVENT_KEYS
            .into_iter()
            .find(|known| key == *known)
        {
            Some(symbols::NAME) => &mut pattern,
            Some(_) => &mut filter,
            None => {
                cx.error_spanned_by(
                    &pair.path,
                    format!(
                        "unknown key `{key}` of `{}(..)`; it accepts {}",
                        symbols::ON_EVENT,
                        symbols::listed(&symbols::ON_EVENT_KEYS, "`", "and")
                    ),
                );
                continue;
            }
        };
        match string_literal(&pair.value) {
            Some(literal) if slot.is_none() => *slot = Some(literal.clone()),
            Some(_) => cx.error_spanned_by(
                &pair.path,
                format!(
                    "`{key}` is given twice in `{}(..)`; keep one",
                    symbols::ON_EVENT
                ),
            ),
            None => cx.error_spanned_by(&pair.value, on_event_example()),
        }
    }
    let Some(pattern) = pattern else {
        cx.error_spanned_by(
            &list.path,
            format!(
                "`{0}(..)` needs the event's name: write `{0}({1} = \"order.created\")`",
                symbols::ON_EVENT,
                symbols::NAME
            ),
        );
        return None;
    };
    Some(OnEvent {
        pattern,
        filter,
        span: list.path.span(),
    })
}

/// What `concurrency` takes, as messages show it.
fn concurrency_example() -> String {
    format!(
        "option `{0}` takes a whole number, e.g. `{0} = 2`, or a limit per key: \
         `{0}({1} = 1, {2} = \"customer_id\")`",
        symbols::CONCURRENCY,
        symbols::LIMIT,
        symbols::KEY
    )
}

/// Records the `concurrency` option, unless it was given already.
fn set_concurrency(
    cx: &Errors,
    options: &mut WorkflowOptions,
    path: &syn::Path,
    concurrency: ConcurrencyOption,
) {
    if options.concurrency.is_some() {
        cx.error_spanned_by(
            path,
            format!("option `{}` is given twice; keep one", symbols::CONCURRENCY),
        );
    } else {
        options.concurrency = Some(concurrency);
    }
}

/// `concurrency(limit = 1, key = "customer_id")`: `limit` a whole number,
/// `key` a string literal, each at most once, `limit` required.
fn parse_concurrency_list(cx: &Errors, list: &syn::MetaList) -> Option<ConcurrencyOption> {
    let pairs =
        match list.parse_args_with(Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated) {
            Ok(pairs) => pairs,
            Err(error) => {
                cx.error_at(error.span(), concurrency_example());
                return None;
            }
        };
    let mut limit: Option<LitInt> = None;
    let mut key: Option<LitStr> = None;
    for pair in pairs {
        let name = pair
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let twice = || {
            format!(
                "`{name}` is given twice in `{}(..)`; keep one",
                symbols::CONCURRENCY
            )
        };
        match symbols::CONCURRENCY_KEYS
            .into_iter()
            .find(|known| name == *known)
        {
            Some(symbols::LIMIT) => match integer_literal(&pair.value) {
                Some(literal) if limit.is_none() => limit = Some(literal.clone()),
                Some(_) => cx.error_spanned_by(&pair.path, twice()),
                None => cx.error_spanned_by(&pair.value, concurrency_example()),
            },
            Some(_) => match string_literal(&pair.value) {
                Some(literal) if key.is_none() => key = Some(literal.clone()),
                Some(_) => cx.error_spanned_by(&pair.path, twice()),
                None => cx.error_spanned_by(
                    &pair.value,
                    format!(
                        "`{}` in `{}(..)` takes a string literal naming a field of the input, e.g. `{0} = \"customer.id\"`",
                        symbols::KEY,
                        symbols::CONCURRENCY
                    ),
                ),
            },
            None => cx.error_spanned_by(
                &pair.path,
                format!(
                    "unknown key `{name}` of `{}(..)`; it accepts {}",
                    symbols::CONCURRENCY,
                    symbols::listed(&symbols::CONCURRENCY_KEYS, "`", "and")
                ),
            ),
        }
    }
    let Some(limit) = limit else {
        cx.error_spanned_by(
            &list.path,
            format!(
                "`{0}(..)` needs its limit: write `{0}({1} = 1, {2} = \"customer_id\")`",
                symbols::CONCURRENCY,
                symbols::LIMIT,
                symbols::KEY
            ),
        );
        return None;
    };
    Some(ConcurrencyOption { limit, key })
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
            symbols::QUEUE => Some(&mut self.queue),
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
        symbols::QUEUE => "billing",
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
pub(super) fn integer_literal(expr: &Expr) -> Option<&LitInt> {
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
