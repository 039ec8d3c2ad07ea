//! What can be done to runs, as functions of the engine's core (so that
//! run handles and run sources need no `Engine`): create, cancel, retry,
//! pause and resume, fork, wait for the outcome, and read a run's info,
//! steps, logs and children.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::core::cancel_on::{CancelKey, cancel_keys, cancel_keys_of};
use crate::core::concurrency::{key_at, key_of};
use crate::core::timing::{deadline, settle_elapsed_sleeps};
use crate::engine::core::EngineCore;
use crate::engine::registry::Registered;
use crate::model::catalog::{
    CancelOnInfo, ConcurrencyInfo, DebounceInfo, ThrottleInfo, WorkflowVersion,
};
use crate::model::duration::millis;
use crate::model::error::{Error, clip};
use crate::model::fork::ForkOptions;
use crate::model::ids::RunId;
use crate::model::info::{RunInfo, StepInfo};
use crate::model::lease::Lease;
use crate::model::log::LogLine;
use crate::model::outcome::RunOutcome;
use crate::model::status::RunStatus;
use crate::model::sync::lock;
use crate::model::trigger::TriggerOptions;
use crate::model::workflow::{CancelOn, Concurrency, Debounce, Throttle};
use crate::store::{
    ClaimAtCreate, ClaimedRun, CreateOutcome, Flow, ForkOutcome, NewFork, NewRun, Queue,
    TransitionOutcome,
};

/// How long a result waiter sleeps between checks when no local wake-up
/// arrives (a run finished by another process).
const RESULT_POLL: Duration = Duration::from_millis(500);

/// The workflow a new run is of: registered here, or known from the
/// catalog only (its runs are left to the workers that serve it).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The workflow's name.
    pub(crate) name: String,
    /// Its timeout, if it has one.
    pub(crate) timeout_ms: Option<u64>,
    /// Whether this engine executes it, so may start the run at once.
    pub(crate) here: bool,
    /// The version the run is pinned to; `None` leaves it to the first
    /// claim (the claiming engine's current version).
    pub(crate) version: Option<String>,
    /// The queue its runs wait in (`Workflow::QUEUE`, or the catalog's).
    pub(crate) queue: String,
    /// Its concurrency limit, debounce, throttle and `cancel_on`, which a
    /// run of it is created with, wherever it is triggered.
    pub(crate) controls: Controls,
}

/// A workflow's flow control as a new run of it applies it: the declarations
/// of a registered workflow, copied from its spec (static text, so a
/// trigger allocates nothing for them), or what the catalog recorded of a
/// workflow registered elsewhere. Both give a run the same key, flow and
/// `cancel_on` rows for the same input.
#[derive(Debug, Clone)]
pub(crate) enum Controls {
    /// A registered workflow's (see `Workflow::CONCURRENCY` and the others).
    Declared {
        concurrency: Option<Concurrency>,
        debounce: Option<Debounce>,
        throttle: Option<Throttle>,
        cancel_on: &'static [CancelOn],
    },
    /// A catalog version's (see `WorkflowVersion::concurrency` and the
    /// others).
    Recorded {
        concurrency: Option<ConcurrencyInfo>,
        debounce: Option<DebounceInfo>,
        throttle: Option<ThrottleInfo>,
        cancel_on: Vec<CancelOnInfo>,
    },
}

impl Controls {
    /// The concurrency limit, if the workflow has one.
    pub(crate) fn limit(&self) -> Option<u32> {
        match self {
            Controls::Declared { concurrency, .. } => concurrency.map(|c| c.limit),
            Controls::Recorded { concurrency, .. } => concurrency.as_ref().map(|c| c.limit),
        }
    }

    /// The concurrency key of a run with `input` (as stored), by
    /// `key_of`'s rule.
    pub(crate) fn key(&self, input: &str) -> String {
        match self {
            Controls::Declared { concurrency, .. } => key_of(concurrency.as_ref(), input),
            Controls::Recorded { concurrency, .. } => {
                key_at(concurrency.as_ref().and_then(|c| c.key.as_deref()), input)
            }
        }
    }

    /// The debounce or throttle a run with `input` is created with, as
    /// `Flow::of` says.
    pub(crate) fn flow(&self, input: &str) -> Option<Flow> {
        match self {
            Controls::Declared {
                debounce, throttle, ..
            } => Flow::of(debounce.as_ref(), throttle.as_ref(), input),
            // As `Flow::of` builds it, from the recorded (owned) paths.
            Controls::Recorded {
                debounce, throttle, ..
            } => {
                if let Some(debounce) = debounce {
                    return Some(Flow::Debounce {
                        key: key_at(debounce.key.as_deref(), input),
                        period_ms: debounce.period_ms,
                        max_wait_ms: debounce.max_wait_ms,
                    });
                }
                throttle.as_ref().map(|throttle| Flow::Throttle {
                    key: key_at(throttle.key.as_deref(), input),
                    limit: throttle.limit,
                    period_ms: throttle.period_ms,
                })
            }
        }
    }

    /// The `cancel_on` rows a run with `input` registers.
    pub(crate) fn cancel_keys(&self, input: &str) -> Vec<CancelKey> {
        match self {
            Controls::Declared { cancel_on, .. } => cancel_keys(cancel_on, input),
            Controls::Recorded { cancel_on, .. } => cancel_keys_of(
                cancel_on
                    .iter()
                    .map(|on| (on.event.as_str(), on.matching.as_deref())),
                input,
            ),
        }
    }
}

impl Target {
    /// A run of the registered `registered`, pinned to its version.
    pub(crate) fn registered(registered: &Registered) -> Self {
        let spec = &registered.spec;
        Target {
            name: spec.name.to_owned(),
            timeout_ms: spec.timeout_ms,
            here: true,
            version: Some(spec.version.to_string()),
            queue: spec.queue.to_owned(),
            controls: Controls::Declared {
                concurrency: spec.concurrency,
                debounce: spec.debounce,
                throttle: spec.throttle,
                cancel_on: spec.cancel_on,
            },
        }
    }

    /// A run of a workflow known from the catalog's `version` only: left
    /// to the workers that serve it, pinned at its first claim, with the
    /// flow control the catalog recorded of it.
    pub(crate) fn of_catalog(version: &WorkflowVersion) -> Self {
        Target {
            name: version.name.clone(),
            timeout_ms: version.timeout_ms,
            here: false,
            version: None,
            queue: version.queue.clone(),
            controls: Controls::Recorded {
                concurrency: version.concurrency.clone(),
                debounce: version.debounce.clone(),
                throttle: version.throttle.clone(),
                cancel_on: version.cancel_on.clone(),
            },
        }
    }
}

impl EngineCore {
    /// Creates a run of the current version of the registered `workflow`:
    /// see [`create_in`](Self::create_in).
    pub(crate) async fn create(
        &self,
        workflow: &str,
        input: String,
        options: TriggerOptions,
    ) -> Result<RunId, Error> {
        let target = Target::registered(self.registered(workflow)?);
        self.create_in(target, input, options).await
    }

    /// Creates a run of `target` with its input as stored (checked
    /// already), and starts it here at once when this engine executes the
    /// workflow, the run is due and a slot is free. Returns its id (an
    /// existing run's, for a known idempotency key).
    pub(crate) async fn create_in(
        &self,
        target: Target,
        input: String,
        options: TriggerOptions,
    ) -> Result<RunId, Error> {
        let workflow = target.name.as_str();
        self.env
            .limits
            .check_input(&input, || format!("input of workflow {workflow:?}"))?;
        if self.shut_down.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        let now = self.env.clock.now_ms();
        let ready_at = now
            .saturating_add(options.delay_ms)
            .max(options.start_at_ms.unwrap_or(i64::MIN));
        // A run due now starts here at once if a slot is free: it is created
        // claimed, which saves the claim's write and the dispatcher's trip.
        // A run of a workflow with a concurrency limit too: the store counts
        // its group's running runs as it creates it (`ClaimAtCreate::limit`)
        // and writes it pending when the group is full.
        // A debounced or throttled run's start is the store's to decide.
        let flow = target.controls.flow(&input);
        // Nor a run of a queue this engine does not serve: it is left to
        // the engines that do, as a claim here would leave it.
        let here = target.here && self.config.serves_queue(&target.queue);
        let slot = if ready_at <= now && here && flow.is_none() {
            self.exec.try_take_slot()
        } else {
            None
        };
        let deadline_at = deadline(ready_at, target.timeout_ms);
        let run = NewRun {
            id: RunId::new(),
            workflow: workflow.to_owned(),
            input: input.clone(),
            idempotency_key: options.idempotency_key.clone(),
            now,
            ready_at,
            deadline_at,
            version: target.version.clone(),
            queue: Queue {
                name: target.queue.clone(),
                priority: options.priority,
                concurrency_key: target.controls.key(&input),
            },
            parent_id: None,
            claimed_by: slot.as_ref().map(|_| ClaimAtCreate {
                owner: self.config.owner.clone(),
                lease_expires_at: self
                    .env
                    .store
                    .lease_duration()
                    .map(|lease| now.saturating_add(millis(lease))),
                limit: target.controls.limit(),
            }),
            flow,
            cancel_on: target.controls.cancel_keys(&input),
        };
        match self.env.store.create_run(run).await? {
            CreateOutcome::Created(id) => {
                match slot {
                    Some(slot) => self.exec.start(
                        slot,
                        ClaimedRun {
                            lease: Lease {
                                run_id: id,
                                token: ClaimAtCreate::TOKEN,
                            },
                            workflow: workflow.to_owned(),
                            input,
                            deadline_at,
                            executions: 1,
                            version: target.version,
                            journal: Some(Vec::new()),
                        },
                    ),
                    None => self.env.dispatch.notify_one(),
                }
                Ok(id)
            }
            CreateOutcome::Queued(id) => {
                // Its group is full: the slot goes back, and the run waits
                // for a claim.
                drop(slot);
                self.env.dispatch.notify_one();
                Ok(id)
            }
            CreateOutcome::Existing(id) | CreateOutcome::Joined(id) => Ok(id),
            CreateOutcome::Conflict(run_id) => Err(Error::IdempotencyConflict {
                workflow: workflow.to_owned(),
                key: options.idempotency_key.unwrap_or_default(),
                run_id,
            }),
        }
    }

    /// The run `id` as stored now.
    pub(crate) async fn run_info(&self, id: RunId) -> Result<RunInfo, Error> {
        self.env
            .store
            .get_run(id)
            .await?
            .ok_or(Error::RunNotFound(id))
    }

    /// The runs `id` started as children, oldest first.
    pub(crate) async fn run_children(&self, id: RunId) -> Result<Vec<RunId>, Error> {
        self.env.store.child_runs(id).await
    }

    /// The steps of run `id`, in the order it reached them.
    pub(crate) async fn run_steps(&self, id: RunId) -> Result<Vec<StepInfo>, Error> {
        let journal = self.env.store.load_journal(id).await?;
        // Read after the journal: see `settle_elapsed_sleeps`.
        let run = self.run_info(id).await?;
        let mut steps: Vec<StepInfo> = journal.iter().map(|record| record.to_info()).collect();
        settle_elapsed_sleeps(&mut steps, &run, self.env.clock.now_ms());
        Ok(steps)
    }

    /// The log lines of run `id`, oldest first.
    pub(crate) async fn run_logs(&self, id: RunId) -> Result<Vec<LogLine>, Error> {
        self.env.store.load_logs(id).await
    }

    /// Waits until run `id` ends, and returns how. A run executing on this
    /// engine is not read while it runs: its finish hands the outcome over.
    pub(crate) async fn wait_for_outcome(&self, id: RunId) -> Result<RunOutcome, Error> {
        loop {
            let waiter = self.exec.active.finish_waiter(id);
            let woken = waiter.woken.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let running_here = self.exec.active.contains(id);
            if !running_here {
                let info = self.run_info(id).await?;
                if info.status.is_terminal() {
                    return Ok(outcome_of(info));
                }
            }
            tokio::select! {
                () = woken => {
                    if let Some(outcome) = lock(&waiter.outcome).clone() {
                        return Ok(outcome);
                    }
                }
                () = tokio::time::sleep(RESULT_POLL) => {}
            }
        }
    }

    /// Cancels run `id` (and its unfinished children), stopping it here if
    /// it executes here.
    pub(crate) async fn cancel(&self, id: RunId) -> Result<(), Error> {
        let now = self.env.clock.now_ms();
        let (outcome, cancelled) = self.env.store.cancel_run(id, now).await?;
        self.exec.stop_local(&cancelled);
        match outcome {
            TransitionOutcome::Done => Ok(()),
            TransitionOutcome::Refused(status) => Err(Error::InvalidTransition {
                run_id: id,
                action: "cancel",
                status,
                allowed: "pending, running or suspended",
            }),
            TransitionOutcome::NotFound => Err(Error::RunNotFound(id)),
        }
    }

    /// Pauses (`paused`) or resumes run `id`; an execution of it here
    /// stops before its next step, or goes on.
    pub(crate) async fn set_paused(&self, id: RunId, paused: bool) -> Result<(), Error> {
        let now = self.env.clock.now_ms();
        match self.env.store.set_paused(id, paused, now).await? {
            TransitionOutcome::Done => {
                self.exec.set_paused_local(id, paused);
                if !paused {
                    // It may be due: claim it now rather than at the next
                    // timer.
                    self.env.dispatch.notify_one();
                }
                Ok(())
            }
            TransitionOutcome::Refused(status) => Err(Error::InvalidTransition {
                run_id: id,
                action: if paused { "pause" } else { "resume" },
                status,
                allowed: "pending, running or suspended",
            }),
            TransitionOutcome::NotFound => Err(Error::RunNotFound(id)),
        }
    }

    /// The timeout of `workflow`: registered here, or its latest version's
    /// in the catalog for a workflow served elsewhere.
    async fn timeout_of(&self, workflow: &str) -> Result<Option<u64>, Error> {
        Ok(self
            .target_of(workflow)
            .await?
            .and_then(|target| target.timeout_ms))
    }

    /// The workflow `workflow` as a run of it needs it, its input
    /// unchecked: registered here, or its latest version in the catalog for
    /// a workflow served elsewhere; `None` for a name neither knows.
    async fn target_of(&self, workflow: &str) -> Result<Option<Target>, Error> {
        Ok(match self.registry.get(workflow) {
            Some(registered) => Some(Target::registered(registered)),
            None => self
                .env
                .store
                .workflow_versions(workflow.to_owned())
                .await?
                .first()
                .map(Target::of_catalog),
        })
    }

    /// Starts a fork of the ended run `id` (see `Engine::fork`) and returns
    /// the new run's id.
    pub(crate) async fn fork(&self, id: RunId, options: ForkOptions) -> Result<RunId, Error> {
        let source = self.run_info(id).await?;
        let not_ended = |status| Error::InvalidTransition {
            run_id: id,
            action: "fork",
            status,
            allowed: "completed, failed, cancelled or timed_out",
        };
        if !source.status.is_terminal() {
            return Err(not_ended(source.status));
        }
        let workflow = source.workflow.clone();
        let (target, input) = match options.input {
            // Checked as a trigger's input is.
            Some(input) => {
                let (target, input) = self.checked_target(&workflow, input).await?;
                (Some(target), input)
            }
            None => (self.target_of(&workflow).await?, source.input.to_string()),
        };
        self.env
            .limits
            .check_input(&input, || format!("input of workflow {workflow:?}"))?;
        if self.shut_down.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        let now = self.env.clock.now_ms();
        let timeout_ms = target.as_ref().and_then(|target| target.timeout_ms);
        // Its group and `cancel_on` rows are its input's, as a trigger's
        // (registered here or recorded in the catalog).
        let controls = target.map(|target| target.controls);
        // It waits where its source did (a child sent to another queue
        // included).
        let queue = Queue {
            name: source.queue.clone(),
            priority: 0,
            concurrency_key: controls
                .as_ref()
                .map_or_else(|| key_of(None, &input), |controls| controls.key(&input)),
        };
        let run = NewRun {
            id: RunId::new(),
            cancel_on: controls
                .as_ref()
                .map(|controls| controls.cancel_keys(&input))
                .unwrap_or_default(),
            workflow,
            input,
            idempotency_key: None,
            now,
            ready_at: now,
            deadline_at: deadline(now, timeout_ms),
            // The journal it keeps is that version's.
            version: source.version,
            queue,
            parent_id: None,
            claimed_by: None,
            flow: None,
        };
        let fork = NewFork {
            run,
            source: id,
            from_step: options.from_step,
        };
        let step = clip(&fork.from_step);
        match self.env.store.fork_run(fork).await? {
            ForkOutcome::Created(new) => {
                self.env.dispatch.notify_one();
                Ok(new)
            }
            ForkOutcome::NotEnded(status) => Err(not_ended(status)),
            ForkOutcome::NoSuchStep => Err(Error::StepNotInJournal { run_id: id, step }),
            ForkOutcome::NotFound => Err(Error::RunNotFound(id)),
        }
    }

    /// Moves the failed or timed-out run `id` back to pending.
    pub(crate) async fn retry(&self, id: RunId) -> Result<(), Error> {
        let info = self.run_info(id).await?;
        let timeout_ms = self.timeout_of(&info.workflow).await?;
        let now = self.env.clock.now_ms();
        match self
            .env
            .store
            .retry_run(id, now, deadline(now, timeout_ms))
            .await?
        {
            TransitionOutcome::Done => {
                self.env.dispatch.notify_one();
                Ok(())
            }
            TransitionOutcome::Refused(status) => Err(Error::InvalidTransition {
                run_id: id,
                action: "retry",
                status,
                allowed: "failed or timed_out",
            }),
            TransitionOutcome::NotFound => Err(Error::RunNotFound(id)),
        }
    }
}

/// How a run that ended (`info.status` is terminal) ended.
fn outcome_of(info: RunInfo) -> RunOutcome {
    match info.status {
        RunStatus::Completed => {
            RunOutcome::Completed(info.output.unwrap_or(serde_json::Value::Null).to_string())
        }
        RunStatus::Cancelled => RunOutcome::Cancelled(info.error.unwrap_or_default()),
        RunStatus::TimedOut => RunOutcome::TimedOut,
        _ => RunOutcome::Failed(info.error.unwrap_or_default()),
    }
}
