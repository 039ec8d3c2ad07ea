//! `#[derive(Event)]`: the same three stages as `#[workflow]`. [`model`]
//! parses the struct and its `#[event(..)]` and `#[serde(..)]` attributes
//! into a typed model (reporting malformed attributes into the one
//! collector), [`check`] validates it (a name is given, the struct has
//! named fields and no generics), and [`generate`] writes the `Event` impl
//! and the struct of typed fields.

mod check;
mod generate;
mod model;

use proc_macro2::TokenStream;

use crate::errors::Errors;

/// The expansion of `#[derive(Event)]` on `item`: the impl, or the errors.
/// (A derive adds to the item, so unlike `#[workflow]` there is nothing of
/// the user's to re-emit beside an error.)
pub(crate) fn expand(item: TokenStream) -> TokenStream {
    let cx = Errors::new();
    let input = syn::parse2::<syn::DeriveInput>(item)
        .map_err(|error| cx.syn_error(error))
        .ok();
    let model = input
        .as_ref()
        .map(|input| model::EventModel::parse(&cx, input));
    let valid = model.as_ref().and_then(|model| check::run(&cx, model));
    match (cx.check(), valid) {
        (Ok(()), Some(valid)) => generate::event(&valid),
        (Err(errors), _) => errors.to_compile_error(),
        (Ok(()), None) => unreachable!("the checks made no event but reported no error"),
    }
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn expansion(source: &str) -> String {
        expand(source.parse().expect("valid tokens")).to_string()
    }

    #[test]
    fn a_named_struct_gets_the_impl_and_typed_fields_with_serde_renames() {
        let text = expansion(
            r#"#[event(name = "shipment.label.scanned")]
            #[serde(rename_all = "camelCase")]
            pub struct ShipmentScanned {
                order_id: String,
                #[serde(rename = "trackingNo")] tracking: String,
                #[serde(skip)] cache: u8,
            }"#,
        );
        assert!(!text.contains("compile_error"), "{text}");
        assert!(text.contains("\"shipment.label.scanned\""), "{text}");
        assert!(text.contains("pub struct ShipmentScannedFields"), "{text}");
        assert!(text.contains("\"orderId\""), "{text}");
        assert!(text.contains("\"trackingNo\""), "{text}");
        assert!(!text.contains("cache"), "{text}");
    }

    #[test]
    fn a_missing_or_malformed_name_is_an_error() {
        for source in [
            "struct E { a: u8 }",
            "#[event] struct E { a: u8 }",
            "#[event(name = 3)] struct E { a: u8 }",
            "#[event(nmae = \"e\")] struct E { a: u8 }",
            "#[event(name = \"\")] struct E { a: u8 }",
            "#[event(name = \"a b\")] struct E { a: u8 }",
            "#[event(name = \"e\", name = \"f\")] struct E { a: u8 }",
            "#[event(name = \"e\")] struct E<T> { a: T }",
            "#[event(name = \"e\")] struct E(u8);",
            "#[event(name = \"e\")] enum E { A }",
        ] {
            assert!(expansion(source).contains("compile_error"), "{source}");
        }
    }
}
