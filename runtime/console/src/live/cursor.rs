//! What a client of one run's stream has seen, as the id of each event:
//! the run's status and execution, how many log lines, and each step's
//! status and attempts. A stream resumed with `Last-Event-ID` starts from
//! that and sends only what differs from the run as it is now, so nothing
//! is lost or sent twice.
//!
//! The text is `<run>.<logs>.<steps>`: `<run>` is a status letter and the
//! execution count (`r1`), with `P` after it while the run is paused
//! (`s2P`), or `-` before the run was seen; `<steps>` lists
//! groups `<seq>:<letter><attempts>[*<count>]`, one per run of consecutive
//! positions in the same state, so a fan-out of a thousand completed steps
//! stays a few characters (`0:c1*1000`).

use std::collections::BTreeMap;

use durable::{RunStatus, StepStatus};

/// A client's view of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// The run's status, executions and whether it is paused, once sent.
    pub(crate) run: Option<(RunStatus, i64, bool)>,
    /// How many log lines were sent (they only grow).
    pub(crate) logs: usize,
    /// Each step's status and attempts, by position.
    pub(crate) steps: BTreeMap<i64, (StepStatus, u32)>,
}

const RUN_LETTERS: &[(RunStatus, char)] = &[
    (RunStatus::Pending, 'p'),
    (RunStatus::Running, 'r'),
    (RunStatus::Suspended, 's'),
    (RunStatus::Completed, 'c'),
    (RunStatus::Failed, 'f'),
    (RunStatus::Cancelled, 'x'),
    (RunStatus::TimedOut, 't'),
];

const STEP_LETTERS: &[(StepStatus, char)] = &[
    (StepStatus::Pending, 'p'),
    (StepStatus::Running, 'r'),
    (StepStatus::Completed, 'c'),
    (StepStatus::Failed, 'f'),
    (StepStatus::Sleeping, 's'),
    (StepStatus::Waiting, 'w'),
];

fn letter<T: PartialEq + Copy>(table: &[(T, char)], value: T) -> char {
    table
        .iter()
        .find(|(known, _)| *known == value)
        .map_or('?', |(_, letter)| *letter)
}

fn from_letter<T: Copy>(table: &[(T, char)], letter: char) -> Option<T> {
    table
        .iter()
        .find(|(_, known)| *known == letter)
        .map(|(value, _)| *value)
}

/// A letter and a number: `r1`.
fn token<T: Copy>(table: &[(T, char)], text: &str) -> Option<(T, u64)> {
    let mut chars = text.chars();
    let value = from_letter(table, chars.next()?)?;
    let number = chars.as_str().parse().ok()?;
    Some((value, number))
}

impl Cursor {
    /// The cursor as an event id.
    pub(crate) fn encode(&self) -> String {
        let run = match self.run {
            Some((status, executions, paused)) => format!(
                "{}{executions}{}",
                letter(RUN_LETTERS, status),
                if paused { "P" } else { "" }
            ),
            None => "-".to_owned(),
        };
        let mut groups: Vec<(i64, (StepStatus, u32), usize)> = Vec::new();
        for (&seq, &state) in &self.steps {
            match groups.last_mut() {
                Some((first, last_state, count))
                    if *last_state == state && *first + *count as i64 == seq =>
                {
                    *count += 1;
                }
                _ => groups.push((seq, state, 1)),
            }
        }
        let steps: Vec<String> = groups
            .iter()
            .map(|(seq, (status, attempts), count)| {
                let letter = letter(STEP_LETTERS, *status);
                match count {
                    1 => format!("{seq}:{letter}{attempts}"),
                    _ => format!("{seq}:{letter}{attempts}*{count}"),
                }
            })
            .collect();
        format!("{run}.{}.{}", self.logs, steps.join(","))
    }

    /// Reads an event id this stream gave; `None` for any other text.
    pub(crate) fn parse(text: &str) -> Option<Cursor> {
        let mut parts = text.trim().splitn(3, '.');
        let (run, logs, steps) = (parts.next()?, parts.next()?, parts.next()?);
        let run = match run {
            "-" => None,
            text => {
                let (text, paused) = match text.strip_suffix('P') {
                    Some(text) => (text, true),
                    None => (text, false),
                };
                let (status, executions) = token(RUN_LETTERS, text)?;
                Some((status, i64::try_from(executions).ok()?, paused))
            }
        };
        let mut cursor = Cursor {
            run,
            logs: logs.parse().ok()?,
            steps: BTreeMap::new(),
        };
        for group in steps.split(',').filter(|group| !group.is_empty()) {
            let (seq, state) = group.split_once(':')?;
            let seq: i64 = seq.parse().ok()?;
            let (state, count) = match state.split_once('*') {
                Some((state, count)) => (state, count.parse::<i64>().ok()?),
                None => (state, 1),
            };
            // A bound on what a client can make the server build.
            if !(1..=1_000_000).contains(&count) || cursor.steps.len() as i64 + count > 1_000_000 {
                return None;
            }
            let (status, attempts) = token(STEP_LETTERS, state)?;
            let attempts = u32::try_from(attempts).ok()?;
            for offset in 0..count {
                cursor
                    .steps
                    .insert(seq.checked_add(offset)?, (status, attempts));
            }
        }
        Some(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_wrote() {
        let mut cursor = Cursor {
            run: Some((RunStatus::Running, 2, false)),
            logs: 7,
            steps: BTreeMap::new(),
        };
        for seq in 0..1000 {
            cursor.steps.insert(seq, (StepStatus::Completed, 1));
        }
        cursor.steps.insert(1000, (StepStatus::Running, 3));
        cursor.steps.insert(1002, (StepStatus::Waiting, 0));
        let text = cursor.encode();
        assert_eq!(text, "r2.7.0:c1*1000,1000:r3,1002:w0");
        assert_eq!(Cursor::parse(&text), Some(cursor));
        let paused = Cursor {
            run: Some((RunStatus::Suspended, 3, true)),
            ..Cursor::default()
        };
        assert_eq!(paused.encode(), "s3P.0.");
        assert_eq!(Cursor::parse("s3P.0."), Some(paused));
        let empty = Cursor::default();
        assert_eq!(empty.encode(), "-.0.");
        assert_eq!(Cursor::parse("-.0."), Some(empty));
    }

    #[test]
    fn other_text_is_no_cursor() {
        for text in [
            "",
            "12",
            "q1.0.",
            "r1.x.",
            "r1.0.0:z1",
            "r1.0.0:c1*0",
            "r1.0.0:c1*99999999",
            "r.0.",
            "rP.0.",
            "r1PP.0.",
            "r1.0.a:c1",
        ] {
            assert_eq!(Cursor::parse(text), None, "{text:?}");
        }
    }
}
