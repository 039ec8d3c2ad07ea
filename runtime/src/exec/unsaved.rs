//! The step records a run keeps unsaved until its next write, counted so
//! that a branch waiting to write them can tell whether another branch's
//! write already covered every record it must wait for.
//!
//! Without the count, branches of a fan-out form a convoy: each waits its
//! turn to write, finds the one record a sibling kept while it waited, and
//! writes it alone, one commit per branch. A record kept after a branch asked
//! is not one its body must wait for (it comes from a concurrent branch), so
//! the branch may go on once the records kept before it asked are written.

use crate::model::journal::StepRecord;

/// The records kept unsaved, and how many were ever kept and written.
#[derive(Debug, Default)]
pub(crate) struct Unsaved {
    records: Vec<StepRecord>,
    /// Records ever kept in this execution.
    kept: u64,
    /// Records ever kept whose write committed, counted from the first: a
    /// caller that asked when `kept` was at most this needs no write.
    written: u64,
}

/// The records one caller writes, and how far they reach.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The records to write, in the order they were kept.
    pub(crate) records: Vec<StepRecord>,
    /// Once they are written, every record kept before this count is.
    through: u64,
}

impl Unsaved {
    /// Keeps `record` until the run's next write.
    pub(crate) fn push(&mut self, record: StepRecord) {
        self.records.push(record);
        self.kept += 1;
    }

    /// How many records were kept so far: what a caller of
    /// [`Unsaved::batch_for`] must see written.
    pub(crate) fn mark(&self) -> u64 {
        self.kept
    }

    /// The records to write for a caller that must see every record kept
    /// before `mark` written, or `None` when they are (by another caller's
    /// write) or there is nothing to write. Takes every record kept so far,
    /// also those kept after `mark`, so one write serves them all.
    pub(crate) fn batch_for(&mut self, mark: u64) -> Option<Batch> {
        if self.written >= mark || self.records.is_empty() {
            return None;
        }
        Some(Batch {
            records: std::mem::take(&mut self.records),
            through: self.kept,
        })
    }

    /// `batch` is written (committed).
    pub(crate) fn written(&mut self, batch: &Batch) {
        self.written = self.written.max(batch.through);
    }

    /// Every record kept, for a write that ends the execution (a finish or
    /// a suspension carries them).
    pub(crate) fn take_all(&mut self) -> Vec<StepRecord> {
        std::mem::take(&mut self.records)
    }

    /// The records kept and not taken yet.
    #[cfg(test)]
    pub(crate) fn records(&self) -> &[StepRecord] {
        &self.records
    }
}

#[cfg(test)]
mod tests {
    use super::Unsaved;
    use crate::model::journal::StepRecord;
    use crate::model::workflow::StepKind;

    fn record(name: &str) -> StepRecord {
        StepRecord::completed(name, 0, StepKind::Run)
    }

    fn names(records: &[StepRecord]) -> Vec<&str> {
        records.iter().map(|record| record.name.as_str()).collect()
    }

    #[test]
    fn a_caller_waits_only_for_the_records_kept_before_it_asked() {
        let mut unsaved = Unsaved::default();
        unsaved.push(record("a[0]/x"));
        unsaved.push(record("a[1]/x"));
        // Two branches ask while those two are kept.
        let (first, second) = (unsaved.mark(), unsaved.mark());
        let batch = unsaved.batch_for(first).expect("two records to write");
        assert_eq!(names(&batch.records), ["a[0]/x", "a[1]/x"]);
        // A third branch keeps its record while the write is in flight.
        unsaved.push(record("a[2]/x"));
        unsaved.written(&batch);
        // The second branch's records are written: it goes on without a
        // write of its own, and the third record waits for a later one.
        assert!(unsaved.batch_for(second).is_none());
        assert_eq!(names(unsaved.records()), ["a[2]/x"]);
        // A caller that asks now must see the third written.
        let third = unsaved.mark();
        let batch = unsaved.batch_for(third).expect("the third record");
        assert_eq!(names(&batch.records), ["a[2]/x"]);
    }

    #[test]
    fn nothing_to_write_needs_no_write() {
        let mut unsaved = Unsaved::default();
        assert!(unsaved.batch_for(unsaved.mark()).is_none());
        unsaved.push(record("a"));
        assert_eq!(names(&unsaved.take_all()), ["a"]);
        // Taken by a finish or suspension: nothing is left to write.
        assert!(unsaved.batch_for(unsaved.mark()).is_none());
    }
}
