//! Stage two of `#[derive(Event)]`: what the model must be, one small fn
//! per rule, all reported into the one collector.

use syn::Ident;

use super::model::{EventModel, Shape};
use crate::errors::Errors;
use crate::symbols;

/// An event that passed every check, ready for generation.
pub(crate) struct ValidEvent<'m> {
    pub(crate) ident: &'m Ident,
    pub(crate) vis: &'m syn::Visibility,
    pub(crate) name: String,
    /// The typed fields: Rust name, type, and JSON key.
    pub(crate) fields: Vec<(&'m Ident, &'m syn::Type, String)>,
}

/// Runs every check; `None` when one failed (it reported why).
pub(crate) fn run<'m>(cx: &Errors, model: &'m EventModel<'_>) -> Option<ValidEvent<'m>> {
    let name = name(cx, model);
    let generics = no_generics(cx, model);
    let rename_all = rename_all(model);
    let fields = match &model.shape {
        Shape::Named(fields) => Some(fields),
        Shape::Other(span, what) => {
            cx.error_at(
                *span,
                format!(
                    "#[derive(Event)] takes a struct with named fields, not {what}: write `struct {} {{ order_id: String, .. }}`",
                    model.input.ident
                ),
            );
            None
        }
    };
    let (name, fields) = (name?, fields?);
    generics?;
    let fields = fields
        .iter()
        .filter(|field| !field.hidden)
        .map(|field| {
            let rust = syn::ext::IdentExt::unraw(&field.ident).to_string();
            let key = field
                .rename
                .clone()
                .unwrap_or_else(|| rename_all.map_or(rust.clone(), |case| renamed(&rust, case)));
            (&field.ident, &field.ty, key)
        })
        .collect();
    Some(ValidEvent {
        ident: &model.input.ident,
        vis: &model.input.vis,
        name,
        fields,
    })
}

/// The event's name: given, a non-empty literal without whitespace.
fn name(cx: &Errors, model: &EventModel<'_>) -> Option<String> {
    let Some(literal) = &model.name else {
        // A malformed attribute was reported while parsing.
        if !model.malformed {
            let message = format!(
                "an event needs its name: write `#[event({} = \"shipment.label.scanned\")]` above `struct {}`",
                symbols::NAME,
                model.input.ident
            );
            match model.attribute {
                Some(attribute) => cx.error_over(attribute, message),
                None => cx.error_spanned_by(&model.input.ident, message),
            }
        }
        return None;
    };
    let value = literal.value();
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        cx.error_spanned_by(
            literal,
            "an event name is not empty and has no whitespace, e.g. `\"shipment.label.scanned\"`",
        );
        return None;
    }
    Some(value)
}

/// An event type is one type: its name and schema cannot depend on a
/// parameter.
fn no_generics(cx: &Errors, model: &EventModel<'_>) -> Option<()> {
    if model.input.generics.params.is_empty() {
        return Some(());
    }
    cx.error_over(
        &model.input.generics,
        "an event type cannot be generic (its name and schema are one): write one struct per event",
    );
    None
}

/// The struct's `rename_all`, if it is one this derive knows. An unknown
/// case is serde's to report (its derive refuses it), so it is not
/// reported twice; the keys are then left as written.
fn rename_all(model: &EventModel<'_>) -> Option<&'static str> {
    let value = model.rename_all.as_ref()?.value();
    symbols::SERDE_CASES
        .iter()
        .find(|case| value == **case)
        .copied()
}

/// A snake_case field name in serde's `case`, as serde renames fields.
fn renamed(field: &str, case: &str) -> String {
    let words = field.split('_');
    match case {
        "lowercase" => field.to_lowercase(),
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => field.to_uppercase(),
        "PascalCase" => words.map(capitalized).collect(),
        "camelCase" => {
            let pascal: String = words.map(capitalized).collect();
            let mut chars = pascal.chars();
            chars
                .next()
                .map(|first| first.to_lowercase().chain(chars).collect())
                .unwrap_or_default()
        }
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.to_uppercase().replace('_', "-"),
        _ => field.to_owned(),
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::renamed;

    #[test]
    fn renames_as_serde_does() {
        assert_eq!(renamed("order_id", "camelCase"), "orderId");
        assert_eq!(renamed("order_id", "PascalCase"), "OrderId");
        assert_eq!(renamed("order_id", "kebab-case"), "order-id");
        assert_eq!(renamed("order_id", "SCREAMING_SNAKE_CASE"), "ORDER_ID");
        assert_eq!(renamed("order_id", "SCREAMING-KEBAB-CASE"), "ORDER-ID");
        assert_eq!(renamed("order_id", "snake_case"), "order_id");
        assert_eq!(renamed("id", "camelCase"), "id");
    }
}
