//! The replay core: given a run's journal, decides for each step the code
//! reaches whether to answer it from the journal, execute it, or stop the run
//! as non-deterministic. It performs no I/O; the context (`ctx.rs`) acts on
//! its answers.
//!
//! Steps are matched by name. Positions (`seq`) count per scope: the steps
//! of one fan-out branch (`charge-all[3]/charge`) are numbered within
//! `charge-all[3]`, so branches that interleave differently on replay keep
//! their positions.
//!
//! A patch marker ([`StepKind::Patch`], written by `ctx.patched`) records
//! that a run took the new side of a code change. [`Journal::patch`]
//! decides the answer: the marker is recorded → true; the journal holds
//! other steps of this scope (or scopes below it) that the replay has not
//! reached yet → the run went past this point before the patch existed →
//! false, and nothing is recorded; otherwise the run is new here → a marker
//! is recorded → true. A replay skips the position of a marker the code no
//! longer asks about, so deleting a `patched` call (once no run that started
//! before it is in flight) keeps the other steps' positions.

use std::collections::{HashMap, HashSet};

use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::journal::StepRecord;
use crate::model::workflow::StepKind;

/// What the journal says about a step the code just reached.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StepStart {
    /// The journal has a record of it (finished or in progress).
    Recorded(StepRecord),
    /// The step is new; it gets this position.
    New {
        /// The position to record.
        seq: i64,
    },
}

/// What the journal says about a patch the code just reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchStart {
    /// The run started before the patch: it takes the old code. Nothing is
    /// recorded.
    Before,
    /// The journal has the patch's marker: the run takes the new code.
    Recorded,
    /// The run reaches the patch for the first time: it records a marker
    /// at this position and takes the new code.
    New {
        /// The position to record.
        seq: i64,
    },
}

/// A run's journal during one execution.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    run_id: Option<RunId>,
    by_name: HashMap<String, StepRecord>,
    name_at_seq: HashMap<(String, i64), String>,
    reached: HashSet<String>,
    next_seq: HashMap<String, i64>,
    /// Per scope, how many records in it or in a scope below it (other than
    /// patch markers) the replay has not reached yet.
    unreplayed: HashMap<String, usize>,
}

/// The scope of a step name: everything before its last `/`.
pub(crate) fn scope_of(name: &str) -> &str {
    name.rsplit_once('/').map_or("", |(scope, _)| scope)
}

/// The scopes a step is in: its own, then each enclosing one up to the top
/// scope `""` (`a[1]/b[2]/c` is in `a[1]/b[2]`, `a[1]` and `""`).
fn scopes_around(name: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(scope_of(name)), |scope| {
        (!scope.is_empty()).then(|| scope_of(scope))
    })
}

impl Journal {
    /// A journal holding the records loaded from the store.
    pub(crate) fn new(run_id: RunId, records: Vec<StepRecord>) -> Self {
        let mut journal = Journal {
            run_id: Some(run_id),
            ..Journal::default()
        };
        for record in records {
            let position = (scope_of(&record.name).to_owned(), record.seq);
            journal.name_at_seq.insert(position, record.name.clone());
            if record.kind != StepKind::Patch {
                for scope in scopes_around(&record.name) {
                    *journal.unreplayed.entry(scope.to_owned()).or_default() += 1;
                }
            }
            journal.by_name.insert(record.name.clone(), record);
        }
        journal
    }

    /// The code reached the patch `name` (see the module's doc for the rule).
    pub(crate) fn patch(&mut self, name: &str) -> Result<PatchStart, Error> {
        let scope = scope_of(name);
        let went_past = self.unreplayed.get(scope).is_some_and(|count| *count > 0);
        if went_past && !self.by_name.contains_key(name) {
            if !self.reached.insert(name.to_owned()) {
                return Err(self.duplicate(name));
            }
            return Ok(PatchStart::Before);
        }
        Ok(match self.reach(name, StepKind::Patch)? {
            StepStart::Recorded(_) => PatchStart::Recorded,
            StepStart::New { seq } => PatchStart::New { seq },
        })
    }

    fn duplicate(&self, name: &str) -> Error {
        Error::DuplicateStep {
            run_id: self.run_id(),
            step: name.to_owned(),
        }
    }

    fn run_id(&self) -> RunId {
        self.run_id.unwrap_or(RunId(uuid::Uuid::nil()))
    }

    /// The next position in `scope` for the step `name`, past the markers of
    /// patches the code no longer asks about (a marker is never reached
    /// then, so its position would otherwise shift every later step's).
    fn next_position(&mut self, scope: &str, name: &str) -> i64 {
        let next = self.next_seq.entry(scope.to_owned()).or_default();
        loop {
            let seq = *next;
            *next += 1;
            let stale_marker = self
                .name_at_seq
                .get(&(scope.to_owned(), seq))
                .filter(|recorded| *recorded != name && !self.reached.contains(*recorded))
                .and_then(|recorded| self.by_name.get(recorded))
                .is_some_and(|record| record.kind == StepKind::Patch);
            if !stale_marker {
                return seq;
            }
        }
    }

    /// The code reached step `name` of `kind`: answer it from the journal, or
    /// give it the next position, or refuse.
    ///
    /// Steps are matched by name. The position check catches code that now
    /// reaches a new step where the journal recorded a different one.
    pub(crate) fn reach(&mut self, name: &str, kind: StepKind) -> Result<StepStart, Error> {
        let run_id = self.run_id();
        if !self.reached.insert(name.to_owned()) {
            return Err(self.duplicate(name));
        }
        let scope = scope_of(name);
        let seq = self.next_position(scope, name);
        if let Some(record) = self.by_name.get(name) {
            if record.kind != kind {
                return Err(Error::NonDeterminism {
                    run_id,
                    expected: format!("{name}` of kind `{}", record.kind.as_str()),
                    found: format!("{name}` of kind `{}", kind.as_str()),
                });
            }
            if kind != StepKind::Patch {
                for scope in scopes_around(name) {
                    if let Some(count) = self.unreplayed.get_mut(scope) {
                        *count = count.saturating_sub(1);
                    }
                }
            }
            return Ok(StepStart::Recorded(record.clone()));
        }
        if let Some(recorded) = self.name_at_seq.get(&(scope.to_owned(), seq))
            && !self.reached.contains(recorded)
        {
            return Err(Error::NonDeterminism {
                run_id,
                expected: recorded.clone(),
                found: name.to_owned(),
            });
        }
        Ok(StepStart::New { seq })
    }

    /// The replay answered the completed group `name` from its record
    /// without running its body: its inner steps (`name/..`) count as
    /// reached, so that a patch after the group does not take them for
    /// steps the run went past before the patch existed.
    pub(crate) fn skip_group(&mut self, name: &str) {
        let prefix = format!("{name}/");
        let inner: Vec<String> = self
            .by_name
            .values()
            .filter(|record| record.name.starts_with(&prefix) && record.kind != StepKind::Patch)
            .map(|record| record.name.clone())
            .filter(|inner| !self.reached.contains(inner))
            .collect();
        for inner in inner {
            for scope in scopes_around(&inner) {
                if let Some(count) = self.unreplayed.get_mut(scope) {
                    *count = count.saturating_sub(1);
                }
            }
            self.reached.insert(inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(records: Vec<StepRecord>) -> Journal {
        Journal::new(RunId(uuid::Uuid::nil()), records)
    }

    #[test]
    fn a_completed_group_skipped_leaves_no_unreplayed_steps_for_a_patch_after_it() {
        let records = vec![
            StepRecord::completed("ship", 0, StepKind::Group),
            StepRecord::completed("ship/pack", 0, StepKind::Run),
            StepRecord::completed("ship/label", 1, StepKind::Run),
        ];
        // Without the skip, the inner steps look like steps past the patch.
        let mut unskipped = journal(records.clone());
        assert!(matches!(
            unskipped.reach("ship", StepKind::Group),
            Ok(StepStart::Recorded(_))
        ));
        assert!(matches!(
            unskipped.patch("after-ship"),
            Ok(PatchStart::Before)
        ));

        let mut journal = journal(records);
        assert!(matches!(
            journal.reach("ship", StepKind::Group),
            Ok(StepStart::Recorded(_))
        ));
        journal.skip_group("ship");
        assert!(matches!(
            journal.patch("after-ship"),
            Ok(PatchStart::New { seq: 1 })
        ));
        // A step named like a group's, but outside it, is not skipped.
        assert!(matches!(
            journal.reach("shipping", StepKind::Run),
            Ok(StepStart::New { .. })
        ));
    }

    #[test]
    fn recorded_steps_replay_and_new_ones_get_the_next_position() {
        let mut journal = journal(vec![StepRecord::completed("a", 0, StepKind::Run)]);
        assert!(
            matches!(journal.reach("a", StepKind::Run), Ok(StepStart::Recorded(r)) if r.name == "a")
        );
        assert_eq!(
            journal.reach("b", StepKind::Run).unwrap(),
            StepStart::New { seq: 1 }
        );
    }

    #[test]
    fn a_renamed_step_is_non_deterministic_and_names_both() {
        let mut journal = journal(vec![
            StepRecord::completed("a", 0, StepKind::Run),
            StepRecord::completed("b", 1, StepKind::Run),
        ]);
        journal.reach("a", StepKind::Run).unwrap();
        match journal.reach("b2", StepKind::Run) {
            Err(Error::NonDeterminism {
                expected, found, ..
            }) => {
                assert_eq!((expected.as_str(), found.as_str()), ("b", "b2"));
            }
            other => panic!("expected non-determinism, got {other:?}"),
        }
    }

    #[test]
    fn a_step_of_another_kind_is_non_deterministic() {
        let mut journal = journal(vec![StepRecord::completed("a", 0, StepKind::Sleep)]);
        assert!(matches!(
            journal.reach("a", StepKind::Run),
            Err(Error::NonDeterminism { .. })
        ));
    }

    #[test]
    fn a_second_step_of_the_same_name_is_a_duplicate() {
        let mut journal = journal(vec![]);
        journal.reach("a", StepKind::Run).unwrap();
        assert!(
            matches!(journal.reach("a", StepKind::Run), Err(Error::DuplicateStep { step, .. }) if step == "a")
        );
    }

    #[test]
    fn positions_count_per_scope_so_branches_may_interleave_differently() {
        // First execution: branch 0 and 1 each ran two steps, interleaved.
        let mut journal = journal(vec![
            StepRecord::completed("map[0]/a", 0, StepKind::Run),
            StepRecord::completed("map[1]/a", 0, StepKind::Run),
            StepRecord::completed("map[1]/b", 1, StepKind::Run),
        ]);
        // Replay reaches them in another order, and a new step in branch 0.
        assert!(matches!(
            journal.reach("map[1]/a", StepKind::Run),
            Ok(StepStart::Recorded(_))
        ));
        assert!(matches!(
            journal.reach("map[1]/b", StepKind::Run),
            Ok(StepStart::Recorded(_))
        ));
        assert!(matches!(
            journal.reach("map[0]/a", StepKind::Run),
            Ok(StepStart::Recorded(_))
        ));
        assert_eq!(
            journal.reach("map[0]/b", StepKind::Run).unwrap(),
            StepStart::New { seq: 1 }
        );
        // A renamed step inside a branch is still caught.
        let mut journal = journal_of_branch();
        journal.reach("map[0]/a", StepKind::Run).unwrap();
        assert!(matches!(
            journal.reach("map[0]/c", StepKind::Run),
            Err(Error::NonDeterminism { .. })
        ));
    }

    fn journal_of_branch() -> Journal {
        journal(vec![
            StepRecord::completed("map[0]/a", 0, StepKind::Run),
            StepRecord::completed("map[0]/b", 1, StepKind::Run),
        ])
    }

    #[test]
    fn steps_replayed_out_of_order_are_accepted() {
        // Concurrent steps may finish in any order; matching is by name.
        let mut journal = journal(vec![
            StepRecord::completed("b", 0, StepKind::Run),
            StepRecord::completed("a", 1, StepKind::Run),
        ]);
        assert!(matches!(
            journal.reach("a", StepKind::Run),
            Ok(StepStart::Recorded(_))
        ));
        assert!(matches!(
            journal.reach("b", StepKind::Run),
            Ok(StepStart::Recorded(_))
        ));
        assert_eq!(
            journal.reach("c", StepKind::Run).unwrap(),
            StepStart::New { seq: 2 }
        );
    }

    #[test]
    fn a_patch_is_false_where_the_run_went_past_it_and_takes_no_position() {
        // v1 ran a, b and is asleep; v2 asks for patch p between a and b.
        let mut journal = journal(vec![
            StepRecord::completed("a", 0, StepKind::Run),
            StepRecord::completed("b", 1, StepKind::Run),
            StepRecord::completed("nap", 2, StepKind::Sleep),
        ]);
        journal.reach("a", StepKind::Run).unwrap();
        assert_eq!(journal.patch("p").unwrap(), PatchStart::Before);
        for (name, kind) in [("b", StepKind::Run), ("nap", StepKind::Sleep)] {
            assert!(matches!(
                journal.reach(name, kind),
                Ok(StepStart::Recorded(_))
            ));
        }
        assert_eq!(
            journal.reach("c", StepKind::Run).unwrap(),
            StepStart::New { seq: 3 }
        );
        assert!(matches!(
            journal.patch("p"),
            Err(Error::DuplicateStep { step, .. }) if step == "p"
        ));
    }

    #[test]
    fn a_patch_is_new_past_the_journal_and_recorded_on_replay() {
        let mut first = journal(vec![StepRecord::completed("a", 0, StepKind::Run)]);
        first.reach("a", StepKind::Run).unwrap();
        assert_eq!(first.patch("p").unwrap(), PatchStart::New { seq: 1 });
        let mut replay = journal(vec![
            StepRecord::completed("a", 0, StepKind::Run),
            StepRecord::completed("p", 1, StepKind::Patch),
            StepRecord::completed("b2", 2, StepKind::Run),
            StepRecord::completed("nap", 3, StepKind::Sleep),
        ]);
        replay.reach("a", StepKind::Run).unwrap();
        // The steps after the marker do not make it look old.
        assert_eq!(replay.patch("p").unwrap(), PatchStart::Recorded);
        replay.reach("b2", StepKind::Run).unwrap();
        replay.reach("nap", StepKind::Sleep).unwrap();
        assert_eq!(
            replay.reach("c", StepKind::Run).unwrap(),
            StepStart::New { seq: 4 }
        );
    }

    #[test]
    fn a_patch_before_a_fan_out_the_run_entered_is_false() {
        // The fan-out writes no record of its own: its branches' steps tell.
        let mut journal = journal(vec![StepRecord::completed("m[0]/x", 0, StepKind::Run)]);
        assert_eq!(journal.patch("p").unwrap(), PatchStart::Before);
        // In a branch the run has not entered, the patch is new.
        assert_eq!(journal.patch("m[1]/p").unwrap(), PatchStart::New { seq: 0 });
    }

    #[test]
    fn a_marker_the_code_no_longer_asks_about_is_skipped() {
        // Recorded by a version that called patched("p") after a; the code
        // now calls neither patched nor anything recorded after it.
        let mut journal = journal(vec![
            StepRecord::completed("a", 0, StepKind::Run),
            StepRecord::completed("p", 1, StepKind::Patch),
        ]);
        journal.reach("a", StepKind::Run).unwrap();
        assert_eq!(
            journal.reach("c", StepKind::Run).unwrap(),
            StepStart::New { seq: 2 }
        );
    }

    #[test]
    fn a_patch_named_like_a_recorded_step_is_non_deterministic() {
        let mut journal = journal(vec![StepRecord::completed("p", 0, StepKind::Run)]);
        assert!(matches!(
            journal.patch("p"),
            Err(Error::NonDeterminism { .. })
        ));
    }

    mod properties {
        //! Random programs (steps in up to three scopes), replayed on random
        //! subsets of their journal (what a crash leaves committed), with the
        //! branches interleaved anew.

        use super::*;
        use proptest::prelude::*;

        const KINDS: [StepKind; 4] = [
            StepKind::Run,
            StepKind::Sleep,
            StepKind::Now,
            StepKind::Uuid,
        ];

        /// One step of a program: its name and kind.
        type Step = (String, StepKind);

        /// Steps with unique names, each in the top scope or a branch.
        fn program() -> impl Strategy<Value = Vec<Step>> {
            proptest::collection::vec((0..3usize, 0..KINDS.len()), 0..24).prop_map(|steps| {
                steps
                    .into_iter()
                    .enumerate()
                    .map(|(index, (scope, kind))| {
                        let name = match scope {
                            0 => format!("s{index}"),
                            branch => format!("map[{branch}]/s{index}"),
                        };
                        (name, KINDS[kind])
                    })
                    .collect()
            })
        }

        /// The records a crash left committed: those whose flag in
        /// `committed` is set.
        fn committed_subset(records: &[StepRecord], committed: &[bool]) -> Vec<StepRecord> {
            records
                .iter()
                .zip(committed)
                .filter(|(_, kept)| **kept)
                .map(|(record, _)| record.clone())
                .collect()
        }

        /// The first execution: every step is new; returns their records.
        fn first_execution(program: &[Step]) -> Vec<StepRecord> {
            let mut journal = journal(vec![]);
            program
                .iter()
                .map(|(name, kind)| match journal.reach(name, *kind) {
                    Ok(StepStart::New { seq }) => StepRecord::completed(name, seq, *kind),
                    other => panic!("a first execution reached {name} as {other:?}"),
                })
                .collect()
        }

        /// The program in another order that keeps each scope's own order
        /// (branches run concurrently; a branch's steps run in sequence):
        /// repeatedly takes the next step of a scope picked by `picks`.
        fn interleave(program: &[Step], picks: &[usize]) -> Vec<Step> {
            let mut queues: Vec<(String, std::collections::VecDeque<Step>)> = Vec::new();
            for step in program {
                let scope = scope_of(&step.0).to_owned();
                match queues.iter_mut().find(|(s, _)| *s == scope) {
                    Some((_, queue)) => queue.push_back(step.clone()),
                    None => queues.push((scope, [step.clone()].into())),
                }
            }
            let mut order = Vec::new();
            let mut pick = picks.iter().cycle();
            while queues.iter().any(|(_, queue)| !queue.is_empty()) {
                let live: Vec<usize> = (0..queues.len())
                    .filter(|i| !queues[*i].1.is_empty())
                    .collect();
                let chosen = live[pick.next().copied().unwrap_or(0) % live.len()];
                order.extend(queues[chosen].1.pop_front());
            }
            order
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// After any crash, the replay answers every committed step
            /// from the journal (its body does not run again) and gives
            /// every other step the position the first execution gave it.
            #[test]
            fn a_replay_answers_committed_steps_and_repositions_the_rest(
                program in program(),
                committed in proptest::collection::vec(any::<bool>(), 24),
                picks in proptest::collection::vec(0..3usize, 1..8),
            ) {
                let records = first_execution(&program);
                let kept = committed_subset(&records, &committed);
                let mut replay = journal(kept.clone());
                for (name, kind) in interleave(&program, &picks) {
                    let original = records.iter().find(|r| r.name == name).unwrap();
                    let answer = replay.reach(&name, kind).unwrap();
                    match kept.iter().find(|r| r.name == name) {
                        Some(record) => prop_assert_eq!(answer, StepStart::Recorded(record.clone())),
                        None => prop_assert_eq!(answer, StepStart::New { seq: original.seq }),
                    }
                }
            }

            /// Code that changed at one step (renamed, or of another kind)
            /// is refused as non-deterministic exactly when the journal
            /// recorded what the old code did there; a change past the
            /// journal is a new step.
            #[test]
            fn a_changed_step_is_refused_exactly_when_it_was_recorded(
                program in program().prop_filter("a step to change", |p| !p.is_empty()),
                committed in proptest::collection::vec(any::<bool>(), 24),
                at in any::<prop::sample::Index>(),
                rename in any::<bool>(),
            ) {
                let records = first_execution(&program);
                let kept = committed_subset(&records, &committed);
                let at = at.index(program.len());
                let mut changed = program.clone();
                if rename {
                    changed[at].0.push_str("-renamed");
                } else {
                    let kind = changed[at].1;
                    changed[at].1 = KINDS[(KINDS.iter().position(|k| *k == kind).unwrap() + 1) % KINDS.len()];
                }
                let mut replay = journal(kept.clone());
                for (index, (name, kind)) in changed.iter().enumerate() {
                    let answer = replay.reach(name, *kind);
                    if index != at {
                        prop_assert!(answer.is_ok(), "{:?}", answer);
                        continue;
                    }
                    let recorded = kept.iter().any(|r| r.name == program[at].0);
                    match answer {
                        Err(Error::NonDeterminism { .. }) => prop_assert!(recorded),
                        Ok(StepStart::New { seq }) => {
                            prop_assert!(!recorded);
                            prop_assert_eq!(seq, records[at].seq);
                        }
                        other => prop_assert!(false, "unexpected {:?}", other),
                    }
                    break;
                }
            }

            /// Reaching any step a second time is refused, recorded or not.
            #[test]
            fn a_step_reached_twice_is_a_duplicate(
                program in program().prop_filter("a step to repeat", |p| !p.is_empty()),
                committed in proptest::collection::vec(any::<bool>(), 24),
                again in any::<prop::sample::Index>(),
            ) {
                let records = first_execution(&program);
                let kept = records
                    .into_iter()
                    .zip(committed)
                    .filter_map(|(record, kept)| kept.then_some(record))
                    .collect();
                let mut replay = journal(kept);
                for (name, kind) in &program {
                    replay.reach(name, *kind).unwrap();
                }
                let (name, kind) = &program[again.index(program.len())];
                let duplicate = matches!(
                    replay.reach(name, *kind),
                    Err(Error::DuplicateStep { step, .. }) if step == *name
                );
                prop_assert!(duplicate, "{} was reached twice", name);
            }
        }
    }
}
