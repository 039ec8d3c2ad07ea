//! The engine's read side for operators: runs listed by filter with keyset
//! cursors, counts by status, the runs waiting for a version no live worker
//! serves, a per-minute series, one run in full, and recent events with the
//! runs they woke. Every read goes to the database,
//! so it sees the runs of every engine that shares it.

use crate::core::timing::settle_elapsed_sleeps;
use crate::engine::Engine;
use crate::model::error::Error;
use crate::model::ids::RunId;
use crate::model::listing::{
    EventFilter, EventPage, MinuteCounts, RunDetail, RunFilter, RunPage, StatusCount, UnservedRuns,
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
    ///
    /// With [`RunFilter::unserved`] set, only the runs that
    /// [`unserved_runs`](Engine::unserved_runs) counts.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<RunPage, Error> {
        filter.validate()?;
        let live_since = self.core.live_since();
        self.core
            .env
            .store
            .list_runs(filter.clone(), live_since)
            .await
    }

    /// How many runs there are of each workflow in each status.
    pub async fn count_runs(&self) -> Result<Vec<StatusCount>, Error> {
        self.core.env.store.count_runs().await
    }

    /// The runs waiting for a version that no live worker serves, counted
    /// per workflow and version (by workflow, then version): pending,
    /// running or suspended runs pinned to a version ([`RunInfo::version`])
    /// that no live worker of the catalog registers, and runs not pinned
    /// yet of a workflow that no live worker registers at all. Nothing will
    /// execute them until an engine with their version starts (see
    /// "Upgrading workflows" in the README); list them with
    /// [`RunFilter::unserved`].
    ///
    /// A worker is live while its heartbeat in the catalog is no older than
    /// [`STALE_AFTER_HEARTBEATS`](crate::STALE_AFTER_HEARTBEATS) of this
    /// engine's heartbeat interval, by this engine's clock: a stale worker
    /// ([`Engine::is_stale`]) serves nothing here. This engine counts too,
    /// unless it is a client, which records nothing and executes nothing.
    ///
    /// An operator's read, costing O(runs not finished): it reads every
    /// pending, running and suspended run's version, from the status
    /// index's ranges of those statuses (never the finished runs). No index
    /// of its own serves it, so that no run's status change pays for it.
    ///
    /// ```
    /// use durable::prelude::*;
    /// use durable::RunFilter;
    ///
    /// #[workflow(name = "ship", version = 1)]
    /// async fn ship_v1(ctx: Ctx) -> Result<(), Error> {
    ///     ctx.sleep("nap", "1h").await
    /// }
    ///
    /// #[workflow(name = "ship", version = 2)]
    /// async fn ship_v2(ctx: Ctx) -> Result<(), Error> {
    ///     ctx.sleep("nap", "1h").await
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let dir = std::env::temp_dir().join(format!("durable-unserved-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("ship.db");
    /// // A run starts on version 1; then only version 2 is deployed.
    /// let old = Engine::builder().sqlite_file(&path).register(ShipV1).start().await?;
    /// let run = ShipV1::trigger(&old).await?;
    /// old.shutdown().await;
    /// let new = Engine::builder().sqlite_file(&path).register(ShipV2).start().await?;
    /// let waiting = new.unserved_runs().await?;
    /// assert_eq!(waiting[0].workflow, "ship");
    /// assert_eq!((waiting[0].version.as_deref(), waiting[0].runs), (Some("v1"), 1));
    /// let page = new.list_runs(&RunFilter::new().unserved()).await?;
    /// assert_eq!(page.runs[0].id, run.id());
    /// # new.shutdown().await;
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// A database error.
    ///
    /// [`RunInfo::version`]: crate::RunInfo::version
    pub async fn unserved_runs(&self) -> Result<Vec<UnservedRuns>, Error> {
        let live_since = self.core.live_since();
        self.core.env.store.unserved_runs(live_since).await
    }

    /// How long the pending run that has waited longest for a worker has
    /// been due, among the runs due now (a delayed run counts from its
    /// start time, not its trigger); `None` when no pending run is due.
    /// A queue that workers keep up with stays near zero.
    ///
    /// ```no_run
    /// # async fn f(engine: durable::Engine) -> Result<(), durable::Error> {
    /// if let Some(waited) = engine.oldest_pending_age().await? {
    ///     println!("the oldest due run has waited {} ms", waited.as_millis());
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A database error.
    pub async fn oldest_pending_age(&self) -> Result<Option<std::time::Duration>, Error> {
        let now = self.core.env.clock.now_ms();
        let oldest = self.core.env.store.oldest_due_pending(now).await?;
        Ok(oldest.map(|ready_at| {
            std::time::Duration::from_millis(u64::try_from(now - ready_at).unwrap_or(0))
        }))
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
    ///
    /// A sleep whose wake time passed shows `completed`, ended at its wake
    /// time, as in [`RunHandle::steps`](crate::RunHandle::steps).
    pub async fn run_detail(&self, id: RunId) -> Result<RunDetail, Error> {
        let mut detail = self
            .core
            .env
            .store
            .run_detail(id)
            .await?
            .ok_or(Error::RunNotFound(id))?;
        settle_elapsed_sleeps(&mut detail.steps, &detail.run, self.core.env.clock.now_ms());
        Ok(detail)
    }

    /// A page of events and signals, newest first, each with the runs whose
    /// waits it settled.
    pub async fn list_events(&self, filter: &EventFilter) -> Result<EventPage, Error> {
        filter.validate()?;
        self.core.env.store.list_events(filter.clone()).await
    }
}
