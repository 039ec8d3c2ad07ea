//! Unit tests of the checks, through the model as the macro builds it.

use syn::parse_quote;

use super::*;
use crate::errors::Errors;
use crate::model::WorkflowModel;

macro_rules! attr {
    ($($tokens:tt)*) => {{
        let tokens: proc_macro2::TokenStream = parse_quote!($($tokens)*);
        tokens
    }};
}

/// The checks' verdict on `function` with the options `attr`: what `then`
/// takes from the valid workflow, or every message reported, parse and
/// check errors together.
fn checked<T>(
    attr: proc_macro2::TokenStream,
    function: syn::ItemFn,
    then: impl FnOnce(&ValidWorkflow<'_>) -> T,
) -> Result<T, Vec<String>> {
    let cx = Errors::new();
    let model = WorkflowModel::parse(&cx, attr, &function);
    let valid = run(&cx, &model).map(|valid| then(&valid));
    match cx.check() {
        Ok(()) => Ok(valid.expect("a workflow when no error was reported")),
        Err(errors) => Err(errors.into_iter().map(|error| error.to_string()).collect()),
    }
}

fn step_names(
    attr: proc_macro2::TokenStream,
    function: syn::ItemFn,
) -> Result<Vec<String>, Vec<String>> {
    checked(attr, function, |valid| {
        valid.steps.iter().map(|step| step.name.clone()).collect()
    })
}

fn errors(attr: proc_macro2::TokenStream, function: syn::ItemFn) -> Vec<String> {
    step_names(attr, function).expect_err("expected errors")
}

#[test]
fn finds_every_step_kind_in_source_order() {
    let steps = step_names(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                ctx.run("a", async || Ok::<_, StepError>(1)).await?;
                ctx.step("b").timeout("30s").run(async || Ok::<_, StepError>(2)).await?;
                ctx.sleep("c", "5m").await?;
                ctx.sleep_until("d", at).await?;
                let _ = ctx.now("e").await?;
                let _ = ctx.uuid("f").await?;
                Ok(())
            }
        },
    )
    .unwrap();
    assert_eq!(steps, ["a", "b", "c", "d", "e", "f"]);
}

#[test]
fn records_literal_options_on_their_step() {
    let function: syn::ItemFn = parse_quote! {
        async fn flow(ctx: Ctx) -> Result<(), Error> {
            ctx.step("b").retry(Retry::none()).timeout("30s").run(async || Ok::<_, StepError>(2)).await?;
            ctx.sleep("c", "5m").await
        }
    };
    let options = checked(attr!(), function, |valid| {
        valid
            .steps
            .iter()
            .map(|step| step.options.clone())
            .collect::<Vec<_>>()
    })
    .unwrap();
    assert_eq!(options[0], [("timeout", "30s".to_string())]);
    assert_eq!(options[1], [("duration", "5m".to_string())]);
}

#[test]
fn reports_a_duplicate_at_both_places() {
    let errors = errors(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                ctx.run("a", async || Ok::<_, StepError>(1)).await?;
                ctx.sleep("a", "1s").await
            }
        },
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("duplicate step name `a`"));
    assert!(errors[1].contains("first named here"));
}

#[test]
fn rejects_literal_names_in_loops_and_closures_but_accepts_keys() {
    let errors = errors(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx, items: Vec<u32>) -> Result<(), Error> {
                for item in items.clone() { ctx.run("each", async || Ok::<_, StepError>(item)).await?; }
                for item in items.clone() { ctx.run(("keyed", item), async || Ok::<_, StepError>(item)).await?; }
                items.iter().for_each(|i| { let _ = ctx.now("in-closure"); });
                while false { ctx.sleep("w", "1s").await?; }
                Ok(())
            }
        },
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.iter().all(|e| e.contains("keyed form")));
}

#[test]
fn reports_every_shape_error_in_one_pass() {
    let errors = errors(
        attr!(name = "has space", timeout = "1 day"),
        parse_quote! {
            fn flow<T>(&self, ctx: Ctx, input: &str) -> u32 { 0 }
        },
    );
    let joined = errors.join("\n");
    for expected in [
        "must be an `async fn`",
        "cannot be generic",
        "not a method",
        "must be owned",
        "returns `Result",
        "without spaces",
        "invalid duration \"1 day\"",
    ] {
        assert!(
            joined.contains(expected),
            "missing {expected:?} in:\n{joined}"
        );
    }
}

#[test]
fn requires_the_context_first() {
    let missing = errors(
        attr!(),
        parse_quote! { async fn flow() -> Result<(), Error> { Ok(()) } },
    );
    assert!(
        missing[0].contains("takes its context first"),
        "{missing:?}"
    );
    let wrong = errors(
        attr!(),
        parse_quote! { async fn flow(id: u32) -> Result<(), Error> { Ok(()) } },
    );
    assert!(wrong[0].contains("write `ctx: Ctx` first"), "{wrong:?}");
}

#[test]
fn branch_bodies_are_scopes_of_their_own() {
    let function: syn::ItemFn = parse_quote! {
        async fn flow(ctx: Ctx, ids: Vec<u32>) -> Result<(), Error> {
            ctx.run("charge", async || Ok::<_, StepError>(1)).await?;
            ctx.map("all", ids, FanOut::new(), async |ctx, id| {
                ctx.run("charge", async || Ok::<_, StepError>(id)).await?;
                ctx.sleep("pause", "1s").await
            }).await?;
            ctx.parallel("both", FanOut::new(), vec![
                branch(async |c: Ctx| c.run("charge", async || Ok::<_, StepError>(1)).await),
                branch(async |c: Ctx| c.run("charge", async || Ok::<_, StepError>(2)).await),
            ]).await?;
            Ok(())
        }
    };
    let steps = checked(attr!(), function, |valid| {
        valid
            .steps
            .iter()
            .map(|s| (s.name.clone(), s.parent.clone()))
            .collect::<Vec<_>>()
    })
    .unwrap();
    let steps: Vec<_> = steps
        .iter()
        .map(|(name, parent)| (name.as_str(), parent.as_deref()))
        .collect();
    assert_eq!(
        steps,
        [
            ("charge", None),
            ("all", None),
            ("charge", Some("all")),
            ("pause", Some("all")),
            ("both", None),
            ("charge", Some("both")),
            ("charge", Some("both")),
        ]
    );
}

#[test]
fn loops_and_duplicates_inside_a_branch_are_still_caught() {
    let errors = errors(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx, ids: Vec<u32>) -> Result<(), Error> {
                ctx.map("all", ids, FanOut::new(), async |ctx, id| {
                    for i in 0..id { ctx.run("inner", async || Ok::<_, StepError>(i)).await?; }
                    ctx.run("twice", async || Ok::<_, StepError>(1)).await?;
                    ctx.run("twice", async || Ok::<_, StepError>(2)).await
                }).await?;
                Ok(())
            }
        },
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("keyed form"));
    assert!(errors[1].contains("duplicate step name `twice`"));
}

#[test]
fn rejects_unknown_and_repeated_options() {
    let errors = errors(
        attr!(nmae = "x", timeout = "1s", timeout = "2s"),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> { Ok(()) }
        },
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("unknown option `nmae`"), "{errors:?}");
    assert!(errors[1].contains("given twice"), "{errors:?}");
}

#[test]
fn checks_durations_in_sleeps_timeouts_and_retries() {
    let errors = errors(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                ctx.sleep("a", "5x").await?;
                ctx.step("b").retry(Retry::exponential(3, "1sec").max_delay("1y")).timeout("soon").run(async || Ok::<_, StepError>(1)).await?;
                Ok(())
            }
        },
    );
    assert_eq!(errors.len(), 4, "{errors:?}");
}

#[test]
fn rejects_computed_step_names() {
    let errors = errors(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx, name: String) -> Result<(), Error> {
                ctx.run(name.as_str(), async || Ok::<_, StepError>(1)).await?;
                Ok(())
            }
        },
    );
    assert!(errors[0].contains("must be a string literal"), "{errors:?}");
}

#[test]
fn names_default_to_kebab_case_and_types_to_upper_camel() {
    let function: syn::ItemFn = parse_quote! {
        async fn order_fulfillment(ctx: Ctx, a: u32, b: String) -> Result<(), Error> { Ok(()) }
    };
    let (name, type_ident, timeout_ms, fields) =
        checked(attr!(timeout = "1h30m"), function, |valid| {
            let fields = match &valid.input {
                Input::Struct(fields) => fields.len(),
                _ => 0,
            };
            (
                valid.name.clone(),
                valid.type_ident.to_string(),
                valid.timeout_ms,
                fields,
            )
        })
        .unwrap();
    assert_eq!(name, "order-fulfillment");
    assert_eq!(type_ident, "OrderFulfillment");
    assert_eq!(timeout_ms, Some(5_400_000));
    assert_eq!(fields, 2);
}

#[test]
fn flags_nondeterministic_calls_in_workflow_code_only() {
    let errors = errors(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                let started = SystemTime::now();
                let id = uuid::Uuid::new_v4();
                let roll: u8 = rand::random();
                tokio::time::sleep(Duration::from_secs(1)).await;
                tokio::spawn(async {});
                let home = std::env::var("HOME");
                ctx.map("all", ids, FanOut::new(), async |ctx, id| {
                    let at = chrono::Utc::now();
                    ctx.run("inside", async || Ok::<_, StepError>(Instant::now().elapsed().as_millis() as u64)).await
                }).await?;
                ctx.step("timed").run(async || Ok::<_, StepError>(fastrand::u32(..))).await?;
                Ok(())
            }
        },
    );
    let paths: Vec<&str> = errors
        .iter()
        .map(|error| error.split('`').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        paths,
        [
            "SystemTime::now",
            "uuid::Uuid::new_v4",
            "rand::random",
            "tokio::time::sleep",
            "tokio::spawn",
            "std::env::var",
            "chrono::Utc::now",
        ],
        "{errors:?}"
    );
    assert!(errors[0].contains("ctx.now(\"name\")"), "{errors:?}");
    assert!(errors[1].contains("ctx.uuid(\"name\")"), "{errors:?}");
    assert!(
        errors[3].contains("ctx.sleep(\"name\", \"5m\")"),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .all(|error| error.contains("#[durable::allow_nondeterministic]")),
        "{errors:?}"
    );
}

#[test]
fn a_marked_statement_may_call_the_clock_and_loses_its_mark() {
    let function: syn::ItemFn = parse_quote! {
        async fn flow(ctx: Ctx) -> Result<(), Error> {
            #[durable::allow_nondeterministic]
            let started = std::time::Instant::now();
            #[durable::allow_nondeterministic]
            tokio::time::sleep(Duration::from_millis(started.elapsed().as_millis() as u64)).await;
            Ok(())
        }
    };
    let emitted = checked(attr!(), function, |valid| {
        quote::ToTokens::to_token_stream(valid.function).to_string()
    })
    .unwrap();
    assert!(!emitted.contains("allow_nondeterministic"), "{emitted}");
    // Only its own statement is marked.
    let errors = errors(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                #[durable::allow_nondeterministic]
                let started = std::time::Instant::now();
                let again = std::time::Instant::now();
                Ok(())
            }
        },
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn the_arms_of_one_if_or_match_may_share_a_step_name() {
    let steps = step_names(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx, express: bool, tier: u8) -> Result<(), Error> {
                if express {
                    ctx.run("ship", async || Ok::<_, StepError>(1)).await?;
                } else if tier > 1 {
                    ctx.run("ship", async || Ok::<_, StepError>(2)).await?;
                } else {
                    ctx.sleep("ship", "1s").await?;
                }
                match tier {
                    0 => ctx.run("notify", async || Ok::<_, StepError>(0)).await?,
                    1 => { if express { ctx.run("notify", async || Ok::<_, StepError>(1)).await? } else { 2 } }
                    _ => ctx.run("notify", async || Ok::<_, StepError>(3)).await?,
                };
                Ok(())
            }
        },
    )
    .unwrap();
    assert_eq!(
        steps,
        ["ship", "ship", "ship", "notify", "notify", "notify"]
    );
}

#[test]
fn a_name_reused_outside_the_arms_is_still_a_duplicate() {
    for function in [
        // In a branch and after the `if`.
        parse_quote! {
            async fn flow(ctx: Ctx, express: bool) -> Result<(), Error> {
                if express { ctx.run("ship", async || Ok::<_, StepError>(1)).await?; }
                ctx.run("ship", async || Ok::<_, StepError>(2)).await?;
                Ok(())
            }
        },
        // Twice in one arm.
        parse_quote! {
            async fn flow(ctx: Ctx, express: bool) -> Result<(), Error> {
                if express {
                    ctx.run("ship", async || Ok::<_, StepError>(1)).await?;
                    ctx.run("ship", async || Ok::<_, StepError>(2)).await?;
                }
                Ok(())
            }
        },
        // In two `if`s one after the other: both may run.
        parse_quote! {
            async fn flow(ctx: Ctx, a: bool, b: bool) -> Result<(), Error> {
                if a { ctx.run("ship", async || Ok::<_, StepError>(1)).await?; }
                if b { ctx.run("ship", async || Ok::<_, StepError>(2)).await?; }
                Ok(())
            }
        },
        // In the condition and in a branch.
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                if ctx.run("check", async || Ok::<_, StepError>(true)).await? {
                    ctx.run("check", async || Ok::<_, StepError>(false)).await?;
                }
                Ok(())
            }
        },
        // In a guard, which runs before a later arm is taken.
        parse_quote! {
            async fn flow(ctx: Ctx, n: u8) -> Result<(), Error> {
                match n {
                    0 if ctx.run("probe", async || Ok::<_, StepError>(true)).await? => {}
                    _ => { ctx.run("probe", async || Ok::<_, StepError>(false)).await?; }
                }
                Ok(())
            }
        },
    ] {
        let errors = errors(attr!(), function);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("duplicate step name"), "{errors:?}");
    }
}

#[test]
fn rejects_borrowed_step_outputs_where_their_type_is_written() {
    let errors = errors(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                ctx.run("turbofish", async || Ok::<&str, StepError>("a")).await?;
                ctx.run::<&'static [u8], StepError, _, _>("method", async || Ok::<_, StepError>(&b"a"[..])).await?;
                ctx.run("annotated", async || -> Result<Vec<&str>, StepError> { Ok(vec![]) }).await?;
                let _bound: &str = ctx.run("bound", async || Ok::<_, StepError>("a")).await?;
                let _chained: Result<Cow<'_, str>, Error> = ctx.step("chained").run(async || Ok::<_, StepError>("a".into())).await;
                ctx.run("tail", async || { let a = 1; Ok::<&str, StepError>("a") }).await?;
                Ok(())
            }
        },
    );
    assert_eq!(errors.len(), 6, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|error| error.starts_with("step outputs are owned and serializable")),
        "{errors:?}"
    );
    let owned = step_names(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                let _: String = ctx.run("owned", async || Ok::<String, StepError>("a".into())).await?;
                let _: Cow<'static, str> = ctx.run("static", async || Ok::<_, StepError>("a".into())).await?;
                let _: &str = other.get("not a step").await?;
                Ok(())
            }
        },
    );
    assert_eq!(owned.unwrap(), ["owned", "static"]);
}

#[test]
fn rejects_sleeps_and_step_timeouts_longer_than_the_workflow() {
    let errors = errors(
        attr!(timeout = "1h"),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                ctx.sleep("exact", "60m").await?;
                ctx.sleep("long", "2h").await?;
                ctx.step("slow").timeout("90m").run(async || Ok::<_, StepError>(1)).await?;
                ctx.step("quick").timeout("5m").run(async || Ok::<_, StepError>(1)).await?;
                Ok(())
            }
        },
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0]
            .starts_with("this sleep of \"2h\" is longer than the workflow's `timeout = \"1h\"`"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("this timeout of \"90m\" is longer"),
        "{errors:?}"
    );
    // Without a workflow timeout any sleep fits.
    let steps = step_names(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                ctx.sleep("long", "365d").await?;
                Ok(())
            }
        },
    );
    assert_eq!(steps.unwrap(), ["long"]);
}

#[test]
fn typed_event_steps_carry_their_event_type_once_each() {
    let found = checked(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                let _ = ctx.wait_for::<Scanned>("scan").timeout("1h").await?;
                ctx.publish("tell", Scanned { id: 1 }).await?;
                ctx.publish::<Paid>("paid", paid).await?;
                ctx.publish("untyped", value).await?;
                Ok(())
            }
        },
        |valid| {
            let steps: Vec<(String, StepKind, Option<String>, Vec<&'static str>)> = valid
                .steps
                .iter()
                .map(|step| {
                    let ty = step
                        .event_type
                        .as_ref()
                        .map(|(_, ty)| quote::ToTokens::to_token_stream(ty).to_string());
                    let keys = step.options.iter().map(|(key, _)| *key).collect();
                    (step.name.clone(), step.kind, ty, keys)
                })
                .collect();
            let events: Vec<String> = valid
                .events
                .iter()
                .map(|ty| quote::ToTokens::to_token_stream(ty).to_string())
                .collect();
            (steps, events)
        },
    )
    .unwrap();
    assert_eq!(
        found.0,
        [
            (
                "scan".to_owned(),
                StepKind::WaitForEvent,
                Some("Scanned".to_owned()),
                vec!["timeout"]
            ),
            (
                "tell".to_owned(),
                StepKind::SendEvent,
                Some("Scanned".to_owned()),
                vec![]
            ),
            (
                "paid".to_owned(),
                StepKind::SendEvent,
                Some("Paid".to_owned()),
                vec![]
            ),
            ("untyped".to_owned(), StepKind::SendEvent, None, vec![]),
        ]
    );
    assert_eq!(found.1, ["Scanned", "Paid"]);
}

#[test]
fn a_typed_wait_must_name_its_event_type() {
    let messages = errors(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                let _: Option<Scanned> = ctx.wait_for("scan").await?;
                Ok(())
            }
        },
    );
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with("write the event type of this wait"),
        "{messages:?}"
    );
}

#[test]
fn a_step_body_ending_in_a_bare_ok_is_told_to_name_its_error_or_compute() {
    let errors = errors(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                ctx.run("closure", async || Ok(1)).await?;
                ctx.run("block", async || { let n = load().await?; Ok(n) }).await?;
                ctx.run("async-block", || async move { Ok(2) }).await?;
                ctx.step("built").timeout("1s").run(async || Ok(3)).await?;
                ctx.step("undone").compensate(|n: u32| async move { Ok(()) }).run(async || Ok::<_, StepError>(4)).await?;
                Ok(())
            }
        },
    );
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(
        errors[..4]
            .iter()
            .all(|error| error.contains("write `ctx.compute(name, async || value)`")),
        "{errors:?}"
    );
    assert!(
        errors[4].starts_with("this compensation ends in `Ok(..)`"),
        "{errors:?}"
    );
    // Whatever may name the error type is trusted, and `compute` takes the value itself.
    let named = step_names(
        attr!(),
        parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> {
                ctx.run("turbofish", async || Ok::<_, StepError>(1)).await?;
                ctx.run::<u32, StepError, _, _>("method", async || Ok(1)).await?;
                ctx.run("annotated", async || -> Result<u32, StepError> { Ok(1) }).await?;
                ctx.run("returns", async || { if a { return Err(StepError::permanent("no")); } Ok(1) }).await?;
                ctx.run("errs", async || { check().map_err(|e| Err(e))?; Ok(1) }).await?;
                ctx.run("macro", async || { ensure!(a); Ok(1) }).await?;
                ctx.run("delegated", async || load().await).await?;
                ctx.compute("computed", async || 1).await?;
                Ok(())
            }
        },
    );
    assert_eq!(
        named.unwrap(),
        [
            "turbofish",
            "method",
            "annotated",
            "returns",
            "errs",
            "macro",
            "delegated",
            "computed"
        ]
    );
}
