//! The `#[workflow]` attribute of durable. Documented on its re-export,
//! `durable::workflow`; depend on `durable`, not on this crate.
//!
//! The macro works in three stages, one file each:
//! `model` parses the attribute and the fn into a typed model of the
//! workflow and its step calls; `check` validates the model and collects
//! every error in one pass; `generate` turns a valid model into code (the
//! only file that writes tokens). On errors the user's fn is still emitted
//! unchanged beside them, so IDEs keep working.

mod check;
mod generate;
mod model;

use proc_macro::TokenStream;

/// Turns an async fn into a durable workflow. See `durable::workflow`.
#[proc_macro_attribute]
pub fn workflow(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into()).into()
}

fn expand(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let function: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => return generate::errors_beside(item, vec![error]),
    };
    let (model, mut errors) = model::WorkflowModel::parse(attr, &function);
    match check::check(&model) {
        Ok(valid) if errors.is_empty() => generate::workflow(&valid),
        Ok(_) => generate::errors_beside(item, errors),
        Err(check_errors) => {
            errors.extend(check_errors);
            generate::errors_beside(item, errors)
        }
    }
}
