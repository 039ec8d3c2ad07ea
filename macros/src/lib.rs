//! The `#[workflow]` attribute of durable. Documented on its re-export,
//! `durable::workflow`; depend on `durable`, not on this crate.
//!
//! The macro works in three stages: `model` parses the attribute and the fn
//! into a typed model of the workflow and its step calls; `check` validates
//! the model, one small fn per rule; `generate` turns a valid model into code
//! (the only file that writes tokens). Parsing and every check report into
//! one collector (`errors`), so all problems show in one compile; on errors
//! the user's fn is still emitted beside them (unchanged but for the
//! `#[durable::allow_nondeterministic]` marks only the macro reads), so
//! IDEs keep working. Every name the macro recognises is in one table, `symbols`.

mod check;
mod errors;
mod event;
mod generate;
mod model;
mod symbols;

use proc_macro::TokenStream;

use crate::errors::Errors;

/// Turns an async fn into a durable workflow. See `durable::workflow`.
#[proc_macro_attribute]
pub fn workflow(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), item.into()).into()
}

/// Makes a struct a typed event. See `durable::Event`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(item: TokenStream) -> TokenStream {
    event::expand(item.into()).into()
}

fn expand(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let cx = Errors::new();
    let function = syn::parse2::<syn::ItemFn>(item.clone())
        .map_err(|error| cx.syn_error(error))
        .ok();
    let model = function.map(|function| model::WorkflowModel::parse(&cx, attr, &function));
    let valid = model.as_ref().and_then(|model| check::run(&cx, model));
    match (cx.check(), valid) {
        (Ok(()), Some(valid)) => generate::workflow(&valid),
        (Err(errors), _) => {
            // The fn as parsed, without the attributes only the macro reads.
            let function = model.as_ref().map(|model| &model.function);
            generate::errors_beside(item, function, &errors)
        }
        (Ok(()), None) => {
            unreachable!("the checks made no workflow but reported no error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::expand;

    /// Tokens from source text, as the compiler hands them to the macro.
    fn tokens(source: &str) -> proc_macro2::TokenStream {
        source.parse().expect("valid tokens")
    }

    /// The `compile_error!` messages in an expansion, in order.
    fn messages(expansion: &proc_macro2::TokenStream) -> Vec<String> {
        let text = expansion.to_string();
        text.split("compile_error !")
            .skip(1)
            .map(|rest| {
                let start = rest.find('"').expect("a message") + 1;
                let end = rest[start..].find("\" }").expect("its end") + start;
                rest[start..end].to_owned()
            })
            .collect()
    }

    #[test]
    fn reports_parse_and_check_errors_together_beside_the_fn() {
        let expansion = expand(
            tokens(r#"nmae = "typo", timeout = 30"#),
            tokens(
                r#"async fn flow(ctx: Ctx) -> Result<(), Error> {
                    ctx.run("a", async || Ok::<_, StepError>(1)).await?;
                    ctx.run("a", async || Ok::<_, StepError>(2)).await?;
                    Ok(())
                }"#,
            ),
        );
        let messages = messages(&expansion);
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(
            messages[0].starts_with("unknown option `nmae`"),
            "{messages:?}"
        );
        assert!(
            messages[1].starts_with("option `timeout` takes a string literal"),
            "{messages:?}"
        );
        assert!(
            messages[2].starts_with("duplicate step name `a`"),
            "{messages:?}"
        );
        assert!(
            messages[3].starts_with("step `a` is first named here"),
            "{messages:?}"
        );
        let text = expansion.to_string();
        assert!(text.starts_with("async fn flow"), "{text}");
        assert!(!text.contains("impl :: durable :: Workflow"), "{text}");
    }

    #[test]
    fn a_fn_that_does_not_parse_is_reported_and_kept() {
        let expansion = expand(tokens(""), tokens("struct NotAFn;"));
        assert_eq!(messages(&expansion).len(), 1);
        assert!(expansion.to_string().starts_with("struct NotAFn"));
    }

    #[test]
    fn a_valid_workflow_expands_without_errors() {
        let expansion = expand(
            tokens(r#"name = "flow""#),
            tokens(
                r#"async fn flow(ctx: Ctx) -> Result<(), Error> {
                    ctx.run("a", async || Ok::<_, StepError>(1)).await?;
                    Ok(())
                }"#,
            ),
        );
        assert!(messages(&expansion).is_empty());
        assert!(
            expansion
                .to_string()
                .contains("impl :: durable :: __private :: Workflow for Flow")
        );
    }
}
