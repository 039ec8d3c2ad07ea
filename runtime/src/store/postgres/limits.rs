//! Runs claimed within a concurrency limit as they are created, on
//! PostgreSQL: `running` if their group has a free slot, else `pending`
//! for a claim, counted under the workflow's lock that claims hold too.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::cancel_on::register;
use super::notify::Notes;
use super::runs::{CreateColumns, key_holder};
use crate::model::error::Error;
use crate::store::ops::{Slots, WriteOp, WriteOut};
use crate::store::{ClaimAtCreate, CreateOutcome, NewRun};

/// The runs claimed within a limit that a batch creates, in one statement:
/// each `running` under its claim if fewer than its limit (`$15`) of the
/// runs of its workflow and concurrency key run, counting the runs of its
/// group before it in the batch (`$16`, its place among them from 1), else
/// `pending`. The counts read along the indexes a claim's do
/// (`claims::running_of_group`): of running keyed runs for a key, of
/// workflow and status for a workflow limited as a whole. A taken
/// idempotency key inserts nothing. Its rows: each run written, and
/// whether it was claimed.
const CREATE_LIMITED_SQL: &str = "\
WITH v AS ( \
  SELECT v.*, v.nth + CASE WHEN v.ckey = '' \
      THEN (SELECT COUNT(*) FROM wf_instance AS r WHERE r.status = 'running' \
        AND r.workflow = v.workflow AND r.concurrency_key = '') \
      ELSE (SELECT COUNT(*) FROM wf_instance AS r WHERE r.status = 'running' \
        AND r.concurrency_key <> '' AND r.workflow = v.workflow \
        AND r.concurrency_key = v.ckey) END <= v.lim AS free \
  FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], \
    $7::bigint[], $8::text[], $9::bigint[], $10::text[], $11::int[], $12::text[], \
    $13::text[], $15::bigint[], $16::bigint[]) \
    AS v(id, workflow, input, key, now, ready, deadline, owner, expires, version, priority, \
      ckey, queue, lim, nth)), \
created AS ( \
  INSERT INTO wf_instance (id, workflow, status, input, idempotency_key, created_at, \
    updated_at, ready_at, deadline_at, lease_owner, lease_expires_at, lease_token, \
    executions, started_at, version, priority, concurrency_key, queue) \
  SELECT v.id::uuid, v.workflow, CASE WHEN v.free THEN 'running' ELSE 'pending' END, \
    v.input::jsonb, v.key, v.now, v.now, CASE WHEN v.free THEN NULL ELSE v.ready END, \
    v.deadline, CASE WHEN v.free THEN v.owner END, CASE WHEN v.free THEN v.expires END, \
    CASE WHEN v.free THEN $14 ELSE 0 END, CASE WHEN v.free THEN 1 ELSE 0 END, \
    CASE WHEN v.free THEN v.now END, v.version, v.priority, v.ckey, v.queue \
  FROM v \
  ON CONFLICT (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
  RETURNING id, lease_owner IS NOT NULL AS claimed) \
SELECT id::text, claimed FROM created";

/// Creates the runs at `indices` (each a `Create` claimed within a
/// concurrency limit: see `ClaimAtCreate::limit`) in one statement (see
/// [`CREATE_LIMITED_SQL`]): `running` under its claim where its group has a
/// free slot, else `pending`, which tells every engine to claim.
///
/// The batch's transaction holds the workflows' locks already
/// (`writer::lock_limited_workflows`, taken before its first statement):
/// the counts read what every claim and create of these workflows that
/// held a lock before committed, and none of them counts until this
/// commits.
pub(super) async fn create_limited_runs(
    connection: &mut PgConnection,
    ops: &[WriteOp],
    indices: &[usize],
    results: &mut Slots,
    notes: &mut Notes,
) -> Result<(), Error> {
    let runs: Vec<(usize, &NewRun, &ClaimAtCreate)> = indices
        .iter()
        .filter_map(|&index| match &ops[index] {
            WriteOp::Create(run) => run.claim_within_limit().map(|claim| (index, run, claim)),
            _ => None,
        })
        .collect();
    let mut columns = LimitedColumns::default();
    let mut places: HashMap<(&str, &str), i64> = HashMap::new();
    for (_, run, claim) in &runs {
        let place = places
            .entry((run.workflow.as_str(), run.queue.concurrency_key.as_str()))
            .or_default();
        *place += 1;
        columns.push(run, claim, *place);
    }
    let runs_columns = &columns.runs;
    let rows: Vec<(String, bool)> = sqlx::query_as(CREATE_LIMITED_SQL)
        .bind(&runs_columns.ids)
        .bind(&runs_columns.workflows)
        .bind(&runs_columns.inputs)
        .bind(&runs_columns.keys)
        .bind(&runs_columns.nows)
        .bind(&runs_columns.ready)
        .bind(&runs_columns.deadlines)
        .bind(&runs_columns.owners)
        .bind(&runs_columns.lease_expiries)
        .bind(&runs_columns.versions)
        .bind(&runs_columns.priorities)
        .bind(&runs_columns.concurrency_keys)
        .bind(&runs_columns.queues)
        .bind(ClaimAtCreate::TOKEN)
        .bind(&columns.limits)
        .bind(&columns.places)
        .fetch_all(&mut *connection)
        .await?;
    let written: HashMap<String, bool> = rows.into_iter().collect();
    for (index, run, _) in runs {
        let outcome = match written.get(&run.id.to_string()) {
            Some(&claimed) => {
                register(connection, run).await?;
                if claimed {
                    CreateOutcome::Created(run.id)
                } else {
                    // The other engines claim it when a slot frees, or now
                    // if one freed meanwhile.
                    notes.wake = true;
                    CreateOutcome::Queued(run.id)
                }
            }
            // Its idempotency key is taken (also by another run of this
            // batch).
            None => key_holder(connection, run).await?,
        };
        results[index] = Some(Ok(WriteOut::Created(outcome)));
    }
    Ok(())
}

/// The columns of the runs of [`CREATE_LIMITED_SQL`], one array each:
/// those of every create, and each run's limit and place in its group.
#[derive(Default)]
struct LimitedColumns<'a> {
    runs: CreateColumns<'a>,
    limits: Vec<Option<i64>>,
    places: Vec<i64>,
}

impl<'a> LimitedColumns<'a> {
    fn push(&mut self, run: &'a NewRun, claim: &ClaimAtCreate, place: i64) {
        self.runs.push(run);
        self.limits.push(claim.limit.map(i64::from));
        self.places.push(place);
    }
}
