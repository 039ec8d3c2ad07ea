-- durable's tables (version 1). Timestamps are milliseconds since the Unix
-- epoch; payloads are JSON text.

-- One row per run of a workflow.
CREATE TABLE wf_instance (
    id               TEXT PRIMARY KEY,            -- run id (UUID v7)
    workflow         TEXT NOT NULL,               -- workflow name
    status           TEXT NOT NULL CHECK (status IN
                       ('pending', 'running', 'suspended', 'completed',
                        'failed', 'cancelled', 'timed_out')),
    input            TEXT NOT NULL,               -- JSON
    output           TEXT,                        -- JSON, once completed
    error            TEXT,                        -- once failed
    idempotency_key  TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,                     -- first claimed
    finished_at      INTEGER,
    ready_at         INTEGER,                     -- pending/suspended: when it may run next
    deadline_at      INTEGER,                     -- workflow timeout
    executions       INTEGER NOT NULL DEFAULT 0,  -- times a worker started it
    lease_token      INTEGER NOT NULL DEFAULT 0,  -- fencing token, bumped by every claim and cancel
    lease_owner      TEXT,                        -- worker executing it
    parent_id        TEXT                         -- the run that started it as a child
);
CREATE INDEX wf_instance_parent ON wf_instance (parent_id) WHERE parent_id IS NOT NULL;
CREATE UNIQUE INDEX wf_instance_idempotency
    ON wf_instance (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX wf_instance_ready
    ON wf_instance (ready_at) WHERE status IN ('pending', 'suspended');
CREATE INDEX wf_instance_list
    ON wf_instance (workflow, status, created_at);

-- One row per step of a run: the journal replayed after a restart.
CREATE TABLE wf_step (
    instance_id  TEXT NOT NULL REFERENCES wf_instance (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    seq          INTEGER NOT NULL,               -- order in which the run reached it
    kind         TEXT NOT NULL,                  -- run, sleep, sleep_until, now, uuid
    status       TEXT NOT NULL CHECK (status IN
                   ('pending', 'running', 'completed', 'failed', 'sleeping', 'waiting')),
    input        TEXT,                           -- JSON, if recorded
    output       TEXT,                           -- JSON, once completed
    error        TEXT,                           -- last attempt's error
    attempts     INTEGER NOT NULL DEFAULT 0,
    wake_at      INTEGER,                        -- sleeping / waiting for a retry / wait timeout
    event_name   TEXT,                           -- waiting: the event or signal it waits for
    event_filter TEXT,                           -- waiting: JSON the event's data must contain
    wait_run     TEXT,                           -- waiting: the run whose end it waits for
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (instance_id, name)
) WITHOUT ROWID;
CREATE INDEX wf_step_waiting_event ON wf_step (event_name) WHERE status = 'waiting' AND event_name IS NOT NULL;
CREATE INDEX wf_step_waiting_run ON wf_step (wait_run) WHERE status = 'waiting' AND wait_run IS NOT NULL;

-- Events sent to workflows, and signals sent to one run.
CREATE TABLE wf_event (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    data         TEXT NOT NULL,                  -- JSON
    target_run   TEXT,                           -- a signal: the run it is for
    consumed_by  TEXT,                           -- a signal: the step that took it
    created_at   INTEGER NOT NULL
);
CREATE INDEX wf_event_name ON wf_event (name, created_at);
CREATE INDEX wf_event_signal ON wf_event (target_run, name, id) WHERE target_run IS NOT NULL;

-- Log lines written by runs.
CREATE TABLE wf_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id  TEXT NOT NULL REFERENCES wf_instance (id) ON DELETE CASCADE,
    step         TEXT,
    level        TEXT NOT NULL,
    message      TEXT NOT NULL,
    fields       TEXT,                           -- JSON
    key          TEXT NOT NULL,                  -- position in the run, so a replay does not log twice
    created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX wf_log_key ON wf_log (instance_id, key);
