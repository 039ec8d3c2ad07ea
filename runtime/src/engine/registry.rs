//! The workflow registry: each registered workflow's body, hook, input
//! check and schema with their types erased, built by generic functions
//! that wrap the executor's run state in the step API's [`Ctx`].

use std::sync::Arc;

use crate::core::cron::Overlap;
use crate::core::json::decode_json;
use crate::ctx::Ctx;
use crate::ctx::saga::OnFailure;
use crate::ctx::workflow::Workflow;
use crate::exec::env::WorkflowSpec;
use crate::exec::executor::Body;
use crate::exec::run_state::RunContext;
use crate::model::sync::BoxFuture;
use crate::model::workflow::{Failure, StepManifest};

/// How a registered workflow is started and checked, with its types erased.
pub(crate) struct Registered {
    /// Its name and timeout.
    pub(crate) spec: WorkflowSpec,
    /// How the executor runs it.
    pub(crate) body: Body,
    /// The cron expression, time zone and overlap policy, for a cron workflow.
    pub(crate) cron: Option<(&'static str, &'static str, Overlap)>,
    /// Checks a JSON input against the input type and returns it as stored.
    pub(crate) validate: fn(serde_json::Value) -> Result<String, String>,
    /// The JSON Schema of the input type.
    pub(crate) schema: fn() -> serde_json::Value,
    /// The JSON Schema of the output type, when it has one.
    pub(crate) output_schema: fn() -> Option<serde_json::Value>,
    /// The steps the macro found in the body, for the catalog.
    pub(crate) steps: &'static [StepManifest],
}

impl Registered {
    /// The registry entry of `W`.
    pub(crate) fn of<W: Workflow>() -> Self {
        Registered {
            spec: WorkflowSpec {
                name: W::NAME,
                timeout_ms: W::TIMEOUT_MS,
            },
            body: Body {
                start: start_erased::<W>,
                unwind: unwind_erased::<W>,
                has_on_failure: W::HAS_ON_FAILURE,
            },
            cron: W::CRON.map(|expression| (expression, W::TIMEZONE, W::OVERLAP)),
            validate: validate_erased::<W>,
            schema: W::input_schema,
            output_schema: W::output_schema,
            steps: W::STEPS,
        }
    }
}

fn start_erased<W: Workflow>(
    run: Arc<RunContext>,
    input: String,
) -> BoxFuture<'static, Result<String, String>> {
    Box::pin(async move {
        let input: W::Input = serde_json::from_str(&input)
            .map_err(|error| format!("the stored input no longer fits the input type: {error}"))?;
        match W::run(Ctx::new(run), input).await {
            Ok(output) => serde_json::to_string(&output)
                .map_err(|error| format!("cannot serialize the workflow output: {error}")),
            Err(error) => Err(error.to_string()),
        }
    })
}

fn unwind_erased<W: Workflow>(run: Arc<RunContext>, message: String) -> BoxFuture<'static, ()> {
    let hook = W::HAS_ON_FAILURE.then_some(on_failure_erased::<W> as OnFailure);
    Box::pin(async move { Ctx::new(run).unwind(&message, hook).await })
}

fn on_failure_erased<W: Workflow>(
    ctx: Ctx,
    failure: Failure,
) -> BoxFuture<'static, Result<(), String>> {
    Box::pin(async move {
        W::on_failure(ctx, failure)
            .await
            .map_err(|error| error.to_string())
    })
}

fn validate_erased<W: Workflow>(input: serde_json::Value) -> Result<String, String> {
    let typed: W::Input = decode_json(&input)?;
    serde_json::to_string(&typed).map_err(|error| error.to_string())
}
