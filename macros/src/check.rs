//! Stage two: validate the model. Every problem becomes a spanned error that
//! says what to write instead; all of them are reported together.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Ident, LitStr};

use crate::model::{StepKind, StepNameArg, WorkflowModel};

/// A workflow that passed every check, ready for generation.
pub(crate) struct ValidWorkflow<'m> {
    pub(crate) function: &'m syn::ItemFn,
    /// The workflow's name (`Workflow::NAME`).
    pub(crate) name: String,
    /// The generated type, e.g. `OrderFulfillment`.
    pub(crate) type_ident: Ident,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) input: Input<'m>,
    pub(crate) return_type: &'m syn::Type,
    pub(crate) steps: Vec<ValidStep>,
    /// The on-failure hook's path.
    pub(crate) on_failure: Option<&'m syn::Path>,
    /// The cron expression, its time zone, and the overlap policy's variant.
    pub(crate) cron: Option<(String, String, &'static str)>,
}

/// How the parameters after `ctx` become the workflow's input.
pub(crate) enum Input<'m> {
    /// No parameter: the input is `()`.
    Unit,
    /// One parameter: the input is its type.
    Single(Ident, &'m syn::Type),
    /// Several: a generated struct with one field each.
    Struct(Vec<(Ident, &'m syn::Type)>),
}

/// A step of the manifest.
pub(crate) struct ValidStep {
    pub(crate) name: String,
    pub(crate) keyed: bool,
    pub(crate) kind: StepKind,
    pub(crate) span: Span,
    pub(crate) options: Vec<(&'static str, String)>,
    /// The fan-out whose branches the step is in.
    pub(crate) parent: Option<String>,
}

pub(crate) fn check(model: &WorkflowModel) -> Result<ValidWorkflow<'_>, Vec<syn::Error>> {
    let mut errors = Vec::new();
    let sig = &model.function.sig;
    let error = |errors: &mut Vec<syn::Error>, span: Span, message: String| {
        errors.push(syn::Error::new(span, message));
    };

    if sig.asyncness.is_none() {
        error(
            &mut errors,
            sig.fn_token.span(),
            "a workflow must be an `async fn`; write `async fn`".into(),
        );
    }
    if let Some(constness) = &sig.constness {
        error(
            &mut errors,
            constness.span(),
            "a workflow cannot be a `const fn`; remove `const`".into(),
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        error(
            &mut errors,
            unsafety.span(),
            "a workflow cannot be `unsafe`; remove `unsafe`".into(),
        );
    }
    if let Some(abi) = &sig.abi {
        error(
            &mut errors,
            abi.span(),
            "a workflow cannot have an ABI; remove `extern`".into(),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let span = match sig.generics.params.first() {
            Some(param) => param.span(),
            None => sig.generics.where_clause.span(),
        };
        error(
            &mut errors,
            span,
            "a workflow cannot be generic: its input and output are stored, so they must be concrete types; remove the generic parameters".into(),
        );
    }
    for receiver in &model.receivers {
        error(
            &mut errors,
            *receiver,
            "a workflow is a free function, not a method; remove `self` and take `ctx: Ctx` first"
                .into(),
        );
    }
    match &model.ctx {
        None => error(
            &mut errors,
            sig.paren_token.span.join(),
            "a workflow takes its context first: write `(ctx: Ctx, ...)`".into(),
        ),
        Some((pat, ty)) => {
            if !is_named(ty, "Ctx") {
                error(
                    &mut errors,
                    ty.span(),
                    "the first parameter of a workflow is its context: write `ctx: Ctx` first"
                        .into(),
                );
            } else if !matches!(pat, syn::Pat::Ident(_)) {
                error(
                    &mut errors,
                    pat.span(),
                    "bind the context to a name: write `ctx: Ctx`".into(),
                );
            }
        }
    }
    let mut fields = Vec::new();
    for (index, param) in model.params.iter().enumerate() {
        if let Some(span) = borrowed_or_generic(&param.ty) {
            error(
                &mut errors,
                span,
                "workflow parameters are stored as JSON, so they must be owned, concrete types: write `String` for `&str`, `Vec<T>` for `&[T]`".into(),
            );
        }
        match &param.pat {
            syn::Pat::Ident(ident) if ident.by_ref.is_none() => {
                fields.push((ident.ident.clone(), &param.ty))
            }
            _ if model.params.len() == 1 => {
                fields.push((Ident::new("input", param.pat.span()), &param.ty))
            }
            other => {
                error(
                    &mut errors,
                    other.span(),
                    format!(
                        "with several parameters each becomes a field of the input struct: name parameter {} with a plain identifier",
                        index + 2
                    ),
                );
            }
        }
    }
    let return_type = match &sig.output {
        syn::ReturnType::Type(_, ty) if is_named(ty, "Result") => Some(&**ty),
        syn::ReturnType::Type(_, ty) => {
            error(
                &mut errors,
                ty.span(),
                "a workflow returns `Result<Output, Error>` so that failures are recorded; wrap the output in `Result`".into(),
            );
            None
        }
        syn::ReturnType::Default => {
            error(
                &mut errors,
                sig.paren_token.span.close(),
                "a workflow returns `Result<Output, Error>`; add `-> Result<(), durable::Error>`"
                    .into(),
            );
            None
        }
    };

    let fn_name = sig.ident.to_string();
    let name = match &model.options.name {
        Some(literal) => {
            let value = literal.value();
            if value.is_empty() || value.len() > 200 || value.chars().any(char::is_whitespace) {
                error(
                    &mut errors,
                    literal.span(),
                    "a workflow name is 1 to 200 characters without spaces, e.g. `name = \"order-fulfillment\"`".into(),
                );
            }
            value
        }
        None => fn_name.trim_start_matches("r#").replace('_', "-"),
    };
    let cron = check_cron(model, &mut errors);
    let timeout_ms = model.options.timeout.as_ref().and_then(|literal| {
        duration_ms(literal, "workflow timeout")
            .map_err(|e| errors.push(e))
            .ok()
    });
    for (what, literal) in &model.durations {
        if let Err(e) = duration_ms(literal, what) {
            errors.push(e);
        }
    }

    let mut steps = Vec::new();
    let mut first_use: HashMap<(Option<usize>, String), Span> = HashMap::new();
    for call in &model.steps {
        let (literal, keyed) = match &call.name {
            StepNameArg::Literal(literal) => (literal, false),
            StepNameArg::Keyed(literal) => (literal, true),
            StepNameArg::Other(span) => {
                error(
                    &mut errors,
                    *span,
                    "a step name must be a string literal so the macro can check it is unique: write `\"name\"`, or `(\"name\", key)` for a step in a loop".into(),
                );
                continue;
            }
            StepNameArg::Missing(span) => {
                error(
                    &mut errors,
                    *span,
                    "this step needs a name: write `(\"name\", ...)`".into(),
                );
                continue;
            }
        };
        let step_name = literal.value();
        if step_name.is_empty() || step_name.contains('/') {
            error(
                &mut errors,
                literal.span(),
                "a step name is not empty and has no `/` (it separates a fan-out branch from its steps); write e.g. \"charge-card\"".into(),
            );
        }
        if call.repeated && !keyed {
            error(
                &mut errors,
                literal.span(),
                format!(
                    "step `{step_name}` is inside a loop or closure, so every iteration would reuse its name; use the keyed form `(\"{step_name}\", key)` with a key unique per iteration"
                ),
            );
        }
        let scope_key = (call.scope.as_ref().map(|(_, id)| *id), step_name.clone());
        match first_use.get(&scope_key) {
            Some(first) => {
                error(
                    &mut errors,
                    literal.span(),
                    format!(
                        "duplicate step name `{step_name}`: each step of a workflow needs its own name"
                    ),
                );
                error(
                    &mut errors,
                    *first,
                    format!("step `{step_name}` is first named here; rename one of the two"),
                );
            }
            None => {
                first_use.insert(scope_key, literal.span());
            }
        }
        steps.push(ValidStep {
            name: step_name,
            keyed,
            kind: call.kind,
            span: call.span,
            options: call
                .options
                .iter()
                .map(|(key, value)| (*key, value.value()))
                .collect(),
            parent: call
                .scope
                .as_ref()
                .map(|(fan_out, _)| fan_out.clone())
                .filter(|fan_out| !fan_out.is_empty()),
        });
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let Some(return_type) = return_type else {
        return Err(errors);
    };
    let input = match fields.len() {
        0 => Input::Unit,
        1 => {
            let (ident, ty) = fields.remove(0);
            Input::Single(ident, ty)
        }
        _ => Input::Struct(fields),
    };
    Ok(ValidWorkflow {
        function: &model.function,
        name,
        type_ident: Ident::new(&upper_camel(&fn_name), sig.ident.span()),
        timeout_ms,
        input,
        return_type,
        steps,
        on_failure: model.options.on_failure.as_ref(),
        cron,
    })
}

/// Checks the cron options: a valid expression, a policy the runtime knows,
/// no time zone or policy without an expression, and no parameters (a cron
/// run has no input).
fn check_cron(
    model: &WorkflowModel,
    errors: &mut Vec<syn::Error>,
) -> Option<(String, String, &'static str)> {
    let options = &model.options;
    let overlap = match options.overlap.as_ref().map(LitStr::value).as_deref() {
        None | Some("skip") => "Skip",
        Some("allow") => "Allow",
        Some("cancel_previous") => "CancelPrevious",
        Some(other) => {
            errors.push(syn::Error::new(
                options.overlap.as_ref().map_or_else(Span::call_site, LitStr::span),
                format!("unknown overlap policy {other:?}; write \"skip\", \"allow\" or \"cancel_previous\""),
            ));
            "Skip"
        }
    };
    let Some(expression) = &options.cron else {
        for (literal, option) in [
            (&options.timezone, "timezone"),
            (&options.overlap, "overlap"),
        ] {
            if let Some(literal) = literal {
                errors.push(syn::Error::new(
                    literal.span(),
                    format!(
                        "`{option}` applies to cron workflows: add `cron = \"...\"` or remove it"
                    ),
                ));
            }
        }
        return None;
    };
    if let Err(error) = expression
        .value()
        .parse::<durable_grammar::cron::Schedule>()
    {
        errors.push(syn::Error::new(expression.span(), error.to_string()));
    }
    if let Some(first) = model.params.first() {
        errors.push(syn::Error::new(
            first.pat.span(),
            "a cron workflow is started by the schedule, with no input: remove the parameters after `ctx`",
        ));
    }
    let zone = options
        .timezone
        .as_ref()
        .map_or_else(|| "UTC".to_owned(), LitStr::value);
    Some((expression.value(), zone, overlap))
}

/// Whether `ty` is a path whose last segment is `name` (`Ctx`,
/// `durable::Ctx`, `Result<..>`, `anyhow::Result<..>`).
fn is_named(ty: &syn::Type, name: &str) -> bool {
    match ty {
        syn::Type::Path(path) => {
            path.qself.is_none() && path.path.segments.last().is_some_and(|s| s.ident == name)
        }
        syn::Type::Group(group) => is_named(&group.elem, name),
        syn::Type::Paren(paren) => is_named(&paren.elem, name),
        _ => false,
    }
}

/// The span of a reference or `impl Trait` inside a parameter type.
fn borrowed_or_generic(ty: &syn::Type) -> Option<Span> {
    match ty {
        syn::Type::Reference(reference) => Some(reference.span()),
        syn::Type::ImplTrait(bound) => Some(bound.span()),
        syn::Type::Paren(paren) => borrowed_or_generic(&paren.elem),
        syn::Type::Group(group) => borrowed_or_generic(&group.elem),
        _ => None,
    }
}

fn duration_ms(literal: &LitStr, what: &str) -> Result<u64, syn::Error> {
    durable_grammar::parse_duration(&literal.value())
        .map(|duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
        .map_err(|error| syn::Error::new(literal.span(), format!("{what}: {error}")))
}

/// `order_fulfillment` -> `OrderFulfillment`.
fn upper_camel(snake: &str) -> String {
    snake
        .trim_start_matches("r#")
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    macro_rules! attr {
        ($($tokens:tt)*) => {{
            let tokens: proc_macro2::TokenStream = parse_quote!($($tokens)*);
            tokens
        }};
    }

    fn run(
        attr: proc_macro2::TokenStream,
        function: syn::ItemFn,
    ) -> Result<Vec<String>, Vec<String>> {
        let (model, parse_errors) = WorkflowModel::parse(attr, &function);
        if !parse_errors.is_empty() {
            return Err(parse_errors.iter().map(ToString::to_string).collect());
        }
        check(&model)
            .map(|valid| valid.steps.iter().map(|step| step.name.clone()).collect())
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    fn errors(attr: proc_macro2::TokenStream, function: syn::ItemFn) -> Vec<String> {
        run(attr, function).expect_err("expected errors")
    }

    #[test]
    fn finds_every_step_kind_in_source_order() {
        let steps = run(
            attr!(),
            parse_quote! {
                async fn flow(ctx: Ctx) -> Result<(), Error> {
                    ctx.run("a", async || Ok(1)).await?;
                    ctx.step("b").timeout("30s").run(async || Ok(2)).await?;
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
                ctx.step("b").retry(Retry::none()).timeout("30s").run(async || Ok(2)).await?;
                ctx.sleep("c", "5m").await
            }
        };
        let (model, _) = WorkflowModel::parse(attr!(), &function);
        let valid = check(&model).unwrap_or_else(|_| panic!("valid"));
        assert_eq!(valid.steps[0].options, [("timeout", "30s".to_string())]);
        assert_eq!(valid.steps[1].options, [("duration", "5m".to_string())]);
    }

    #[test]
    fn reports_a_duplicate_at_both_places() {
        let errors = errors(
            attr!(),
            parse_quote! {
                async fn flow(ctx: Ctx) -> Result<(), Error> {
                    ctx.run("a", async || Ok(1)).await?;
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
                    for item in items.clone() { ctx.run("each", async || Ok(item)).await?; }
                    for item in items.clone() { ctx.run(("keyed", item), async || Ok(item)).await?; }
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
                ctx.run("charge", async || Ok(1)).await?;
                ctx.map("all", ids, FanOut::new(), async |ctx, id| {
                    ctx.run("charge", async || Ok(id)).await?;
                    ctx.sleep("pause", "1s").await
                }).await?;
                ctx.parallel("both", FanOut::new(), vec![
                    branch(async |c: Ctx| c.run("charge", async || Ok(1)).await),
                    branch(async |c: Ctx| c.run("charge", async || Ok(2)).await),
                ]).await?;
                Ok(())
            }
        };
        let (model, _) = WorkflowModel::parse(attr!(), &function);
        let valid = check(&model).unwrap_or_else(|errors| {
            panic!(
                "{:?}",
                errors.iter().map(ToString::to_string).collect::<Vec<_>>()
            )
        });
        let steps: Vec<_> = valid
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.parent.as_deref()))
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
                        for i in 0..id { ctx.run("inner", async || Ok(i)).await?; }
                        ctx.run("twice", async || Ok(1)).await?;
                        ctx.run("twice", async || Ok(2)).await
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
        let function: syn::ItemFn = parse_quote! {
            async fn flow(ctx: Ctx) -> Result<(), Error> { Ok(()) }
        };
        let (_, errors) =
            WorkflowModel::parse(attr!(nmae = "x", timeout = "1s", timeout = "2s"), &function);
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
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
                    ctx.step("b").retry(Retry::exponential(3, "1sec").max_delay("1y")).timeout("soon").run(async || Ok(1)).await?;
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
                    ctx.run(name.as_str(), async || Ok(1)).await?;
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
        let (model, _) = WorkflowModel::parse(attr!(timeout = "1h30m"), &function);
        let valid = check(&model).unwrap_or_else(|_| panic!("valid"));
        assert_eq!(valid.name, "order-fulfillment");
        assert_eq!(valid.type_ident.to_string(), "OrderFulfillment");
        assert_eq!(valid.timeout_ms, Some(5_400_000));
        assert!(matches!(valid.input, Input::Struct(ref fields) if fields.len() == 2));
    }
}
