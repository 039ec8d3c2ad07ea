//! Unit tests of the `on_event` option: its two forms, the checks of its
//! pattern and filter, and its refusal beside `cron`.

use syn::parse_quote;

use super::*;
use crate::errors::Errors;
use crate::model::WorkflowModel;

/// The triggers of a workflow with the options `attr`, or every message.
fn triggers(attr: proc_macro2::TokenStream) -> Result<Vec<(String, Option<String>)>, Vec<String>> {
    let function: syn::ItemFn = parse_quote! {
        async fn flow(ctx: Ctx) -> Result<(), Error> { Ok(()) }
    };
    let cx = Errors::new();
    let model = WorkflowModel::parse(&cx, attr, &function);
    let valid = run(&cx, &model).map(|valid| valid.on_event.clone());
    match cx.check() {
        Ok(()) => Ok(valid.expect("a workflow when no error was reported")),
        Err(errors) => Err(errors.into_iter().map(|error| error.to_string()).collect()),
    }
}

fn attr(source: &str) -> proc_macro2::TokenStream {
    source.parse().expect("valid tokens")
}

#[test]
fn both_forms_are_read_in_order_and_filters_are_compacted() {
    let found = triggers(attr(
        r##"on_event = "order.created", on_event(name = "order.*", filter = r#"{ "region" : "eu" }"#)"##,
    ))
    .unwrap();
    assert_eq!(
        found,
        [
            ("order.created".to_owned(), None),
            ("order.*".to_owned(), Some(r#"{"region":"eu"}"#.to_owned())),
        ]
    );
}

#[test]
fn patterns_and_filters_that_do_not_fit_are_refused_saying_what_to_write() {
    let errors = triggers(attr(
        r##"on_event = "order*", on_event(name = "a", filter = "[1]"), on_event(name = "b", filter = "{nope")"##,
    ))
    .unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].starts_with("invalid event pattern \"order*\""),
        "{errors:?}"
    );
    assert!(errors[1].contains("JSON object") && errors[1].ends_with("found an array"));
    assert!(errors[2].contains("it is not JSON"), "{errors:?}");
}

#[test]
fn the_list_form_needs_a_name_and_knows_only_its_keys() {
    let errors = triggers(attr(
        r#"on_event(filter = "{}"), on_event(name = "a", nmae = "b")"#,
    ))
    .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("needs the event's name"), "{errors:?}");
    assert!(errors[1].starts_with("unknown key `nmae`"), "{errors:?}");
    let errors = triggers(attr("on_event = 3")).unwrap_err();
    assert!(errors[0].starts_with("option `on_event` takes an event name"));
}

#[test]
fn a_repeated_trigger_and_a_trigger_beside_cron_are_refused() {
    let errors = triggers(attr(r#"on_event = "a", on_event = "a""#)).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("repeats an earlier one"), "{errors:?}");
    let errors = triggers(attr(r#"cron = "0 9 * * *", on_event = "a""#)).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("a workflow is started by a schedule or by events, not both"));
}
