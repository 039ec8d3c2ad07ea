-- durable's tables, version 16: what cancels a run of a workflow with
-- `#[workflow(cancel_on(..))]`. Each of its runs records, as it is created,
-- one row per `cancel_on`: the event's name, the path compared ('' without
-- `match`) and the compact JSON of its input's value there ('' too). An
-- event looks up the live rows of its name by the index below. Runs of
-- other workflows write nothing here: `wf_instance.cancel_on` is false for
-- them, so the triggers' conditions (evaluated without calling the
-- function) leave their ends and deletions alone.
ALTER TABLE wf_instance ADD COLUMN cancel_on BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE wf_cancel_on (
    run_id  UUID NOT NULL,
    event   TEXT NOT NULL,
    path    TEXT NOT NULL,
    value   TEXT NOT NULL,
    -- True while the run is unfinished: an ended run leaves the index (a
    -- retried one comes back), so an event never reads the ended runs.
    live    BOOLEAN NOT NULL DEFAULT true,
    PRIMARY KEY (run_id, event, path)
);

CREATE INDEX wf_cancel_on_event ON wf_cancel_on (event, path, value) WHERE live;

CREATE FUNCTION wf_cancel_on_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM wf_cancel_on WHERE run_id = OLD.id;
    ELSE
        UPDATE wf_cancel_on SET live = NEW.status IN ('pending', 'running', 'suspended')
        WHERE run_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER wf_cancel_on_end AFTER UPDATE OF status ON wf_instance FOR EACH ROW
WHEN (NEW.cancel_on AND (OLD.status IN ('pending', 'running', 'suspended'))
      IS DISTINCT FROM (NEW.status IN ('pending', 'running', 'suspended')))
EXECUTE FUNCTION wf_cancel_on_follow();

-- Retention deletes a run's rows with it.
CREATE TRIGGER wf_cancel_on_gone AFTER DELETE ON wf_instance FOR EACH ROW
WHEN (OLD.cancel_on)
EXECUTE FUNCTION wf_cancel_on_follow();
