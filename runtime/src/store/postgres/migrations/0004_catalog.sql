-- durable's tables on PostgreSQL (version 4): the catalog. Every engine records
-- the workflow versions it serves and itself, so a process with only the
-- database reads which workflows exist, their schemas and step manifests,
-- and who serves them. JSON is JSONB (users may query it); times are ms
-- since the epoch. The same tables as SQLite's migration 3.

-- One row per version of a workflow: its name and the fingerprint of its
-- steps and schemas.
CREATE TABLE wf_workflow (
    name          TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    input_schema  JSONB NOT NULL,
    output_schema JSONB,
    -- The steps the macro found, in source order: name, kind, keyed,
    -- options, fan-out parent, source line.
    manifest      JSONB NOT NULL,
    timeout_ms    BIGINT,
    cron          TEXT,
    timezone      TEXT,
    first_seen    BIGINT NOT NULL,
    last_seen     BIGINT NOT NULL,
    PRIMARY KEY (name, fingerprint)
);

-- One row per running engine, removed when it stops.
CREATE TABLE wf_worker (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           BIGINT NOT NULL,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL,
    -- The versions it serves: a JSON array of {"name", "fingerprint"}.
    workflows     JSONB NOT NULL
);
