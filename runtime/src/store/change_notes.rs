//! The notes in which a process tells the others what its commits changed
//! (PostgreSQL's `NOTIFY`), and reading them back: SQL-free, so the format
//! is written once and tested without a database.
//!
//! A note is JSON, `{"o":ORIGIN,"s":SCHEMA,"c":[[RUN,WORKFLOW,AT,STATUS,EXECUTION],…]}`:
//! each entry a run's new status (with its execution when running), or,
//! with `STATUS` null, that the run's steps or logs changed (the note does
//! not say which: the receiver reads them again). `ORIGIN` names the
//! process, whose own listener skips its notes; `SCHEMA` the PostgreSQL
//! schema of the tables, since channels are shared by the whole database:
//! a listener skips the notes of other schemas' runs. PostgreSQL refuses a payload
//! of 8000 bytes or more, so the entries of one batch are split over as many
//! notes as they need, each under [`PAYLOAD_LIMIT`]; nothing is dropped. An
//! entry too long alone (only a workflow name of thousands of bytes makes
//! one) leaves its workflow out, which the receiver reads from the run.

// Only PostgreSQL sends and reads notes; the feed collects their entries
// on either backend (it relays on PostgreSQL only).
#![cfg_attr(
    not(feature = "postgres"),
    allow(dead_code, reason = "notes are sent and read on PostgreSQL only")
)]

use std::collections::HashSet;
use std::sync::Arc;

use crate::model::change::ChangeKind;
use crate::model::ids::RunId;
use crate::model::status::RunStatus;

/// The longest payload a note may have: PostgreSQL's default limit is
/// "shorter than 8000 bytes".
pub(crate) const PAYLOAD_LIMIT: usize = 7_999;

/// One run's change as a note tells it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NoteEntry {
    pub(crate) run_id: RunId,
    /// Empty when the writer did not know it (see `UNKNOWN_WORKFLOW`).
    pub(crate) workflow: Arc<str>,
    pub(crate) at: i64,
    /// The new status and execution; `None`: steps or logs changed.
    pub(crate) status: Option<(RunStatus, Option<i64>)>,
}

impl NoteEntry {
    /// The change a receiver's feed tells for this entry.
    pub(crate) fn kind(&self) -> ChangeKind {
        match self.status {
            Some((status, execution)) => ChangeKind::Status { status, execution },
            None => ChangeKind::Activity,
        }
    }
}

/// The entries of one batch's changes: every status change, and one
/// activity entry per run whose steps or logs changed.
pub(crate) fn entries(changes: &[(RunId, Arc<str>, i64, ChangeKind)]) -> Vec<NoteEntry> {
    let mut active = HashSet::new();
    let mut entries = Vec::new();
    for (run_id, workflow, at, kind) in changes {
        let status = match kind {
            ChangeKind::Status { status, execution } => Some((*status, *execution)),
            // One is enough: the receiver reads all of the run's steps.
            _ if !active.insert(*run_id) => continue,
            _ => None,
        };
        entries.push(NoteEntry {
            run_id: *run_id,
            workflow: workflow.clone(),
            at: *at,
            status,
        });
    }
    entries
}

type Wire<'a> = (String, &'a str, i64, Option<&'static str>, Option<i64>);

fn entry_json(entry: &NoteEntry, workflow: &str) -> String {
    let wire: Wire<'_> = (
        entry.run_id.to_string(),
        workflow,
        entry.at,
        entry.status.map(|(status, _)| status.as_str()),
        entry.status.and_then(|(_, execution)| execution),
    );
    // A tuple of strings and integers always serializes.
    serde_json::to_string(&wire).unwrap_or_default()
}

/// The payloads telling `entries`, in order, each at most `limit` bytes.
pub(crate) fn encode(
    (origin, schema): (&str, &str),
    entries: &[NoteEntry],
    limit: usize,
) -> Vec<String> {
    let head = format!(
        "{{\"o\":{},\"s\":{},\"c\":[",
        serde_json::Value::from(origin),
        serde_json::Value::from(schema)
    );
    let empty = head.len() + 2;
    let mut payloads = Vec::new();
    let mut current = head.clone();
    for entry in entries {
        let mut json = entry_json(entry, &entry.workflow);
        if empty + json.len() > limit {
            json = entry_json(entry, "");
        }
        let comma = usize::from(current.len() > head.len());
        if current.len() > head.len() && current.len() + comma + json.len() + 2 > limit {
            current.push_str("]}");
            payloads.push(std::mem::replace(&mut current, head.clone()));
        }
        if current.len() > head.len() {
            current.push(',');
        }
        current.push_str(&json);
    }
    if current.len() > head.len() {
        current.push_str("]}");
        payloads.push(current);
    }
    payloads
}

/// An entry as read: run, workflow, at, status, execution.
type ReadEntry = (String, String, i64, Option<String>, Option<i64>);

#[derive(serde::Deserialize)]
struct Note {
    o: String,
    s: String,
    c: Vec<ReadEntry>,
}

/// A payload's origin, schema and entries; `None` for one not in this
/// format (from a newer or foreign sender), which the receiver skips.
pub(crate) fn decode(payload: &str) -> Option<(String, String, Vec<NoteEntry>)> {
    let note: Note = serde_json::from_str(payload).ok()?;
    let mut entries = Vec::with_capacity(note.c.len());
    for (run_id, workflow, at, status, execution) in note.c {
        let status = match status {
            Some(text) => Some((RunStatus::parse(&text)?, execution)),
            None => None,
        };
        entries.push(NoteEntry {
            run_id: run_id.parse().ok()?,
            workflow: workflow.into(),
            at,
            status,
        });
    }
    Some((note.o, note.s, entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::status::StepStatus;

    fn status(workflow: &str, status: RunStatus, execution: Option<i64>) -> NoteEntry {
        NoteEntry {
            run_id: RunId::new(),
            workflow: workflow.into(),
            at: 1_700_000_000_000,
            status: Some((status, execution)),
        }
    }

    #[test]
    fn a_note_reads_back_as_written() {
        let entries = vec![
            status("orders", RunStatus::Running, Some(2)),
            status("", RunStatus::Cancelled, None),
            NoteEntry {
                status: None,
                ..status("mail \"quoted\"", RunStatus::Pending, None)
            },
        ];
        let payloads = encode(("origin-1", "public"), &entries, PAYLOAD_LIMIT);
        assert_eq!(payloads.len(), 1);
        let read = Some(("origin-1".into(), "public".into(), entries));
        assert_eq!(decode(&payloads[0]), read);
    }

    #[test]
    fn many_changes_split_over_notes_under_the_limit_in_order() {
        let entries: Vec<_> = (0..500)
            .map(|i| status("orders", RunStatus::Completed, Some(i)))
            .collect();
        let payloads = encode(("o", "s"), &entries, PAYLOAD_LIMIT);
        assert!(payloads.len() > 1, "500 entries do not fit one note");
        assert!(payloads.iter().all(|p| p.len() <= PAYLOAD_LIMIT));
        let read: Vec<_> = payloads.iter().flat_map(|p| decode(p).unwrap().2).collect();
        assert_eq!(read, entries);
    }

    #[test]
    fn an_entry_too_long_alone_leaves_its_workflow_out() {
        let long = "w".repeat(PAYLOAD_LIMIT);
        let entries = vec![status(&long, RunStatus::Failed, None)];
        let payloads = encode(("o", "s"), &entries, PAYLOAD_LIMIT);
        let (_, _, read) = decode(&payloads[0]).unwrap();
        assert!(payloads[0].len() <= PAYLOAD_LIMIT);
        assert_eq!(&*read[0].workflow, "");
        assert_eq!(read[0].status, entries[0].status);
    }

    #[test]
    fn a_batch_tells_statuses_and_one_activity_per_run() {
        let run = RunId::new();
        let name: Arc<str> = "orders".into();
        let step = ChangeKind::Step {
            name: "a".into(),
            status: StepStatus::Completed,
            attempts: 1,
            duration_ms: Some(3),
        };
        let finished = ChangeKind::Status {
            status: RunStatus::Completed,
            execution: None,
        };
        let changes = vec![
            (run, name.clone(), 1, step.clone()),
            (run, name.clone(), 2, ChangeKind::Log),
            (run, name.clone(), 3, step),
            (run, name.clone(), 4, finished),
        ];
        let told = entries(&changes);
        let kinds: Vec<_> = told.iter().map(NoteEntry::kind).collect();
        assert_eq!(
            kinds,
            vec![
                ChangeKind::Activity,
                ChangeKind::Status {
                    status: RunStatus::Completed,
                    execution: None
                }
            ]
        );
    }

    #[test]
    fn a_payload_of_another_format_is_skipped() {
        assert_eq!(decode(""), None);
        assert_eq!(
            decode(r#"{"o":"x","s":"","c":[["not-a-run","w",1,null,null]]}"#),
            None
        );
        assert_eq!(
            decode(r#"{"o":"x","s":"","c":[["x","w",1,"sleeping",null]]}"#),
            None
        );
    }
}
