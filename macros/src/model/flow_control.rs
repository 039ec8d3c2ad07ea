//! The flow-control options of `#[workflow(...)]` written as lists:
//! `debounce(..)`, `throttle(..)` and `cancel_on(..)`, parsed into their
//! typed form (checked in `check/options.rs`).

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, LitInt, LitStr, Meta, Token};

use super::options::{WorkflowOptions, integer_literal, string_literal};
use crate::errors::Errors;
use crate::symbols::{self, Symbol};

/// The `debounce(..)` or `throttle(..)` option as written: each key's
/// literal, checked in `check/options.rs` (which keys each takes is
/// [`symbols::DEBOUNCE_KEYS`] and [`symbols::THROTTLE_KEYS`]).
pub(crate) struct FlowOption {
    /// `limit = 10` (throttle).
    pub(crate) limit: Option<LitInt>,
    /// `period = "5s"`.
    pub(crate) period: Option<LitStr>,
    /// `key = "user_id"`.
    pub(crate) key: Option<LitStr>,
    /// `max_wait = "1m"` (debounce).
    pub(crate) max_wait: Option<LitStr>,
    /// The option's name, where messages about the whole option point.
    pub(crate) span: Span,
}

/// One `cancel_on` option: the event that cancels the workflow's runs, and
/// the path whose values must match.
pub(crate) struct CancelOnOption {
    /// `event = "order.cancelled"`.
    pub(crate) event: LitStr,
    /// `match = "order_id"`, if given.
    pub(crate) matching: Option<LitStr>,
    /// The option's key, `cancel_on`, where messages about the whole option
    /// point.
    pub(crate) span: Span,
}

/// What `cancel_on` takes, as messages show it.
pub(super) fn cancel_on_example() -> String {
    format!(
        "option `{0}` takes the event's name and, optionally, the input's field it must match: \
         `{0}({1} = \"order.cancelled\", {2} = \"order_id\")`",
        symbols::CANCEL_ON,
        symbols::EVENT,
        symbols::MATCH
    )
}

/// `cancel_on(event = "order.cancelled", match = "order_id")`: its keys,
/// each a string literal at most once, `event` required.
pub(super) fn parse_cancel_on_list(cx: &Errors, list: &syn::MetaList) -> Option<CancelOnOption> {
    let pairs = match list.parse_args_with(Punctuated::<KeyValue, Token![,]>::parse_terminated) {
        Ok(pairs) => pairs,
        Err(error) => {
            cx.error_at(error.span(), cancel_on_example());
            return None;
        }
    };
    let mut event: Option<LitStr> = None;
    let mut matching: Option<LitStr> = None;
    for pair in pairs {
        let key = pair.path.to_string();
        let slot = match symbols::CANCEL_ON_KEYS
            .into_iter()
            .find(|known| key == *known)
        {
            Some(symbols::EVENT) => &mut event,
            Some(_) => &mut matching,
            None => {
                cx.error_spanned_by(
                    &pair.path,
                    format!(
                        "unknown key `{key}` of `{}(..)`; it accepts {}",
                        symbols::CANCEL_ON,
                        symbols::listed(&symbols::CANCEL_ON_KEYS, "`", "and")
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
                    symbols::CANCEL_ON
                ),
            ),
            None => cx.error_spanned_by(&pair.value, cancel_on_example()),
        }
    }
    let Some(event) = event else {
        cx.error_spanned_by(
            &list.path,
            format!(
                "`{0}(..)` needs the event's name: write `{0}({1} = \"order.cancelled\")`",
                symbols::CANCEL_ON,
                symbols::EVENT
            ),
        );
        return None;
    };
    Some(CancelOnOption {
        event,
        matching,
        span: list.path.span(),
    })
}

/// `key = value` whose key may be a keyword (`match = ".."`), which
/// `syn::MetaNameValue` does not take.
struct KeyValue {
    /// The key (named `path` as `MetaNameValue`'s).
    path: syn::Ident,
    value: Expr,
}

impl syn::parse::Parse for KeyValue {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let path = syn::ext::IdentExt::parse_any(input)?;
        input.parse::<Token![=]>()?;
        Ok(KeyValue {
            path,
            value: input.parse()?,
        })
    }
}

/// What `debounce` or `throttle` takes, as messages show it.
fn flow_example(option: Symbol) -> String {
    if option == symbols::DEBOUNCE {
        format!(
            "option `{option}` takes its period and, optionally, a key and a longest wait, e.g. \
             `{option}({} = \"5s\", {} = \"user_id\", {} = \"1m\")`",
            symbols::PERIOD,
            symbols::KEY,
            symbols::MAX_WAIT
        )
    } else {
        format!(
            "option `{option}` takes a limit, a period and, optionally, a key, e.g. \
             `{option}({} = 10, {} = \"1m\", {} = \"user_id\")`",
            symbols::LIMIT,
            symbols::PERIOD,
            symbols::KEY
        )
    }
}

/// Records `debounce(..)` or `throttle(..)` (`option`), written as a list,
/// unless it was given already.
pub(super) fn set_flow(cx: &Errors, options: &mut WorkflowOptions, option: Symbol, meta: &Meta) {
    let Meta::List(list) = meta else {
        cx.error_spanned_by(meta, flow_example(option));
        return;
    };
    let (slot, keys) = if option == symbols::DEBOUNCE {
        (&mut options.debounce, &symbols::DEBOUNCE_KEYS[..])
    } else {
        (&mut options.throttle, &symbols::THROTTLE_KEYS[..])
    };
    if slot.is_some() {
        cx.error_spanned_by(
            &list.path,
            format!("option `{option}` is given twice; keep one"),
        );
    } else {
        *slot = parse_flow_list(cx, list, option, keys);
    }
}

/// `debounce(..)` or `throttle(..)` (`option`): each of `keys` at most once,
/// `limit` a whole number and the others string literals. Which are
/// required is checked later, with the values.
fn parse_flow_list(
    cx: &Errors,
    list: &syn::MetaList,
    option: Symbol,
    keys: &[Symbol],
) -> Option<FlowOption> {
    let pairs =
        match list.parse_args_with(Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated) {
            Ok(pairs) => pairs,
            Err(error) => {
                cx.error_at(error.span(), flow_example(option));
                return None;
            }
        };
    let mut flow = FlowOption {
        limit: None,
        period: None,
        key: None,
        max_wait: None,
        span: list.path.span(),
    };
    for pair in pairs {
        let name = pair
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let Some(&known) = keys.iter().find(|known| name == **known) else {
            cx.error_spanned_by(
                &pair.path,
                format!(
                    "unknown key `{name}` of `{option}(..)`; it accepts {}",
                    symbols::listed(keys, "`", "and")
                ),
            );
            continue;
        };
        let twice = format!("`{name}` is given twice in `{option}(..)`; keep one");
        if known == symbols::LIMIT {
            match integer_literal(&pair.value) {
                Some(literal) if flow.limit.is_none() => flow.limit = Some(literal.clone()),
                Some(_) => cx.error_spanned_by(&pair.path, twice),
                None => cx.error_spanned_by(&pair.value, flow_example(option)),
            }
            continue;
        }
        let slot = match known {
            symbols::PERIOD => &mut flow.period,
            symbols::MAX_WAIT => &mut flow.max_wait,
            _ => &mut flow.key,
        };
        match string_literal(&pair.value) {
            Some(literal) if slot.is_none() => *slot = Some(literal.clone()),
            Some(_) => cx.error_spanned_by(&pair.path, twice),
            None => cx.error_spanned_by(&pair.value, flow_example(option)),
        }
    }
    Some(flow)
}
