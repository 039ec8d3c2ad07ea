//! The kinds of step, as the `#[workflow]` macro finds them in a body and as
//! the runtime records them: one table, so the two cannot drift apart.

/// What kind of step a manifest entry or journal record is.
///
/// ```
/// use durable_grammar::StepKind;
/// assert_eq!(StepKind::from_method("sleep_until"), Some(StepKind::SleepUntil));
/// assert_eq!(StepKind::parse("wait_for_event"), Some(StepKind::WaitForEvent));
/// assert_eq!(StepKind::Invoke.as_str(), "invoke");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum StepKind {
    /// `ctx.run` / `ctx.step(..).run`: a memoized unit of work.
    Run,
    /// `ctx.sleep`: a durable sleep for a duration.
    Sleep,
    /// `ctx.sleep_until`: a durable sleep until a point in time.
    SleepUntil,
    /// `ctx.now`: the memoized current time.
    Now,
    /// `ctx.uuid`: a memoized random UUID.
    Uuid,
    /// `ctx.map`: one branch per item, each in its own step scope.
    Map,
    /// `ctx.for_each`: `map` without outputs.
    ForEach,
    /// `ctx.batch`: one branch per chunk of items.
    Batch,
    /// `ctx.parallel`: a list of different branches.
    Parallel,
    /// `ctx.wait_for_event`: waits for an event whose data matches.
    WaitForEvent,
    /// `ctx.send_event`: sends an event, exactly once.
    SendEvent,
    /// `ctx.listen`: waits for a signal sent to this run.
    Listen,
    /// `ctx.invoke`: starts a child workflow and waits for its output.
    Invoke,
    /// `ctx.start_child`: starts a child workflow without waiting.
    StartChild,
    /// `ctx.wait_for_run`: waits for another run to end.
    WaitForRun,
    /// `ctx.patched`: the marker of a run that took the new side of a patch.
    Patch,
    /// `ctx.group`: a step made of steps, recorded under its name once they
    /// all completed.
    Group,
    /// `ctx.set_deadline`: moves the run's own deadline, recorded once.
    SetDeadline,
}

impl StepKind {
    /// Every kind.
    pub const ALL: [StepKind; 18] = [
        StepKind::Run,
        StepKind::Sleep,
        StepKind::SleepUntil,
        StepKind::Now,
        StepKind::Uuid,
        StepKind::Map,
        StepKind::ForEach,
        StepKind::Batch,
        StepKind::Parallel,
        StepKind::WaitForEvent,
        StepKind::SendEvent,
        StepKind::Listen,
        StepKind::Invoke,
        StepKind::StartChild,
        StepKind::WaitForRun,
        StepKind::Patch,
        StepKind::Group,
        StepKind::SetDeadline,
    ];

    /// The `Ctx` method that starts a configurable `run` step:
    /// `ctx.step(name).timeout(..).run(..)`.
    pub const BUILDER_METHOD: &'static str = "step";

    /// The `Ctx` method that makes a `run` step whose body returns its
    /// output itself rather than a `Result`: `ctx.compute(name, body)`,
    /// recorded as a `run` step.
    pub const COMPUTE_METHOD: &'static str = "compute";

    /// The name stored in `wf_step.kind`, which is also the name of the
    /// `Ctx` method that makes the step, except for [`Patch`](Self::Patch)
    /// (see [`method`](Self::method)).
    pub const fn as_str(self) -> &'static str {
        match self {
            StepKind::Run => "run",
            StepKind::Sleep => "sleep",
            StepKind::SleepUntil => "sleep_until",
            StepKind::Now => "now",
            StepKind::Uuid => "uuid",
            StepKind::Map => "map",
            StepKind::ForEach => "for_each",
            StepKind::Batch => "batch",
            StepKind::Parallel => "parallel",
            StepKind::WaitForEvent => "wait_for_event",
            StepKind::SendEvent => "send_event",
            StepKind::Listen => "listen",
            StepKind::Invoke => "invoke",
            StepKind::StartChild => "start_child",
            StepKind::WaitForRun => "wait_for_run",
            StepKind::Patch => "patch",
            StepKind::Group => "group",
            StepKind::SetDeadline => "set_deadline",
        }
    }

    /// The `Ctx` method that makes the step: [`as_str`](Self::as_str), but
    /// `patched` for a [`Patch`](Self::Patch) (the method answers a
    /// question; the record is a marker).
    pub const fn method(self) -> &'static str {
        match self {
            StepKind::Patch => "patched",
            kind => kind.as_str(),
        }
    }

    /// The typed forms of `Ctx` methods: `ctx.wait_for::<E>(name)` is a
    /// [`WaitForEvent`](Self::WaitForEvent) of the event `E::NAME`, and
    /// `ctx.publish(name, event)` a [`SendEvent`](Self::SendEvent), recorded
    /// as their string forms are, so a change from one form to the other
    /// replays.
    pub const TYPED_METHODS: [(&'static str, StepKind); 2] = [
        ("wait_for", StepKind::WaitForEvent),
        ("publish", StepKind::SendEvent),
    ];

    /// The kind stored as `text` in `wf_step.kind`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The kind of step the `Ctx` method `method` makes
    /// ([`BUILDER_METHOD`](Self::BUILDER_METHOD) is the builder form of `run`
    /// and [`COMPUTE_METHOD`](Self::COMPUTE_METHOD) its form for plain outputs;
    /// the [`TYPED_METHODS`](Self::TYPED_METHODS) are the typed forms of
    /// event steps).
    pub fn from_method(method: &str) -> Option<Self> {
        if method == Self::BUILDER_METHOD || method == Self::COMPUTE_METHOD {
            return Some(StepKind::Run);
        }
        if let Some((_, kind)) = Self::TYPED_METHODS
            .into_iter()
            .find(|(typed, _)| *typed == method)
        {
            return Some(kind);
        }
        Self::ALL.into_iter().find(|kind| kind.method() == method)
    }

    /// Whether the step runs branches (closures among its arguments), each
    /// in a step scope of its own.
    pub fn has_branches(self) -> bool {
        matches!(
            self,
            StepKind::Map
                | StepKind::ForEach
                | StepKind::Batch
                | StepKind::Parallel
                | StepKind::Group
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_and_round_trips() {
        for kind in StepKind::ALL {
            assert_eq!(StepKind::ALL.iter().filter(|k| **k == kind).count(), 1);
            assert_eq!(StepKind::parse(kind.as_str()), Some(kind));
            assert_eq!(StepKind::from_method(kind.method()), Some(kind));
        }
        assert_eq!(StepKind::parse("nap"), None);
        assert_eq!(StepKind::from_method("step"), Some(StepKind::Run));
        assert_eq!(StepKind::from_method("compute"), Some(StepKind::Run));
        assert_eq!(StepKind::from_method("log"), None);
        assert_eq!(StepKind::from_method("patched"), Some(StepKind::Patch));
        assert_eq!(StepKind::from_method("patch"), None);
        assert_eq!(
            StepKind::from_method("wait_for"),
            Some(StepKind::WaitForEvent)
        );
        assert_eq!(StepKind::from_method("publish"), Some(StepKind::SendEvent));
    }
}
