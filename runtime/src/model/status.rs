//! The statuses of runs and steps, as stored in the database.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// Reads the text stored in the database.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_enum! {
    /// The status of a run (`wf_instance.status`).
    RunStatus {
        /// Waiting to be claimed by a worker (new, delayed, or retried).
        Pending = "pending",
        /// A worker is executing it, or holds it in memory through a short
        /// wait, such as the end of a sleep it was claimed just before.
        Running = "running",
        /// Waiting for a timer; no worker holds it and it costs no memory.
        Suspended = "suspended",
        /// Finished with an output.
        Completed = "completed",
        /// Finished with an error.
        Failed = "failed",
        /// Cancelled before it finished.
        Cancelled = "cancelled",
        /// Passed its workflow timeout.
        TimedOut = "timed_out",
    }
}

impl RunStatus {
    /// Whether the run has finished for good (until a `retry`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled | RunStatus::TimedOut
        )
    }

    /// Every status, in the order a run may go through them.
    ///
    /// ```
    /// use durable::RunStatus;
    /// assert_eq!(RunStatus::ALL.len(), 7);
    /// assert!(RunStatus::ALL.iter().all(|s| RunStatus::parse(s.as_str()) == Some(*s)));
    /// ```
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Suspended,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::TimedOut,
    ];
}

status_enum! {
    /// The status of a step (`wf_step.status`).
    ///
    /// A run that ends (cancelled, timed out, failed) while one of its steps
    /// sleeps or waits leaves that step as it was, `sleeping` or `waiting`:
    /// it shows where the run stopped. Nothing completes it after the end:
    /// its wake time passing does not, nor does an event or signal sent
    /// later. (A step waiting for another run is still settled when that
    /// run ends, `failed` unless it completed, so that a `retry` of the
    /// waiting run starts it again; a parent's timeout or cancel cancels
    /// its children in the same write, which fails its `invoke` step.)
    StepStatus {
        /// Waiting for its next attempt (after a failed one).
        Pending = "pending",
        /// An attempt is running.
        Running = "running",
        /// Finished; its output is recorded and will only be replayed.
        Completed = "completed",
        /// Gave up; its error is recorded.
        Failed = "failed",
        /// A durable sleep that has not reached its wake time (or whose run
        /// ended before it did).
        Sleeping = "sleeping",
        /// Waiting for an event, a signal or another run (or its run ended
        /// while it waited).
        Waiting = "waiting",
    }
}

impl StepStatus {
    /// Whether the step has ended for good: completed or failed.
    pub fn is_finished(self) -> bool {
        matches!(self, StepStatus::Completed | StepStatus::Failed)
    }
}
