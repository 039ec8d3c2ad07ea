//! The engine's concurrency slots: how many runs execute at once, which
//! runs lend their slot while they wait, and who gets a freed slot first;
//! and the workflows whose runs also hold a slot of a concurrency limit in
//! the database, which the dispatcher claims again when one of them stops.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::model::sync::lock;

/// How many runs an engine holds in memory at most, per slot of its
/// concurrency. Runs that wait (for a timer or a write) lend their slot, so
/// the engine claims more runs meanwhile; this bounds how many.
const RUNS_IN_MEMORY_PER_SLOT: usize = 16;

/// The engine's concurrency slots, shared by its runs and its dispatcher.
pub(crate) struct Slots {
    /// How many runs may execute at once.
    concurrency: usize,
    /// Slots in use: runs executing, not those waiting for a timer or a
    /// write (see [`Slot::lend`]).
    taken: AtomicUsize,
    /// Runs whose timer or write ended, waiting to take their lent slot
    /// back; they go before new claims.
    wanted_back: AtomicUsize,
    /// Woken when a slot frees up while runs want theirs back.
    given_back: Notify,
    /// Woken when a slot frees up (or a run leaves memory); the dispatcher
    /// waits for it only while ready runs may be left unclaimed for want of
    /// slots.
    freed: Notify,
}

impl Slots {
    /// `concurrency` slots, all free.
    pub(crate) fn new(concurrency: usize) -> Self {
        Slots {
            concurrency,
            taken: AtomicUsize::new(0),
            wanted_back: AtomicUsize::new(0),
            given_back: Notify::new(),
            freed: Notify::new(),
        }
    }

    /// Takes a slot if one is free, no run waits to take its lent slot
    /// back, and the engine, holding `in_memory` runs, has room for one more.
    pub(crate) fn try_take(self: &Arc<Self>, in_memory: usize) -> Option<Arc<Slot>> {
        (self.room_in_memory(in_memory) > 0 && self.take_below(self.limit_for_new_runs()))
            .then(|| Slot::held(self.clone()))
    }

    /// A slot the caller counted as taken already (see [`Slots::free`]).
    pub(crate) fn taken_for_claim(self: &Arc<Self>) -> Arc<Slot> {
        self.taken.fetch_add(1, Ordering::AcqRel);
        Slot::held(self.clone())
    }

    /// How many new runs the dispatcher may claim now, while the engine
    /// holds `in_memory` runs.
    pub(crate) fn free(&self, in_memory: usize) -> usize {
        self.limit_for_new_runs()
            .saturating_sub(self.taken.load(Ordering::Acquire))
            .min(self.room_in_memory(in_memory))
    }

    /// Completes when a slot frees up or a run leaves memory.
    pub(crate) async fn freed(&self) {
        self.freed.notified().await;
    }

    /// Tells the dispatcher that a run left memory: it may have waited for
    /// room.
    pub(crate) fn left_memory(&self) {
        self.freed.notify_one();
    }

    /// The slots new runs may take: the engine's concurrency, less the slots
    /// that runs whose wait ended want back.
    fn limit_for_new_runs(&self) -> usize {
        self.concurrency
            .saturating_sub(self.wanted_back.load(Ordering::Acquire))
    }

    /// How many more runs the engine, holding `in_memory`, may hold.
    fn room_in_memory(&self, in_memory: usize) -> usize {
        (self.concurrency.saturating_mul(RUNS_IN_MEMORY_PER_SLOT)).saturating_sub(in_memory)
    }

    /// Counts a slot as taken if fewer than `limit` are.
    fn take_below(&self, limit: usize) -> bool {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < limit).then_some(taken + 1)
            })
            .is_ok()
    }

    /// Counts a slot as free and tells whoever may want it.
    fn free_one(&self) {
        self.taken.fetch_sub(1, Ordering::AcqRel);
        if self.wanted_back.load(Ordering::Acquire) > 0 {
            self.given_back.notify_one();
        }
        self.freed.notify_one();
    }
}

/// The workflows with a concurrency limit (`Workflow::CONCURRENCY`) that an
/// engine serves. The database counts their slots (a claim takes a run only
/// while its group has one free); the engine's part is to claim again the
/// moment one frees: when a run of one of them stops executing here
/// (finishes, suspends, is cancelled), and, with any of them, when another
/// process tells that a run ended.
#[derive(Debug, Default)]
pub(crate) struct LimitedWorkflows(HashSet<&'static str>);

impl LimitedWorkflows {
    /// The limited workflows among `names`.
    pub(crate) fn new(names: impl IntoIterator<Item = &'static str>) -> Self {
        LimitedWorkflows(names.into_iter().collect())
    }

    /// Whether a run of `workflow` that stops frees a slot other runs may
    /// be waiting for.
    pub(crate) fn frees_a_slot(&self, workflow: &str) -> bool {
        self.0.contains(workflow)
    }

    /// Whether a run that ended elsewhere may have freed a slot a run of
    /// this engine waits for.
    pub(crate) fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

/// One of the engine's concurrency slots, held by a run it executes (or is
/// about to). The run ends it ([`Slot::end`]) once its body ended, before
/// its last write, which frees it and tells the dispatcher.
///
/// A run waiting in memory for a timer or for a write to commit lends its
/// slot to other runs meanwhile ([`Slot::lend`]): the engine's concurrency
/// counts runs that execute, not runs that wait. [`Slot::take_back`] waits
/// for a free slot, ahead of new claims.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    state: std::sync::Mutex<SlotState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Held,
    Lent,
    /// The run's body ended (or its task did); the slot is free for good.
    Ended,
}

impl Slot {
    fn held(slots: Arc<Slots>) -> Arc<Slot> {
        Arc::new(Slot {
            slots,
            state: std::sync::Mutex::new(SlotState::Held),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        lock(&self.state)
    }

    /// The slots this one is of.
    pub(crate) fn slots(&self) -> &Slots {
        &self.slots
    }

    /// Lends the slot to other runs, if the run holds it.
    pub(crate) fn lend(&self) {
        let mut state = self.state();
        if *state == SlotState::Held {
            *state = SlotState::Lent;
            self.slots.free_one();
        }
    }

    /// If the slot is lent, waits until one is free and takes it back.
    pub(crate) async fn take_back(&self) {
        if *self.state() != SlotState::Lent {
            return;
        }
        let slots = &self.slots;
        slots.wanted_back.fetch_add(1, Ordering::AcqRel);
        let _wanted = WantedBack(slots);
        loop {
            let given_back = slots.given_back.notified();
            tokio::pin!(given_back);
            // Registered before the check, so a slot freed in between wakes it.
            given_back.as_mut().enable();
            if slots.take_below(slots.concurrency) {
                break;
            }
            given_back.await;
        }
        let mut state = self.state();
        if *state == SlotState::Lent {
            *state = SlotState::Held;
        } else {
            // Another branch of the run took it back first, or the run ended.
            slots.free_one();
        }
    }

    /// Frees the slot for good: the run's body ended (only the write of its
    /// ending is left), or its task did.
    pub(crate) fn end(&self) {
        let mut state = self.state();
        if *state == SlotState::Held {
            self.slots.free_one();
        }
        *state = SlotState::Ended;
    }
}

/// A slot dropped while held is freed: a trigger that took one to claim its
/// run at creation, and then found the run already there (an idempotency
/// key seen before) or could not write it, gives the slot back this way.
impl Drop for Slot {
    fn drop(&mut self) {
        self.end();
    }
}

/// Counts a run as waiting to take its slot back while alive.
struct WantedBack<'a>(&'a Slots);

impl Drop for WantedBack<'_> {
    fn drop(&mut self) {
        self.0.wanted_back.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_taken_while_held_and_freed_when_dropped() {
        let slots = Arc::new(Slots::new(2));
        let first = slots.try_take(0).expect("a free slot");
        assert_eq!(slots.free(1), 1);
        let second = slots.try_take(1).expect("a second free slot");
        assert!(slots.try_take(2).is_none());
        drop(first);
        assert_eq!(slots.free(1), 1);
        second.end();
        assert_eq!(slots.free(1), 2);
        // Ended for good: dropping it frees nothing twice.
        drop(second);
        assert_eq!(slots.free(0), 2);
    }

    #[test]
    fn only_the_limited_workflows_free_a_slot_of_a_limit() {
        let limited = LimitedWorkflows::new(["per-customer"]);
        assert!(limited.frees_a_slot("per-customer"));
        assert!(!limited.frees_a_slot("other"));
        assert!(limited.any());
        assert!(!LimitedWorkflows::default().any());
    }

    #[test]
    fn runs_in_memory_bound_the_claims_even_with_free_slots() {
        let slots = Arc::new(Slots::new(2));
        let full = 2 * RUNS_IN_MEMORY_PER_SLOT;
        assert_eq!(slots.free(full - 1), 1);
        assert_eq!(slots.free(full), 0);
        assert!(slots.try_take(full).is_none());
    }

    #[tokio::test]
    async fn a_lent_slot_is_taken_back_before_new_runs_get_one() {
        let slots = Arc::new(Slots::new(1));
        let waiting = slots.try_take(0).expect("a free slot");
        waiting.lend();
        // The lent slot went to another run.
        let other = slots.try_take(1).expect("the lent slot");
        let taking_back = {
            let waiting = waiting.clone();
            tokio::spawn(async move { waiting.take_back().await })
        };
        while slots.wanted_back.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        // A run wants its slot back: once the slot frees, new runs get none
        // (the waiting run has not been polled yet on this one thread).
        drop(other);
        assert_eq!(slots.free(1), 0);
        assert!(slots.try_take(1).is_none());
        taking_back.await.expect("the slot is taken back");
        assert_eq!(slots.taken.load(Ordering::Acquire), 1);
        waiting.end();
        assert_eq!(slots.free(1), 1);
    }
}
