//! The engine's read side for operators: runs listed by filter with keyset
//! cursors, counts by status, a per-minute series, one run in full, and
//! recent events with the runs they woke. Every read goes to the database,
//! so it sees the runs of every engine that shares it.

use crate::engine::Engine;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::listing::{
    EventFilter, EventPage, MinuteCounts, RunDetail, RunFilter, RunPage, StatusCount,
};

/// The most minutes [`Engine::run_series`] reads at once: a day.
const MAX_SERIES_MINUTES: i64 = 1_440;

impl Engine {
    /// A page of runs that pass `filter`, newest first; pass the page's
    /// `next` to [`RunFilter::after`] for the page after it.
    ///
    /// ```no_run
    /// # async fn f(engine: durable::Engine) -> Result<(), durable::Error> {
    /// use durable::{RunFilter, RunStatus};
    /// let mut filter = RunFilter::new().statuses([RunStatus::Failed]);
    /// loop {
    ///     let page = engine.list_runs(&filter).await?;
    ///     for run in &page.runs {
    ///         println!("{} {} {:?}", run.id, run.workflow, run.error);
    ///     }
    ///     match page.next {
    ///         Some(next) => filter = filter.after(next),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<RunPage, Error> {
        filter.validate()?;
        self.core.env.store.list_runs(filter.clone()).await
    }

    /// How many runs there are of each workflow in each status.
    pub async fn count_runs(&self) -> Result<Vec<StatusCount>, Error> {
        self.core.env.store.count_runs().await
    }

    /// Runs started, completed and failed per minute over `[from, until)`
    /// (ms since the epoch), one entry per minute, at most a day of them;
    /// [`Error::InvalidFilter`] for an empty or longer range.
    pub async fn run_series(&self, from: i64, until: i64) -> Result<Vec<MinuteCounts>, Error> {
        let minutes = until.saturating_sub(from) / 60_000;
        if until <= from || minutes > MAX_SERIES_MINUTES {
            return Err(Error::InvalidFilter(format!(
                "a series covers 1 ms to {MAX_SERIES_MINUTES} minutes, not [{from}, {until})"
            )));
        }
        self.core.env.store.run_series(from, until).await
    }

    /// One run with its steps (start and end times, attempts), its parent
    /// and its children; [`Error::RunNotFound`] for an unknown id.
    pub async fn run_detail(&self, id: RunId) -> Result<RunDetail, Error> {
        self.core
            .env
            .store
            .run_detail(id)
            .await?
            .ok_or(Error::RunNotFound(id))
    }

    /// A page of events and signals, newest first, each with the runs whose
    /// waits it settled.
    pub async fn list_events(&self, filter: &EventFilter) -> Result<EventPage, Error> {
        filter.validate()?;
        self.core.env.store.list_events(filter.clone()).await
    }
}
