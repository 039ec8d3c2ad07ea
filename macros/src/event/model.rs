//! Stage one of `#[derive(Event)]`: the struct as a typed model. Only the
//! syntax of the attributes is reported here; what is missing or not
//! allowed is `check`'s.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr};

use crate::errors::Errors;
use crate::symbols;

/// One field of the event, as serde writes it.
pub(crate) struct EventField {
    pub(crate) ident: syn::Ident,
    pub(crate) ty: syn::Type,
    /// `#[serde(rename = "...")]`.
    pub(crate) rename: Option<String>,
    /// `#[serde(skip)]`, `skip_serializing`, `skip_deserializing` or
    /// `flatten`: not a key of the data, so no typed field.
    pub(crate) hidden: bool,
}

/// What the struct is made of.
pub(crate) enum Shape {
    /// `struct E { .. }`.
    Named(Vec<EventField>),
    /// A tuple or unit struct, an enum or a union: what the derive refuses,
    /// at this span.
    Other(Span, &'static str),
}

/// The typed model of one `#[derive(Event)]`.
pub(crate) struct EventModel<'a> {
    pub(crate) input: &'a syn::DeriveInput,
    /// `#[event(name = "...")]`, with the attribute's span; `None` when no
    /// `#[event]` attribute gave one.
    pub(crate) name: Option<LitStr>,
    /// Whether an `#[event]` attribute is there at all (to say what is
    /// missing: the attribute, or its name).
    pub(crate) attribute: Option<&'a syn::Attribute>,
    /// Whether parsing `#[event(..)]` reported an error already.
    pub(crate) malformed: bool,
    /// `#[serde(rename_all = "...")]` on the struct.
    pub(crate) rename_all: Option<LitStr>,
    pub(crate) shape: Shape,
}

impl<'a> EventModel<'a> {
    /// The model of `input`; malformed `#[event]` attributes go to `cx`.
    pub(crate) fn parse(cx: &Errors, input: &'a syn::DeriveInput) -> Self {
        let mut name: Option<LitStr> = None;
        let mut attribute = None;
        let mut rename_all = None;
        let mut malformed = false;
        for attr in &input.attrs {
            if attr.path().is_ident(symbols::EVENT_ATTRIBUTE.as_str()) {
                attribute = Some(attr);
                malformed |= !parse_event_attribute(cx, attr, &mut name);
            } else if attr.path().is_ident(symbols::SERDE.as_str()) {
                serde_options(attr, |key, value| {
                    if *key == symbols::RENAME_ALL {
                        rename_all = Some(value.clone());
                    }
                });
            }
        }
        let shape = match &input.data {
            syn::Data::Struct(data) => match &data.fields {
                syn::Fields::Named(fields) => {
                    Shape::Named(fields.named.iter().map(event_field).collect())
                }
                syn::Fields::Unnamed(fields) => Shape::Other(fields.span(), "a tuple struct"),
                syn::Fields::Unit => Shape::Other(input.ident.span(), "a unit struct"),
            },
            syn::Data::Enum(data) => Shape::Other(data.enum_token.span, "an enum"),
            syn::Data::Union(data) => Shape::Other(data.union_token.span, "a union"),
        };
        EventModel {
            input,
            name,
            attribute,
            malformed,
            rename_all,
            shape,
        }
    }
}

/// Reads `#[event(name = "...")]` into `name`, reporting anything else;
/// returns whether it reported nothing.
fn parse_event_attribute(cx: &Errors, attr: &syn::Attribute, name: &mut Option<LitStr>) -> bool {
    let mut clean = true;
    let example = format!(
        "write `#[event({} = \"shipment.label.scanned\")]`",
        symbols::NAME
    );
    let syn::Meta::List(_) = &attr.meta else {
        cx.error_spanned_by(
            attr,
            format!("`#[event]` needs the event's name: {example}"),
        );
        return false;
    };
    let parsed = attr.parse_nested_meta(|meta| {
        if !meta.path.is_ident(symbols::NAME.as_str()) {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            cx.error_spanned_by(
                &meta.path,
                format!(
                    "unknown option `{key}`; #[event] accepts only `{}`",
                    symbols::NAME
                ),
            );
            clean = false;
            // Skip the value, so that the options after it are read.
            if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            }
            return Ok(());
        }
        let value: Expr = meta.value()?.parse()?;
        match (&value, name.is_some()) {
            (
                Expr::Lit(ExprLit {
                    lit: Lit::Str(literal),
                    ..
                }),
                false,
            ) => *name = Some(literal.clone()),
            (_, true) => {
                cx.error_spanned_by(
                    &meta.path,
                    format!("option `{}` is given twice; keep one", symbols::NAME),
                );
                clean = false;
            }
            (other, false) => {
                cx.error_spanned_by(
                    other,
                    format!("the event's name is a string literal: {example}"),
                );
                clean = false;
            }
        }
        Ok(())
    });
    if let Err(error) = parsed {
        cx.error_at(
            error.span(),
            format!("expected `name = \"...\"`: {example}"),
        );
        clean = false;
    }
    clean
}

/// Calls `each` with every `key = "literal"` of a `#[serde(..)]`
/// attribute, and with `key` alone (an empty literal) for a flag such as
/// `skip`. What this derive does not need (nested lists) is passed over:
/// serde reports its own attributes' errors.
fn serde_options(attr: &syn::Attribute, mut each: impl FnMut(&str, &LitStr)) {
    let _ = attr.parse_nested_meta(|meta| {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        if meta.input.peek(syn::Token![=]) {
            let value: Expr = meta.value()?.parse()?;
            if let Expr::Lit(ExprLit {
                lit: Lit::Str(literal),
                ..
            }) = value
            {
                each(&key, &literal);
            }
        } else if meta.input.peek(syn::token::Paren) {
            meta.parse_nested_meta(|inner| {
                if inner.input.peek(syn::Token![=]) {
                    let _: Expr = inner.value()?.parse()?;
                }
                Ok(())
            })?;
        } else {
            each(&key, &LitStr::new("", meta.path.span()));
        }
        Ok(())
    });
}

fn event_field(field: &syn::Field) -> EventField {
    let mut rename = None;
    let mut hidden = false;
    for attr in &field.attrs {
        if attr.path().is_ident(symbols::SERDE.as_str()) {
            serde_options(attr, |key, value| {
                if *key == symbols::RENAME {
                    rename = Some(value.value());
                } else if symbols::HIDING_SERDE_OPTIONS
                    .iter()
                    .any(|option| *key == *option)
                {
                    hidden = true;
                }
            });
        }
    }
    EventField {
        ident: field.ident.clone().expect("a named field"),
        ty: field.ty.clone(),
        rename,
        hidden,
    }
}
