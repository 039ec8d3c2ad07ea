//! The tracing spans and events a run emits, with their names and fields,
//! seen by a subscriber as `tracing-opentelemetry` would see them. Its own
//! test binary: the subscriber is global, since runs execute on the
//! runtime's worker threads.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use durable::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span or an event as the subscriber saw it: its name and its fields,
/// as text (a span's as recorded by the time it closed).
#[derive(Debug, Clone)]
struct Seen {
    name: &'static str,
    fields: BTreeMap<String, String>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Keeps every `durable` span (when it closes) and event.
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<Seen>>>,
    events: Arc<Mutex<Vec<Seen>>>,
}

impl<S> tracing_subscriber::Layer<S> for Recorder
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == "durable" {
            let mut fields = Fields::default();
            event.record(&mut fields);
            self.events.lock().unwrap().push(Seen {
                name: event.metadata().name(),
                fields: fields.0,
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && span.metadata().target() == "durable"
        {
            let fields = span
                .extensions_mut()
                .remove::<Fields>()
                .map(|fields| fields.0)
                .unwrap_or_default();
            self.spans.lock().unwrap().push(Seen {
                name: span.metadata().name(),
                fields,
            });
        }
    }
}

#[workflow(name = "traced")]
async fn traced(ctx: Ctx) -> Result<u32, Error> {
    ctx.step("flaky")
        .retry(Retry::fixed(2, "10ms"))
        .run_with_attempt(async |attempt| {
            if attempt == 1 {
                return Err(StepError::retryable("not yet"));
            }
            Ok(attempt)
        })
        .await?;
    ctx.sleep("nap", "300ms").await?;
    ctx.run("after", async || Ok::<_, StepError>(7u32)).await
}

#[workflow(name = "traced-saga")]
async fn traced_saga(ctx: Ctx) -> Result<(), Error> {
    ctx.step("charge")
        .compensate(|_: u32| async { Ok::<_, StepError>(()) })
        .run(async || Ok::<_, StepError>(5u32))
        .await?;
    ctx.run("ship", async || {
        Err::<(), _>(StepError::permanent("no courier"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_step_attempts_are_spans_with_their_outcomes() -> anyhow::Result<()> {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(recorder.clone()))?;
    let engine = Engine::builder()
        .sqlite_memory()
        .keep_in_memory_below("50ms")
        .register(Traced)
        .register(TracedSaga)
        .start()
        .await?;
    let run = Traced::trigger(&engine).await?;
    assert_eq!(run.result().await?, 7);
    let saga = TracedSaga::trigger(&engine).await?;
    assert!(saga.result().await.is_err());
    engine.shutdown().await;

    // A run's span closes when its task returns, a moment after the task
    // hands its result over (and the recorder sees a span when it closes):
    // wait for both runs' last spans, boundedly, rather than race them.
    let ended = |id: String| {
        let spans = recorder.spans.clone();
        move || {
            spans.lock().unwrap().iter().any(|span| {
                span.name == "durable.run"
                    && span.field("run_id") == Some(&id)
                    && matches!(span.field("outcome"), Some("completed" | "failed"))
            })
        }
    };
    let (run_ended, saga_ended) = (ended(run.id().to_string()), ended(saga.id().to_string()));
    for _ in 0..500 {
        if run_ended() && saga_ended() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let spans = recorder.spans.lock().unwrap().clone();
    let events = recorder.events.lock().unwrap().clone();
    let run_id = run.id().to_string();
    let executions: Vec<&Seen> = spans
        .iter()
        .filter(|span| span.name == "durable.run" && span.field("run_id") == Some(&run_id))
        .collect();
    // The sleep suspends the first execution; the second replays and ends.
    let outcomes: Vec<(Option<&str>, Option<&str>)> = executions
        .iter()
        .map(|span| (span.field("execution"), span.field("outcome")))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Some("1"), Some("suspended")),
            (Some("2"), Some("completed"))
        ],
        "{spans:#?}"
    );
    assert!(
        executions
            .iter()
            .all(|span| span.field("workflow") == Some("traced"))
    );

    let attempts: Vec<(Option<&str>, Option<&str>, Option<&str>)> = spans
        .iter()
        .filter(|span| span.name == "durable.step")
        .map(|span| {
            (
                span.field("step"),
                span.field("attempt"),
                span.field("outcome"),
            )
        })
        .collect();
    for expected in [
        (Some("flaky"), Some("1"), Some("retrying")),
        (Some("flaky"), Some("2"), Some("completed")),
        (Some("after"), Some("1"), Some("completed")),
        (Some("charge"), Some("1"), Some("completed")),
        (Some("ship"), Some("1"), Some("failed")),
        (Some("compensate/charge"), Some("1"), Some("completed")),
    ] {
        assert!(
            attempts.contains(&expected),
            "no step span {expected:?} in {attempts:?}"
        );
    }
    // Replayed steps run no attempt: `flaky` ran twice, not three times.
    let flaky = attempts
        .iter()
        .filter(|(step, ..)| *step == Some("flaky"))
        .count();
    assert_eq!(flaky, 2, "{attempts:?}");
    assert!(
        spans
            .iter()
            .filter(|span| span.name == "durable.step")
            .all(|span| span.field("kind") == Some("run"))
    );
    let saga_id = saga.id().to_string();
    assert!(spans.iter().any(|span| span.name == "durable.run"
        && span.field("run_id") == Some(&saga_id)
        && span.field("outcome") == Some("failed")));

    let event = |name: &str, field: &str, value: &str| {
        events
            .iter()
            .any(|event| event.name == name && event.field(field) == Some(value))
    };
    assert!(event("durable.retry", "step", "flaky"), "{events:#?}");
    assert!(event("durable.retry", "error", "not yet"), "{events:#?}");
    assert!(
        events
            .iter()
            .any(|event| event.name == "durable.suspend" && event.field("ready_at").is_some())
    );
    // The second execution replays `flaky` and `nap`.
    assert!(
        event("durable.resume", "replayed_steps", "2"),
        "{events:#?}"
    );
    assert!(event("durable.compensate", "step", "charge"), "{events:#?}");
    Ok(())
}
