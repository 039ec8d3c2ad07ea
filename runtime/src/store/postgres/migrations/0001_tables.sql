-- durable's tables on PostgreSQL (version 1): the same tables as on SQLite,
-- with JSONB payloads. Timestamps are milliseconds since the Unix epoch.

CREATE TABLE wf_instance (
    id                UUID PRIMARY KEY,
    workflow          TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN
                        ('pending', 'running', 'suspended', 'completed',
                         'failed', 'cancelled', 'timed_out')),
    input             JSONB NOT NULL,
    output            JSONB,
    error             TEXT,
    idempotency_key   TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT,
    ready_at          BIGINT,
    deadline_at       BIGINT,
    executions        INTEGER NOT NULL DEFAULT 0,
    lease_token       BIGINT NOT NULL DEFAULT 0,
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    parent_id         UUID
);
CREATE UNIQUE INDEX wf_instance_idempotency
    ON wf_instance (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX wf_instance_ready
    ON wf_instance (ready_at) WHERE status IN ('pending', 'suspended');
CREATE INDEX wf_instance_lease
    ON wf_instance (lease_expires_at) WHERE status = 'running';
CREATE INDEX wf_instance_list ON wf_instance (workflow, status, created_at);
CREATE INDEX wf_instance_parent ON wf_instance (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE wf_step (
    instance_id   UUID NOT NULL REFERENCES wf_instance (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN
                    ('pending', 'running', 'completed', 'failed', 'sleeping', 'waiting')),
    input         JSONB,
    output        JSONB,
    error         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    wake_at       BIGINT,
    event_name    TEXT,
    event_filter  JSONB,
    wait_run      UUID,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (instance_id, name)
);
-- Waiters are found by event name; the containment check (data @> filter)
-- then runs on those rows only.
CREATE INDEX wf_step_waiting_event ON wf_step (event_name) WHERE status = 'waiting' AND event_name IS NOT NULL;
CREATE INDEX wf_step_waiting_run ON wf_step (wait_run) WHERE status = 'waiting' AND wait_run IS NOT NULL;

CREATE TABLE wf_event (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL,
    data         JSONB NOT NULL,
    target_run   UUID,
    consumed_by  TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX wf_event_name ON wf_event (name, created_at);
CREATE INDEX wf_event_signal ON wf_event (target_run, name, id) WHERE target_run IS NOT NULL;

CREATE TABLE wf_log (
    id           BIGSERIAL PRIMARY KEY,
    instance_id  UUID NOT NULL REFERENCES wf_instance (id) ON DELETE CASCADE,
    step         TEXT,
    level        TEXT NOT NULL,
    message      TEXT NOT NULL,
    fields       JSONB,
    key          TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX wf_log_key ON wf_log (instance_id, key);
