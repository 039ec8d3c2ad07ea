//! Every name the macro recognises in user code, in one table: the options
//! of `#[workflow(...)]` and their values, the `Ctx` and builder methods that
//! step detection looks for, the types it recognises, and the option keys
//! it writes into the manifest. The kinds of step and their method names are
//! the table of [`StepKind`], shared with the runtime.

use std::fmt;

use durable_grammar::StepKind;

/// A name the macro recognises, compared with identifiers and strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Symbol(&'static str);

impl Symbol {
    /// The name as written in source.
    pub(crate) const fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq<Symbol> for syn::Ident {
    fn eq(&self, symbol: &Symbol) -> bool {
        self == symbol.0
    }
}

impl PartialEq<Symbol> for str {
    fn eq(&self, symbol: &Symbol) -> bool {
        self == symbol.0
    }
}

impl PartialEq<Symbol> for String {
    fn eq(&self, symbol: &Symbol) -> bool {
        self == symbol.0
    }
}

// The options of `#[workflow(...)]`.

/// `name = "..."`: the workflow's stored name.
pub(crate) const NAME: Symbol = Symbol("name");
/// `timeout = "..."` on the attribute; also the builder method
/// `.timeout("30s")` of a step and the manifest key that records it.
pub(crate) const TIMEOUT: Symbol = Symbol("timeout");
/// `on_failure = path::to::hook`.
pub(crate) const ON_FAILURE: Symbol = Symbol("on_failure");
/// `cron = "0 9 * * 1-5"`.
pub(crate) const CRON: Symbol = Symbol("cron");
/// `timezone = "Europe/Berlin"`.
pub(crate) const TIMEZONE: Symbol = Symbol("timezone");
/// `overlap = "skip" | "allow" | "cancel_previous"`.
pub(crate) const OVERLAP: Symbol = Symbol("overlap");

/// `version = 2`: the version runs are pinned to, kept while the steps
/// change behind `ctx.patched`.
pub(crate) const VERSION: Symbol = Symbol("version");

/// `queue = "billing"`: the queue its runs wait in, which only engines
/// serving it claim from.
pub(crate) const QUEUE: Symbol = Symbol("queue");

/// `on_event = "order.created"` or `on_event(name = "order.*", filter =
/// r#"{..}"#)`: an event that starts a run; repeatable.
pub(crate) const ON_EVENT: Symbol = Symbol("on_event");
/// `filter = r#"{"region": "eu"}"#` inside `on_event(..)`.
pub(crate) const FILTER: Symbol = Symbol("filter");
/// The keys of `on_event(..)`, in the order messages list them.
pub(crate) const ON_EVENT_KEYS: [Symbol; 2] = [NAME, FILTER];

/// `concurrency = 2` or `concurrency(limit = 1, key = "customer_id")`: how
/// many runs (of one key value) execute at once, across every engine.
pub(crate) const CONCURRENCY: Symbol = Symbol("concurrency");
/// `limit = 1` inside `concurrency(..)`.
pub(crate) const LIMIT: Symbol = Symbol("limit");
/// `key = "customer.id"` inside `concurrency(..)`: a path of input fields.
pub(crate) const KEY: Symbol = Symbol("key");
/// The keys of `concurrency(..)`, in the order messages list them.
pub(crate) const CONCURRENCY_KEYS: [Symbol; 2] = [LIMIT, KEY];

/// `debounce(period = "5s", key = "user_id", max_wait = "1m")`: triggers of
/// one key within the period join one run, started after the last.
pub(crate) const DEBOUNCE: Symbol = Symbol("debounce");
/// `throttle(limit = 10, period = "1m", key = "user_id")`: at most `limit`
/// starts of one key per period.
pub(crate) const THROTTLE: Symbol = Symbol("throttle");
/// `period = "5s"` inside `debounce(..)` and `throttle(..)`.
pub(crate) const PERIOD: Symbol = Symbol("period");
/// `max_wait = "1m"` inside `debounce(..)`.
pub(crate) const MAX_WAIT: Symbol = Symbol("max_wait");
/// The keys of `debounce(..)`, in the order messages list them.
pub(crate) const DEBOUNCE_KEYS: [Symbol; 3] = [PERIOD, KEY, MAX_WAIT];
/// The keys of `throttle(..)`, in the order messages list them.
pub(crate) const THROTTLE_KEYS: [Symbol; 3] = [LIMIT, PERIOD, KEY];

/// Every option of `#[workflow(...)]`, in the order messages list them.
/// `cancel_on(event = "order.cancelled", match = "order_id")`: an event
/// that cancels the workflow's unfinished runs; repeatable.
pub(crate) const CANCEL_ON: Symbol = Symbol("cancel_on");
/// `match = "order_id"` inside `cancel_on(..)`: a path of input fields
/// compared with the event data's.
pub(crate) const MATCH: Symbol = Symbol("match");
/// The keys of `cancel_on(..)`, in the order messages list them (`event`
/// is [`EVENT`]).
pub(crate) const CANCEL_ON_KEYS: [Symbol; 2] = [EVENT, MATCH];

/// Every option of `#[workflow(...)]`, in the order messages list them.
pub(crate) const OPTIONS: [Symbol; 13] = [
    NAME,
    TIMEOUT,
    ON_FAILURE,
    CRON,
    TIMEZONE,
    OVERLAP,
    VERSION,
    ON_EVENT,
    CONCURRENCY,
    DEBOUNCE,
    THROTTLE,
    QUEUE,
    CANCEL_ON,
];

/// The values of `overlap`, each with its variant of `durable::Overlap`;
/// the first is the default.
pub(crate) const OVERLAP_POLICIES: [(Symbol, &str); 3] = [
    (Symbol("skip"), "Skip"),
    (Symbol("allow"), "Allow"),
    (Symbol("cancel_previous"), "CancelPrevious"),
];

// The methods step detection looks for.

/// `ctx.step(name)`: the builder form of `run`.
pub(crate) const STEP: Symbol = Symbol(StepKind::BUILDER_METHOD);
/// `ctx.wait_for_event(name, event)`, configurable with a builder chain.
pub(crate) const WAIT_FOR_EVENT: Symbol = Symbol(StepKind::WaitForEvent.as_str());
/// `ctx.listen(name, signal)`, configurable with a builder chain.
pub(crate) const LISTEN: Symbol = Symbol(StepKind::Listen.as_str());
/// `ctx.wait_for::<E>(name)`: the typed event wait, configurable too.
pub(crate) const WAIT_FOR: Symbol = Symbol(StepKind::TYPED_METHODS[0].0);
/// `ctx.publish(name, event)`: the typed event send.
pub(crate) const PUBLISH: Symbol = Symbol(StepKind::TYPED_METHODS[1].0);
/// `ctx.invoke(name, W, input)`, configurable with `.queue(..)` and
/// `.timeout(..)`.
pub(crate) const INVOKE: Symbol = Symbol(StepKind::Invoke.as_str());
/// `ctx.start_child(name, W, input)`, configurable as `invoke` is.
pub(crate) const START_CHILD: Symbol = Symbol(StepKind::StartChild.as_str());
/// The `Ctx` methods that start a child run, whose builder chain takes
/// `.queue(..)` and `.timeout(..)`.
pub(crate) const CHILD_STEPS: [Symbol; 2] = [INVOKE, START_CHILD];
/// The `Ctx` methods whose call starts a builder chain of step options.
pub(crate) const CONFIGURABLE_STEPS: [Symbol; 6] =
    [STEP, WAIT_FOR_EVENT, LISTEN, WAIT_FOR, INVOKE, START_CHILD];
/// `.lookback("1h")` in an event wait's builder chain; also its manifest key.
pub(crate) const LOOKBACK: Symbol = Symbol("lookback");
/// `Retry::exponential(..).max_delay("1m")`.
pub(crate) const MAX_DELAY: Symbol = Symbol("max_delay");
/// The retry policy type, `Retry::fixed(..)` / `Retry::exponential(..)`.
pub(crate) const RETRY: Symbol = Symbol("Retry");
/// `Retry::fixed(attempts, "delay")`.
pub(crate) const FIXED: Symbol = Symbol("fixed");
/// `Retry::exponential(attempts, "initial delay")`.
pub(crate) const EXPONENTIAL: Symbol = Symbol("exponential");

/// `ctx.step(..).run(body)` and `ctx.run(name, body)`: a step body.
pub(crate) const RUN: Symbol = Symbol(StepKind::Run.as_str());
/// `ctx.compute(name, body)` and `ctx.step(..).compute(body)`: a step body
/// that returns its output itself, not a `Result`.
pub(crate) const COMPUTE: Symbol = Symbol(StepKind::COMPUTE_METHOD);
/// `ctx.step(..).run_with_attempt(body)`: a step body told its attempt.
pub(crate) const RUN_WITH_ATTEMPT: Symbol = Symbol("run_with_attempt");
/// `ctx.step(..).compensate(undo)`: the undo of a step, step code too.
pub(crate) const COMPENSATE: Symbol = Symbol("compensate");
/// The builder methods whose arguments are step code.
pub(crate) const STEP_BODY_METHODS: [Symbol; 4] = [RUN, COMPUTE, RUN_WITH_ATTEMPT, COMPENSATE];
/// The `Ctx` methods that take a step's name and its body together.
pub(crate) const CTX_BODY_METHODS: [Symbol; 2] = [RUN, COMPUTE];
/// `Ok::<T, E>(..)`, whose turbofish names a step's output type.
pub(crate) const OK: Symbol = Symbol("Ok");
/// `Err(..)`, which names a step body's error type.
pub(crate) const ERR: Symbol = Symbol("Err");

// Calls that a replay would not repeat the same, outside a step.

/// `#[durable::allow_nondeterministic]` on a statement of the body: its
/// calls are intended, the macro lets them through (and removes the
/// attribute).
pub(crate) const ALLOW_NONDETERMINISTIC: Symbol = Symbol("allow_nondeterministic");
/// The crate the attribute may be written under, `#[durable::...]`.
pub(crate) const DURABLE: Symbol = Symbol("durable");

/// Why a call in workflow code would differ in a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nondeterminism {
    /// It reads the clock.
    Clock,
    /// It draws random numbers.
    Random,
    /// It makes a random or time-based UUID.
    Uuid,
    /// It waits in memory.
    Sleep,
    /// It starts a task the engine does not record.
    Spawn,
    /// It reads the process environment.
    Environment,
}

/// Paths matched by their last segments (so `use std::time::SystemTime;`
/// then `SystemTime::now()` matches), with what they do.
pub(crate) const NONDETERMINISTIC_PATHS: [(&[&str], Nondeterminism); 18] = [
    (&["SystemTime", "now"], Nondeterminism::Clock),
    (&["Instant", "now"], Nondeterminism::Clock),
    (&["Utc", "now"], Nondeterminism::Clock),
    (&["Local", "now"], Nondeterminism::Clock),
    (&["thread_rng"], Nondeterminism::Random),
    (&["Uuid", "new_v4"], Nondeterminism::Uuid),
    (&["Uuid", "now_v1"], Nondeterminism::Uuid),
    (&["Uuid", "now_v6"], Nondeterminism::Uuid),
    (&["Uuid", "now_v7"], Nondeterminism::Uuid),
    (&["time", "sleep"], Nondeterminism::Sleep),
    (&["time", "sleep_until"], Nondeterminism::Sleep),
    (&["thread", "sleep"], Nondeterminism::Sleep),
    (&["tokio", "spawn"], Nondeterminism::Spawn),
    (&["task", "spawn"], Nondeterminism::Spawn),
    (&["task", "spawn_blocking"], Nondeterminism::Spawn),
    (&["thread", "spawn"], Nondeterminism::Spawn),
    (&["env", "var"], Nondeterminism::Environment),
    (&["env", "var_os"], Nondeterminism::Environment),
];

/// Crates every path of which draws random numbers, matched by a path's
/// first segment (`rand::random()`, `fastrand::u32(..)`).
pub(crate) const RANDOM_CRATES: [&str; 2] = ["rand", "fastrand"];

/// What the call at the end of `segments` does, if a replay would not
/// repeat it the same.
pub(crate) fn nondeterminism_of(segments: &[String]) -> Option<Nondeterminism> {
    if segments.len() > 1
        && let Some(first) = segments.first()
        && RANDOM_CRATES.contains(&first.as_str())
    {
        return Some(Nondeterminism::Random);
    }
    NONDETERMINISTIC_PATHS
        .iter()
        .find(|(suffix, _)| {
            segments.len() >= suffix.len()
                && segments[segments.len() - suffix.len()..]
                    .iter()
                    .zip(suffix.iter())
                    .all(|(segment, expected)| segment == expected)
        })
        .map(|(_, class)| *class)
}

// The types the checks recognise by their last path segment.

/// The context type, `Ctx` or `durable::Ctx`.
pub(crate) const CTX: Symbol = Symbol("Ctx");
/// The return type, `Result<..>` or e.g. `anyhow::Result<..>`.
pub(crate) const RESULT: Symbol = Symbol("Result");

// The option keys the manifest records beside `TIMEOUT` and `LOOKBACK`.

/// The duration of `ctx.sleep(name, "5m")`.
pub(crate) const DURATION: Symbol = Symbol("duration");
/// The event or signal name of a wait, listen or send.
pub(crate) const EVENT: Symbol = Symbol("event");
/// The child workflow of `ctx.invoke` / `ctx.start_child`.
pub(crate) const WORKFLOW: Symbol = Symbol("workflow");

// The attributes `#[derive(Event)]` reads.

/// `#[event(name = "...")]` on an event type.
pub(crate) const EVENT_ATTRIBUTE: Symbol = Symbol("event");
/// `#[serde(..)]`, read for the keys serde writes the fields under.
pub(crate) const SERDE: Symbol = Symbol("serde");
/// `#[serde(rename_all = "camelCase")]` on the struct.
pub(crate) const RENAME_ALL: Symbol = Symbol("rename_all");
/// `#[serde(rename = "key")]` on a field.
pub(crate) const RENAME: Symbol = Symbol("rename");
/// Field options after which a field is no key of the event's data (or not
/// always): no typed field is generated for it.
pub(crate) const HIDING_SERDE_OPTIONS: [Symbol; 5] = [
    Symbol("skip"),
    Symbol("skip_serializing"),
    Symbol("skip_deserializing"),
    Symbol("skip_serializing_if"),
    Symbol("flatten"),
];
/// serde's `rename_all` cases.
pub(crate) const SERDE_CASES: [&str; 8] = [
    "lowercase",
    "UPPERCASE",
    "PascalCase",
    "camelCase",
    "snake_case",
    "SCREAMING_SNAKE_CASE",
    "kebab-case",
    "SCREAMING-KEBAB-CASE",
];

/// Names listed in a message, each between `quote`s: `` `a`, `b` and `c` ``
/// for `` listed(.., "`", "and") ``.
pub(crate) fn listed(symbols: &[Symbol], quote: &str, last_separator: &str) -> String {
    let quoted: Vec<String> = symbols
        .iter()
        .map(|symbol| format!("{quote}{symbol}{quote}"))
        .collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {last_separator} {last}", rest.join(", ")),
    }
}

/// The step scopes the runtime records a saga's compensations
/// (`compensate/<step>`) and the on-failure hook's steps (`on-failure/..`)
/// under: a `ctx.group` may not take one of these names.
pub(crate) const RESERVED_SCOPES: [&str; 2] = ["compensate", "on-failure"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_names_as_messages_do() {
        assert_eq!(
            listed(&OPTIONS, "`", "and"),
            "`name`, `timeout`, `on_failure`, `cron`, `timezone`, `overlap`, `version`, `on_event`, `concurrency`, `debounce`, `throttle`, `queue` and `cancel_on`"
        );
        assert_eq!(
            listed(&OVERLAP_POLICIES.map(|(policy, _)| policy), "\"", "or"),
            "\"skip\", \"allow\" or \"cancel_previous\""
        );
        assert_eq!(listed(&[NAME], "`", "or"), "`name`");
        assert_eq!(listed(&[], "`", "or"), "");
    }

    #[test]
    fn nondeterministic_paths_match_by_suffix_and_random_crates_by_prefix() {
        let of = |path: &str| {
            let segments: Vec<String> = path.split("::").map(str::to_owned).collect();
            nondeterminism_of(&segments)
        };
        assert_eq!(
            of("std::time::SystemTime::now"),
            Some(Nondeterminism::Clock)
        );
        assert_eq!(of("SystemTime::now"), Some(Nondeterminism::Clock));
        assert_eq!(of("chrono::Utc::now"), Some(Nondeterminism::Clock));
        assert_eq!(of("rand::random"), Some(Nondeterminism::Random));
        assert_eq!(of("fastrand::Rng::new"), Some(Nondeterminism::Random));
        assert_eq!(of("uuid::Uuid::now_v7"), Some(Nondeterminism::Uuid));
        assert_eq!(of("tokio::time::sleep"), Some(Nondeterminism::Sleep));
        assert_eq!(of("std::env::var"), Some(Nondeterminism::Environment));
        assert_eq!(of("tokio::spawn"), Some(Nondeterminism::Spawn));
        // A user's own names that only share a segment are not matched.
        assert_eq!(of("now"), None);
        assert_eq!(of("rand"), None);
        assert_eq!(of("sleep"), None);
        assert_eq!(of("Uuid::new_v5"), None);
        assert_eq!(of("my::SystemTime::now_ish"), None);
    }

    #[test]
    fn step_methods_come_from_the_step_kind_table() {
        for method in CONFIGURABLE_STEPS {
            assert!(StepKind::from_method(method.as_str()).is_some(), "{method}");
        }
        assert_eq!(StepKind::from_method(STEP.as_str()), Some(StepKind::Run));
        assert_eq!(
            StepKind::from_method(WAIT_FOR.as_str()),
            Some(StepKind::WaitForEvent)
        );
        assert_eq!(
            StepKind::from_method(PUBLISH.as_str()),
            Some(StepKind::SendEvent)
        );
    }
}
