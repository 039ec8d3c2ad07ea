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

/// Every option of `#[workflow(...)]`, in the order messages list them.
pub(crate) const OPTIONS: [Symbol; 6] = [NAME, TIMEOUT, ON_FAILURE, CRON, TIMEZONE, OVERLAP];

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
/// The `Ctx` methods whose call starts a builder chain of step options.
pub(crate) const CONFIGURABLE_STEPS: [Symbol; 3] = [STEP, WAIT_FOR_EVENT, LISTEN];
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_names_as_messages_do() {
        assert_eq!(
            listed(&OPTIONS, "`", "and"),
            "`name`, `timeout`, `on_failure`, `cron`, `timezone` and `overlap`"
        );
        assert_eq!(
            listed(&OVERLAP_POLICIES.map(|(policy, _)| policy), "\"", "or"),
            "\"skip\", \"allow\" or \"cancel_previous\""
        );
        assert_eq!(listed(&[NAME], "`", "or"), "`name`");
        assert_eq!(listed(&[], "`", "or"), "");
    }

    #[test]
    fn step_methods_come_from_the_step_kind_table() {
        for method in CONFIGURABLE_STEPS {
            assert!(StepKind::from_method(method.as_str()).is_some(), "{method}");
        }
        assert_eq!(StepKind::from_method(STEP.as_str()), Some(StepKind::Run));
    }
}
