-- durable's tables, version 6: the workflow version each run is pinned to
-- (`v2` for a declared `#[workflow(version = 2)]`, else the fingerprint of
-- its manifest), so that only engines that register that version claim it.
-- NULL for a run that has not been claimed yet (its first claim pins it to
-- the claiming engine's current version) and for every run written before
-- version 6, which any engine serving its workflow may claim, as before.
ALTER TABLE wf_instance ADD COLUMN version TEXT;
