/* 60_runs.sql: reconcile.run and what it records: runs, results, cleared rows, the audit log */

----------------------------------------------------------------------------
-- Internal: identities that unique indexes can hold
----------------------------------------------------------------------------

-- A btree entry holds at most about 2.7 kB, and an id may be a megabyte: unique indexes on source
-- rows are on the SHA-256 of what identifies them, with NULL and '' apart (src/identity.c).
CREATE FUNCTION reconcile.row_ident(key text, id text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rc_row_ident'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.row_ident(text, text) IS
'Internal: the identity of a source row within its side (key, NULL apart from '''', and id), as a SHA-256 a unique index can hold';

CREATE FUNCTION reconcile.item_ident(key text, ledger_id text, statement_id text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rc_item_ident'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.item_ident(text, text, text) IS
'Internal: the identity of an item (key, ledger row, statement row), as a SHA-256 a unique index can hold';

----------------------------------------------------------------------------
-- Tables
----------------------------------------------------------------------------

CREATE TABLE reconcile.runs (
    run_id         bigserial PRIMARY KEY,
    name           text NOT NULL,
    as_of          date NOT NULL,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    run_by         name NOT NULL,
    ledger_rows    bigint NOT NULL DEFAULT 0,
    statement_rows bigint NOT NULL DEFAULT 0,
    counts         jsonb NOT NULL DEFAULT '{}',
    recon_id       bigint,
    ledger_mark    text,
    statement_mark text
);
CREATE INDEX ON reconcile.runs (name, run_id);
CREATE INDEX ON reconcile.runs (recon_id, run_id);
COMMENT ON TABLE reconcile.runs IS 'One row per reconcile.run: when, by whom, as of which date, how many rows and how many per category';
COMMENT ON COLUMN reconcile.runs.run_id IS 'Run id, returned by reconcile.run';
COMMENT ON COLUMN reconcile.runs.name IS 'Reconciliation';
COMMENT ON COLUMN reconcile.runs.as_of IS 'Date the run reconciled as of (in_transit and aging count from it)';
COMMENT ON COLUMN reconcile.runs.started_at IS 'Start of the run';
COMMENT ON COLUMN reconcile.runs.finished_at IS 'End of the run';
COMMENT ON COLUMN reconcile.runs.run_by IS 'Role that ran it';
COMMENT ON COLUMN reconcile.runs.ledger_rows IS 'Ledger rows the run matched (those not cleared by earlier runs)';
COMMENT ON COLUMN reconcile.runs.statement_rows IS 'Statement rows the run matched (those not cleared by earlier runs)';
COMMENT ON COLUMN reconcile.runs.counts IS 'Result rows per category, {"matched": 120, ...}';
COMMENT ON COLUMN reconcile.runs.recon_id IS 'The registration the run was made for (reconciliations.id); NULL for history from before 0.4.0 that belonged to a dropped reconciliation';
COMMENT ON COLUMN reconcile.runs.ledger_mark IS 'The greatest ledger seq when the run began (SPEC 5a), as text: the next run reads the ledger rows past it and the open ones; NULL when the ledger maps no seq or had none (the next run reads it whole); a run that row level security narrows keeps the mark it was given';
COMMENT ON COLUMN reconcile.runs.statement_mark IS 'The greatest statement seq when the run began, as ledger_mark';

CREATE TABLE reconcile.results (
    run_id           bigint NOT NULL,
    name             text NOT NULL,
    key              text,
    ledger_id        text,
    statement_id     text,
    category         reconcile.category NOT NULL,
    amount_diff      numeric,
    days_diff        integer,
    score            double precision,
    group_id         integer,
    note             text,
    ledger_amount    numeric,
    statement_amount numeric,
    ledger_date      date,
    statement_date   date,
    recon_id         bigint,
    review           boolean
);
CREATE INDEX ON reconcile.results (run_id);
COMMENT ON TABLE reconcile.results IS 'What each run found: the columns of <name>_matches for the rows the run matched';
COMMENT ON COLUMN reconcile.results.run_id IS 'Run';
COMMENT ON COLUMN reconcile.results.name IS 'Reconciliation';
COMMENT ON COLUMN reconcile.results.key IS 'Group key (currency, shop, ...)';
COMMENT ON COLUMN reconcile.results.ledger_id IS 'Ledger row, NULL when absent';
COMMENT ON COLUMN reconcile.results.statement_id IS 'Statement row, NULL when absent';
COMMENT ON COLUMN reconcile.results.category IS 'Category';
COMMENT ON COLUMN reconcile.results.amount_diff IS 'Statement minus ledger amount (a group''s on its first member)';
COMMENT ON COLUMN reconcile.results.days_diff IS 'Statement minus ledger date, in days';
COMMENT ON COLUMN reconcile.results.score IS 'Closeness in [0,1], 1 = exact';
COMMENT ON COLUMN reconcile.results.review IS 'True for a match the run held back for review (its score below review_below, 0.6.0): not cleared, a suggested item instead; NULL without review';
COMMENT ON COLUMN reconcile.results.group_id IS 'Group of a many_to_one / one_to_many set, a manual set or a fee_difference payout batch, within the run and key';
COMMENT ON COLUMN reconcile.results.note IS 'Short reason';
COMMENT ON COLUMN reconcile.results.ledger_amount IS 'Amount of the ledger row';
COMMENT ON COLUMN reconcile.results.statement_amount IS 'Amount of the statement row';
COMMENT ON COLUMN reconcile.results.ledger_date IS 'Date of the ledger row';
COMMENT ON COLUMN reconcile.results.statement_date IS 'Date of the statement row';
COMMENT ON COLUMN reconcile.results.recon_id IS 'The registration the run was made for';

-- Rows a run matched (or a user matched by hand): later runs leave them alone.  A partition per
-- registration, reconcile.cleared_<recon_id>, made bare with the registration
-- (reconcile.cleared_partition): a first run over years of history clears millions, fills the
-- partition, and then builds its indexes (building an index is several times cheaper than
-- maintaining one row by row).  The indexes are each partition's own (reconcile.cleared_index),
-- not the parent's: pg_dump restores a partition of an extension's table with the indexes it
-- dumped, which a partitioned index would have made already when the partition was attached.
CREATE TABLE reconcile.cleared (
    name      text NOT NULL,
    is_ledger boolean NOT NULL,
    key       text,                     -- NULL when the reconciliation has no key, or the row none
    id        text NOT NULL,
    category  reconcile.category NOT NULL,
    run_id    bigint,                   -- a manual match: the run that reported it, NULL until then
    match_tag text NOT NULL,            -- shared by the rows matched together
    recon_id  bigint,
    made_by   name                      -- a manual match: who made it
) PARTITION BY LIST (recon_id);
COMMENT ON TABLE reconcile.cleared IS 'Rows cleared by a run (matched, matched_within_tolerance, many_to_one, one_to_many) or by reconcile.manual_match; later runs do not match them again.  A partition per registration, reconcile.cleared_<recon_id>';
COMMENT ON COLUMN reconcile.cleared.match_tag IS 'The rows matched together share it; reconcile.unmatch releases them together';
COMMENT ON COLUMN reconcile.cleared.recon_id IS 'The registration the rows were cleared for';
COMMENT ON COLUMN reconcile.cleared.made_by IS 'The role that matched the row by hand (a manual match; NULL for rows a run cleared)';

-- Rows reconcile.unmatch released: no run has read them since, and a run that reads from a mark
-- (SPEC 5a) reads them by id.  Few, and emptied by the next run that sees both sources whole.
CREATE TABLE reconcile.released (
    recon_id  bigint NOT NULL,
    is_ledger boolean NOT NULL,
    key       text,
    id        text NOT NULL
);
CREATE UNIQUE INDEX released_identity ON reconcile.released (recon_id, is_ledger, reconcile.row_ident(key, id));
COMMENT ON TABLE reconcile.released IS 'Rows reconcile.unmatch released that no run has read since: a run that reads from its mark reads them too';
COMMENT ON COLUMN reconcile.released.recon_id IS 'The registration';
COMMENT ON COLUMN reconcile.released.is_ledger IS 'Side of the row';
COMMENT ON COLUMN reconcile.released.key IS 'Key of the row';
COMMENT ON COLUMN reconcile.released.id IS 'Id of the row';

-- Rows a run cleared (or a manual match of which it reported) that a live item still holds, or that
-- unmatch had released: a run that reads from a mark (SPEC 5a) reads the live items' rows by id,
-- and leaves these out without looking each of them up in the cleared rows' index.  Few: a
-- resolved item whose rows are now matched elsewhere, an item out of a narrowed run's sight.
CREATE TABLE reconcile.skipped (
    recon_id  bigint NOT NULL,
    is_ledger boolean NOT NULL,
    key       text,
    id        text NOT NULL
);
CREATE UNIQUE INDEX skipped_identity ON reconcile.skipped (recon_id, is_ledger, reconcile.row_ident(key, id));
COMMENT ON TABLE reconcile.skipped IS 'Rows a run cleared that a live item still holds (or unmatch had released): a run from its mark does not read them again';
COMMENT ON COLUMN reconcile.skipped.recon_id IS 'The registration';
COMMENT ON COLUMN reconcile.skipped.is_ledger IS 'Side of the row';
COMMENT ON COLUMN reconcile.skipped.key IS 'Key of the row';
COMMENT ON COLUMN reconcile.skipped.id IS 'Id of the row';

CREATE TABLE reconcile.audit_log (
    audit_id     bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    session_role name NOT NULL DEFAULT session_user,
    acting_role  name NOT NULL,
    action       text NOT NULL,
    name         text NOT NULL,
    item_id      bigint,
    details      jsonb NOT NULL DEFAULT '{}',
    recon_id     bigint
);
CREATE INDEX ON reconcile.audit_log (name, at);
-- (0.8.0) a reconciliation's latest entry, which its statement names
CREATE INDEX audit_log_recon ON reconcile.audit_log (recon_id, audit_id);
COMMENT ON TABLE reconcile.audit_log IS 'Every run and every manual action, append-only: UPDATE, DELETE and TRUNCATE are refused';
COMMENT ON COLUMN reconcile.audit_log.at IS 'When';
COMMENT ON COLUMN reconcile.audit_log.session_role IS 'session_user of the actor';
COMMENT ON COLUMN reconcile.audit_log.acting_role IS 'current_user of the actor (the role it acted as)';
COMMENT ON COLUMN reconcile.audit_log.action IS 'create, drop, run, assign, resolve, approve, reopen, manual_match or unmatch';
COMMENT ON COLUMN reconcile.audit_log.details IS 'What changed';
COMMENT ON COLUMN reconcile.audit_log.recon_id IS 'The registration the action was on';

CREATE FUNCTION reconcile.audit_log_refuse()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'reconcile.audit_log is append-only' USING ERRCODE = '42501',
        DETAIL = pg_catalog.format('%s is refused.', TG_OP);
END
$$;
COMMENT ON FUNCTION reconcile.audit_log_refuse() IS
'Internal: trigger function refusing UPDATE, DELETE and TRUNCATE on reconcile.audit_log';
REVOKE ALL ON FUNCTION reconcile.audit_log_refuse() FROM PUBLIC;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON reconcile.audit_log
    FOR EACH ROW EXECUTE FUNCTION reconcile.audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON reconcile.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION reconcile.audit_log_refuse();

-- Visibility: a role that may SELECT both sources of a registration sees its rows; one that row
-- level security narrows on a source sees only what its own runs and manual matches made
-- (reconcile.readable).
-- Nobody sees history whose registration is gone but roles that bypass row level security.
ALTER TABLE reconcile.runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconcile.results ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconcile.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconcile.cleared ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconcile.released ENABLE ROW LEVEL SECURITY;
CREATE POLICY released_visible ON reconcile.released FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true)));
GRANT SELECT ON reconcile.released TO PUBLIC;
ALTER TABLE reconcile.skipped ENABLE ROW LEVEL SECURITY;
CREATE POLICY skipped_visible ON reconcile.skipped FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true)));
GRANT SELECT ON reconcile.skipped TO PUBLIC;
CREATE POLICY runs_visible ON reconcile.runs FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (run_by = current_user AND recon_id IN (SELECT reconcile.readable(false))));
CREATE POLICY results_visible ON reconcile.results FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (recon_id IN (SELECT reconcile.readable(false))
               AND run_id IN (SELECT u.run_id FROM reconcile.runs u WHERE u.run_by = current_user)));
CREATE POLICY audit_visible ON reconcile.audit_log FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (acting_role = current_user AND recon_id IN (SELECT reconcile.readable(false))));
CREATE POLICY cleared_visible ON reconcile.cleared FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (recon_id IN (SELECT reconcile.readable(false))
               AND (run_id IN (SELECT u.run_id FROM reconcile.runs u WHERE u.run_by = current_user)
                    OR made_by = current_user)));
GRANT SELECT ON reconcile.runs, reconcile.results, reconcile.audit_log, reconcile.cleared TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('reconcile.runs', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.results', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.cleared', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.released', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.skipped', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.audit_log_audit_id_seq', '');

----------------------------------------------------------------------------
-- Internal: the audit log's writer
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.audit(recon_id bigint, action text, name text, item_id bigint, details jsonb,
                                actor name)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO reconcile.audit_log (acting_role, action, name, item_id, details, recon_id)
    VALUES (actor, action, name, item_id, details, recon_id)
$$;
COMMENT ON FUNCTION reconcile.audit(bigint, text, text, bigint, jsonb, name) IS
'Internal: appends one audit_log entry, for the acting role the entry point read (src/act.c, src/run.c)';
REVOKE ALL ON FUNCTION reconcile.audit(bigint, text, text, bigint, jsonb, name) FROM PUBLIC;

----------------------------------------------------------------------------
-- Internal: a run's bookkeeping (src/run.c calls these as the tables' owner)
----------------------------------------------------------------------------

-- The query of a run, once its registration is locked (55P03 at once when another run holds it),
-- and per side what the run records as its mark (SPEC 5a): the query of the side's greatest seq,
-- which reconcile.run reads as the caller before the rows, or the mark it keeps.
-- A caller that row level security narrows on a source may not read the cleared rows of others'
-- runs: for it, they go into the query as parameters (their hashes, and the tags of the manual
-- matches not yet reported), each side's three as source_sql's mode run_by_value expects, and
-- (0.6.0) the rows of the rejections with their tags, two more a side ($7 to $10); it
-- reads every row it can see, and keeps the marks it was given (the rows past them are still
-- to be read by a run that sees everything).
-- Otherwise a side with a seq column and a mark from the previous run (not with full, nor with
-- Citus installed: a correlated subquery on a local table is refused there) is read from that
-- mark: the rows at or before it that are still open go into the query as parameters, in the
-- places of run_by_value's ($1 and $3 ledger, $4 and $6 statement: their hashes and their ids):
-- the live items' rows, the manual matches no run has reported, the rows unmatch released; less
-- those of them that runs have cleared since (reconcile.skipped, which record_run keeps: looking
-- each one up in the cleared rows' index would cost a random read of that index per open row).
CREATE FUNCTION reconcile.run_query(recon_id bigint, as_of date, caller name, "full" boolean)
RETURNS TABLE (query text, ledger_mark_sql text, statement_mark_sql text, ledger_mark text,
               statement_mark text, p1 bytea[], p2 bytea[], p3 text[], p4 bytea[], p5 bytea[], p6 text[],
               p7 bytea[], p8 text[], p9 bytea[], p10 text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    reg      reconcile.reconciliations;
    prev     reconcile.runs;
    lseq     text;
    sseq     text;
    lmark    text;
    smark    text;
    lsql     text;
    ssql     text;
BEGIN
    PERFORM reconcile.lock_registration(recon_id, true);
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = run_query.recon_id;
    SELECT * INTO prev FROM reconcile.runs u WHERE u.recon_id = reg.id ORDER BY u.run_id DESC LIMIT 1;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
        lseq := reg.columns -> 'ledger' ->> 'seq';
        sseq := reg.columns -> 'statement' ->> 'seq';
    END IF;
    IF reconcile.narrowed(reg.ledger, caller) OR reconcile.narrowed(reg.statement, caller) THEN
        RETURN QUERY
        -- the tags of the rejections each row is in, hashes and tags per side
        WITH j AS (
            SELECT COALESCE(pg_catalog.array_agg(r.h) FILTER (WHERE r.is_ledger), '{}') AS lh,
                   COALESCE(pg_catalog.array_agg(r.tags) FILTER (WHERE r.is_ledger), '{}') AS lt,
                   COALESCE(pg_catalog.array_agg(r.h) FILTER (WHERE NOT r.is_ledger), '{}') AS sh,
                   COALESCE(pg_catalog.array_agg(r.tags) FILTER (WHERE NOT r.is_ledger), '{}') AS st
            FROM (SELECT x.is_ledger, reconcile.row_ident(x.key, x.id) AS h,
                         pg_catalog.string_agg((x.rejection_id)::text, ' ') AS tags
                  FROM reconcile.rejections x WHERE x.recon_id = reg.id
                  GROUP BY x.is_ledger, x.key, x.id) r)
        SELECT reconcile.matching_sql(reg, run_query.as_of, 'run_by_value', NULL, NULL), NULL::text, NULL::text,
               CASE WHEN lseq IS NOT NULL THEN prev.ledger_mark END,
               CASE WHEN sseq IS NOT NULL THEN prev.statement_mark END,
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE c.is_ledger AND NOT c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE c.is_ledger AND c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.match_tag) FILTER (WHERE c.is_ledger AND c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE NOT c.is_ledger AND NOT c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE NOT c.is_ledger AND c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.match_tag) FILTER (WHERE NOT c.is_ledger AND c.unreported), '{}'),
               (SELECT j.lh FROM j), (SELECT j.lt FROM j), (SELECT j.sh FROM j), (SELECT j.st FROM j)
        FROM (SELECT x.is_ledger, x.match_tag, reconcile.row_ident(x.key, x.id) AS h,
                     x.category = 'manual' AND x.run_id IS NULL AS unreported
              FROM reconcile.cleared x WHERE x.recon_id = reg.id) c;
        RETURN;
    END IF;
    -- the new marks: the greatest seq of each side, as the text the next run casts back (ordered
    -- by the column itself, not by its text, which an unqualified name in ORDER BY would mean)
    IF lseq IS NOT NULL THEN
        lsql := pg_catalog.format('SELECT %s FROM %s AS src WHERE src.%I IS NOT NULL ORDER BY src.%I DESC LIMIT 1',
                                  reconcile.text_sql(reg.ledger, lseq), reg.ledger, lseq, lseq);
        lmark := CASE WHEN NOT run_query."full" THEN prev.ledger_mark END;
    END IF;
    IF sseq IS NOT NULL THEN
        ssql := pg_catalog.format('SELECT %s FROM %s AS src WHERE src.%I IS NOT NULL ORDER BY src.%I DESC LIMIT 1',
                                  reconcile.text_sql(reg.statement, sseq), reg.statement, sseq, sseq);
        smark := CASE WHEN NOT run_query."full" THEN prev.statement_mark END;
    END IF;
    IF lmark IS NULL AND smark IS NULL THEN
        RETURN QUERY SELECT reconcile.matching_sql(reg, run_query.as_of, 'run', NULL, NULL), lsql, ssql,
                            NULL::text, NULL::text, NULL::bytea[], NULL::bytea[], NULL::text[],
                            NULL::bytea[], NULL::bytea[], NULL::text[], NULL::bytea[], NULL::text[],
                            NULL::bytea[], NULL::text[];
        RETURN;
    END IF;
    -- the rows at or before a mark that are still open
    RETURN QUERY
    WITH pending AS (
        SELECT true AS is_ledger, i.key, i.ledger_id AS id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.ledger_id IS NOT NULL AND lmark IS NOT NULL
        UNION
        SELECT false, i.key, i.statement_id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.statement_id IS NOT NULL AND smark IS NOT NULL
        UNION
        SELECT c.is_ledger, c.key, c.id FROM reconcile.cleared c
        WHERE c.recon_id = reg.id AND c.category = 'manual' AND c.run_id IS NULL
        UNION
        SELECT r.is_ledger, r.key, r.id FROM reconcile.released r WHERE r.recon_id = reg.id),
    open_rows AS (
        SELECT p.is_ledger, p.id, reconcile.row_ident(p.key, p.id) AS h FROM pending p
        WHERE NOT EXISTS (SELECT FROM reconcile.skipped k
                          WHERE k.recon_id = reg.id AND k.is_ledger = p.is_ledger AND k.id = p.id
                            AND k.key IS NOT DISTINCT FROM p.key))
    SELECT reconcile.matching_sql(reg, run_query.as_of, 'run', lmark, smark), lsql, ssql, NULL::text, NULL::text,
           COALESCE(pg_catalog.array_agg(o.h) FILTER (WHERE o.is_ledger), '{}'), '{}'::bytea[],
           COALESCE(pg_catalog.array_agg(o.id) FILTER (WHERE o.is_ledger), '{}'),
           COALESCE(pg_catalog.array_agg(o.h) FILTER (WHERE NOT o.is_ledger), '{}'), '{}'::bytea[],
           COALESCE(pg_catalog.array_agg(o.id) FILTER (WHERE NOT o.is_ledger), '{}'),
           NULL::bytea[], NULL::text[], NULL::bytea[], NULL::text[]
    FROM open_rows o;
END
$$;
COMMENT ON FUNCTION reconcile.run_query(bigint, date, name, boolean) IS
'Internal to reconcile.run: locks the registration (55P03 at once while another run holds it) and returns the query of the run (with the cleared rows as parameters for a caller narrowed by row level security, with the open rows as parameters for a side read from its mark) and per side the query of its new mark or the mark it keeps';
REVOKE ALL ON FUNCTION reconcile.run_query(bigint, date, name, boolean) FROM PUBLIC;

-- The rows a run or a manual match read with the caller's rights, to its bookkeeping only
-- (src/trust.c); refused anywhere else.
CREATE FUNCTION reconcile.captured()
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'rc_captured'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.captured() IS
'Internal: the rows reconcile.run or reconcile.manual_match read with the caller''s rights, to their own bookkeeping only (42501 anywhere else)';
REVOKE ALL ON FUNCTION reconcile.captured() FROM PUBLIC;

-- A new registration's partition of reconcile.cleared (reconcile.register_by makes it): a bare
-- table like the parent, with the parent's policy and grant (a read of the partition itself shows
-- what a read of reconcile.cleared would) and a comment, attached at once.  It has no index until
-- the registration first clears rows (reconcile.cleared_target).  Attaching takes SHARE UPDATE
-- EXCLUSIVE on reconcile.cleared until create's transaction ends: reads and writes go on, only
-- another create waits.  Nothing here reads or calls anything a user made: the name is made of
-- the registration's id, in the extension's schema.
CREATE FUNCTION reconcile.cleared_partition(recon_id bigint)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part regclass;
    def  text;
BEGIN
    EXECUTE pg_catalog.format('CREATE TABLE reconcile.%I (LIKE reconcile.cleared, CHECK (recon_id IS NOT NULL AND recon_id = %s))',
                              'cleared_' || recon_id, recon_id);
    part := pg_catalog.format('reconcile.%I', 'cleared_' || recon_id)::regclass;
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part);
    FOR def IN SELECT pg_catalog.format('CREATE POLICY %I ON %s FOR SELECT USING (%s)', p.polname, part,
                                        pg_catalog.pg_get_expr(p.polqual, p.polrelid))
               FROM pg_catalog.pg_policy p WHERE p.polrelid = 'reconcile.cleared'::regclass ORDER BY p.polname LOOP
        EXECUTE def;
    END LOOP;
    EXECUTE pg_catalog.format('GRANT SELECT ON %s TO PUBLIC', part);
    EXECUTE pg_catalog.format('COMMENT ON TABLE %s IS %L', part,
                              pg_catalog.format('The rows of reconcile.cleared of registration %s', recon_id));
    EXECUTE pg_catalog.format('ALTER TABLE reconcile.cleared ATTACH PARTITION %s FOR VALUES IN (%s)', part, recon_id);
    RETURN part;
END
$$;
COMMENT ON FUNCTION reconcile.cleared_partition(bigint) IS
'Internal to reconcile.register_by: makes a new registration''s partition of reconcile.cleared, bare, with the parent''s policy and grant, and attaches it';
REVOKE ALL ON FUNCTION reconcile.cleared_partition(bigint) FROM PUBLIC;

-- The partition that holds a registration's cleared rows, and whether it has no index yet (bare:
-- it never held any).  The registrations that existed when 0.4.2 was installed over an earlier
-- version keep their rows in cleared_before_0_4_2, whose partition constraint (the extension's own
-- expression, over builtin operators) holds their ids.
CREATE FUNCTION reconcile.cleared_target(recon_id bigint, OUT part regclass, OUT bare boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    legacy oid;
    holds  boolean;
BEGIN
    SELECT c.oid::regclass INTO part FROM pg_catalog.pg_class c
    WHERE c.relnamespace = 'reconcile'::regnamespace AND c.relname = 'cleared_' || recon_id AND c.relispartition;
    IF NOT FOUND THEN
        SELECT c.oid INTO legacy FROM pg_catalog.pg_class c
        WHERE c.relnamespace = 'reconcile'::regnamespace AND c.relname = 'cleared_before_0_4_2' AND c.relispartition;
        IF FOUND THEN
            EXECUTE pg_catalog.format('SELECT %s FROM (SELECT %s::bigint AS recon_id) s',
                                      pg_catalog.pg_get_partition_constraintdef(legacy), recon_id) INTO holds;
            IF holds THEN
                part := legacy::regclass;
            END IF;
        END IF;
    END IF;
    IF part IS NULL THEN
        RAISE EXCEPTION 'registration % has no partition of reconcile.cleared', recon_id;
    END IF;
    bare := NOT EXISTS (SELECT FROM pg_catalog.pg_index x WHERE x.indrelid = part);
END
$$;
COMMENT ON FUNCTION reconcile.cleared_target(bigint) IS
'Internal: the partition of reconcile.cleared that holds a registration''s rows, and whether it has no index yet';
REVOKE ALL ON FUNCTION reconcile.cleared_target(bigint) FROM PUBLIC;

-- Index a bare partition, over the rows already in it: building an index by sorting is several
-- times cheaper than inserting each row into it, and a first run clears millions.  A partition
-- holds one registration, so the indexes leave recon_id out: the unique identity of a cleared row,
-- which the look-ups of a run from a mark use; the tags, which unmatch releases together; and the
-- manual matches, which every view reads (few, whatever the history); and (0.8.0) the run that
-- cleared each row, which the match rate counts per run.  CREATE INDEX locks the
-- partition against writes until the transaction ends: they are the registration's own, which
-- wait for its run anyway.
CREATE FUNCTION reconcile.cleared_index(part regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE pg_catalog.format('CREATE UNIQUE INDEX ON %s (is_ledger, reconcile.row_ident(key, id))', part);
    EXECUTE pg_catalog.format('CREATE INDEX ON %s (match_tag)', part);
    EXECUTE pg_catalog.format('CREATE INDEX ON %s (is_ledger) WHERE category OPERATOR(pg_catalog.=) ''manual''', part);
    EXECUTE pg_catalog.format('CREATE INDEX ON %s (run_id)', part);
END
$$;
COMMENT ON FUNCTION reconcile.cleared_index(regclass) IS
'Internal: builds the indexes of a bare partition of reconcile.cleared over the rows in it';
REVOKE ALL ON FUNCTION reconcile.cleared_index(regclass) FROM PUBLIC;

-- Record a run: its results (what reconcile.run read, from reconcile.captured()), the rows it
-- cleared, the manual matches it reported, its items, its counts, the audit entry and the
-- notification.  Items it finds again are updated; a resolved or approved one whose amounts,
-- dates or category changed returns to open (audited); items it does not find again but whose
-- rows it read are cleared when all those rows were matched, else superseded: an open one
-- cleared, a resolved or approved one reopened (audited).  Items whose rows it did not read (out
-- of the caller's sight, or gone from the sources) are left as they are.  Its statements read the
-- run's rows back from reconcile.results before any ANALYZE has seen them, so the planner thinks
-- there are none; nested loops on that guess are quadratic, hence enable_nestloop = off (and the
-- lateral joins that must nest are materialized first), and JIT compiling on it costs more than
-- it saves.
CREATE FUNCTION reconcile.record_run(recon_id bigint, as_of date, started_at timestamptz, run_by name,
                                     read_rows bigint, ledger_mark text, statement_mark text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_nestloop = off
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    reg     reconcile.reconciliations;
    rid     bigint;
    cnt     jsonb;
    lrows   bigint;
    srows   bigint;
    unread  bigint[] := '{}';
    part    record;
    n_cleared bigint;
    review  double precision;
BEGIN
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = record_run.recon_id;
    SELECT o.review_below INTO review FROM reconcile.recon_options o WHERE o.recon_id = reg.id;
    INSERT INTO reconcile.runs (name, as_of, started_at, run_by, recon_id, ledger_mark, statement_mark)
    VALUES (reg.name, record_run.as_of, record_run.started_at, record_run.run_by, reg.id,
            record_run.ledger_mark, record_run.statement_mark)
    RETURNING run_id INTO rid;

    -- with review (0.6.0), a match scoring below review_below (a group: its lowest) is held back;
    -- without, nothing is partitioned (captured() is read once either way)
    IF review IS NULL THEN
        INSERT INTO reconcile.results (run_id, name, key, ledger_id, statement_id, category, amount_diff,
                                       days_diff, score, group_id, note, ledger_amount, statement_amount,
                                       ledger_date, statement_date, recon_id)
        SELECT rid, reg.name, t.key, t.ledger_id, t.statement_id, t.category, t.amount_diff, t.days_diff,
               t.score, t.group_id, t.note, t.ledger_amount, t.statement_amount, t.ledger_date,
               t.statement_date, reg.id
        FROM reconcile.captured() AS t(key text, ledger_id text, statement_id text, category reconcile.category,
                                       amount_diff numeric, days_diff integer, score double precision,
                                       group_id integer, note text, ledger_amount numeric,
                                       statement_amount numeric, ledger_date date, statement_date date);
    ELSE
        INSERT INTO reconcile.results (run_id, name, key, ledger_id, statement_id, category, amount_diff,
                                       days_diff, score, group_id, note, ledger_amount, statement_amount,
                                       ledger_date, statement_date, recon_id, review)
        SELECT rid, reg.name, t.key, t.ledger_id, t.statement_id, t.category, t.amount_diff, t.days_diff,
               t.score, t.group_id, t.note, t.ledger_amount, t.statement_amount, t.ledger_date,
               t.statement_date, reg.id,
               CASE WHEN reconcile.clears(t.category)
                    THEN pg_catalog.min(t.score) OVER (PARTITION BY t.key, t.group_id,
                                                       CASE WHEN t.group_id IS NULL THEN t.ledger_id END) < review END
        FROM reconcile.captured() AS t(key text, ledger_id text, statement_id text, category reconcile.category,
                                       amount_diff numeric, days_diff integer, score double precision,
                                       group_id integer, note text, ledger_amount numeric,
                                       statement_amount numeric, ledger_date date, statement_date date);
    END IF;

    -- matched rows are cleared for good; the rows matched together share a tag: the run and 16
    -- bytes of the hash of the pair's ledger row or of the group (unique among the run's, half the
    -- width of the whole hash, which every cleared row carries).  A pair's rows are on one result
    -- row each; the shared row of a group is on each of its lines, so only groups need DISTINCT,
    -- and the unique index refuses any other repeat.  A registration's first clearing fills its
    -- bare partition, then indexes it (the unique index then checks the same).
    SELECT * INTO part FROM reconcile.cleared_target(reg.id);
    INSERT INTO reconcile.cleared (name, is_ledger, key, id, category, run_id, match_tag, recon_id)
    SELECT reg.name, side.is_ledger, x.key, side.id, x.category, rid,
           'r' || rid || ':' || pg_catalog.encode(pg_catalog.substr(reconcile.row_ident(x.key, 'l' || x.ledger_id), 1, 16), 'hex'),
           reg.id
    FROM reconcile.results x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE x.run_id = rid AND side.id IS NOT NULL AND reconcile.clears(x.category) AND x.group_id IS NULL
      AND x.review IS NOT TRUE
    UNION ALL
    SELECT DISTINCT ON (side.is_ledger, x.key, side.id)
           reg.name, side.is_ledger, x.key, side.id, x.category, rid,
           'r' || rid || ':' || pg_catalog.encode(pg_catalog.substr(reconcile.row_ident(x.key, 'g' || x.group_id), 1, 16), 'hex'),
           reg.id
    FROM reconcile.results x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE x.run_id = rid AND side.id IS NOT NULL AND reconcile.clears(x.category) AND x.group_id IS NOT NULL
      AND x.review IS NOT TRUE;
    GET DIAGNOSTICS n_cleared = ROW_COUNT;
    IF part.bare AND n_cleared > 0 THEN
        PERFORM reconcile.cleared_index(part.part);
    END IF;

    -- the manual matches this run reported are reported once
    WITH reported AS MATERIALIZED (
        SELECT side.is_ledger, x.key, side.id
        FROM reconcile.results x
        CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
        WHERE x.run_id = rid AND x.category = 'manual' AND side.id IS NOT NULL)
    UPDATE reconcile.cleared c SET run_id = rid
    FROM reported m
    WHERE c.recon_id = reg.id AND c.category = 'manual' AND c.run_id IS NULL
      AND c.is_ledger = m.is_ledger AND c.id = m.id AND c.key IS NOT DISTINCT FROM m.key;

    -- A run that row level security narrows saw only part of the sources: the live items with a
    -- row it did not read are out of its sight, and it neither touches them nor opens items for
    -- their rows (the rest of such an item may be a row it cannot see).
    IF reconcile.narrowed(reg.ledger, run_by) OR reconcile.narrowed(reg.statement, run_by) THEN
        -- (0.6.0) and the other items of a group one of whose items it did not read: a group is
        -- left alone whole
        WITH hidden AS MATERIALIZED (
            SELECT i.item_id, i.group_tag
            FROM reconcile.items i
            WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected')
              AND ((i.ledger_id IS NOT NULL
                    AND NOT EXISTS (SELECT FROM reconcile.results x
                                    WHERE x.run_id = rid AND x.ledger_id = i.ledger_id
                                      AND x.key IS NOT DISTINCT FROM i.key))
                   OR (i.statement_id IS NOT NULL
                       AND NOT EXISTS (SELECT FROM reconcile.results x
                                       WHERE x.run_id = rid AND x.statement_id = i.statement_id
                                         AND x.key IS NOT DISTINCT FROM i.key))))
        SELECT COALESCE(pg_catalog.array_agg(i.item_id), '{}') INTO unread
        FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected')
          AND (i.item_id IN (SELECT h.item_id FROM hidden h)
               OR i.group_tag IN (SELECT h.group_tag FROM hidden h WHERE h.group_tag IS NOT NULL));
    ELSE
        -- it read every row unmatch released, whatever its marks
        DELETE FROM reconcile.released r WHERE r.recon_id = reg.id;
    END IF;

    -- items found again with other amounts, dates or category: approved for those amounts only
    WITH found AS (
        SELECT x.* FROM reconcile.results x
        WHERE x.run_id = rid AND (reconcile.is_discrepancy(x.category) OR x.review)),
    changed AS (
        SELECT i.item_id, i.status, i.resolution, i.resolved_by, i.approved_by,
               pg_catalog.jsonb_build_object(
                   'category', i.category, 'amount_diff', i.amount_diff, 'ledger_amount', i.ledger_amount,
                   'statement_amount', i.statement_amount, 'ledger_date', i.ledger_date,
                   'statement_date', i.statement_date) AS was,
               pg_catalog.jsonb_build_object(
                   'category', f.category, 'amount_diff', f.amount_diff, 'ledger_amount', f.ledger_amount,
                   'statement_amount', f.statement_amount, 'ledger_date', f.ledger_date,
                   'statement_date', f.statement_date) AS now
        FROM reconcile.items i
        JOIN found f ON reconcile.item_ident(f.key, f.ledger_id, f.statement_id)
                        = reconcile.item_ident(i.key, i.ledger_id, i.statement_id)
        WHERE i.recon_id = reg.id AND i.status IN ('resolved', 'approved')
          AND (i.category, i.amount_diff, i.ledger_amount, i.statement_amount, i.ledger_date, i.statement_date)
              IS DISTINCT FROM
              (f.category, f.amount_diff, f.ledger_amount, f.statement_amount, f.ledger_date, f.statement_date)),
    reopened AS (
        UPDATE reconcile.items i
        SET status = 'open', resolution = NULL, resolved_by = NULL, resolved_at = NULL, resolved_session = NULL,
            approved_by = NULL, approved_at = NULL, approved_session = NULL
        FROM changed c WHERE i.item_id = c.item_id
        RETURNING i.item_id)
    INSERT INTO reconcile.audit_log (acting_role, action, name, item_id, details, recon_id)
    SELECT record_run.run_by, 'reopen', reg.name, c.item_id,
           pg_catalog.jsonb_build_object('run_id', rid, 'why', 'its amounts, dates or category changed',
                                         'was_status', c.status, 'resolution', c.resolution,
                                         'resolved_by', c.resolved_by, 'approved_by', c.approved_by,
                                         'was', c.was, 'now', c.now),
           reg.id
    FROM changed c JOIN reopened r ON r.item_id = c.item_id;

    -- items: the discrepancies found, one per pair or row, kept across runs; and (0.6.0) the
    -- matches held for review, suggested; the items of one group share its tag
    WITH out_of_sight AS MATERIALIZED (
        SELECT i.key, i.ledger_id, i.statement_id
        FROM reconcile.items i JOIN pg_catalog.unnest(unread) AS u(item_id) ON u.item_id = i.item_id)
    INSERT INTO reconcile.items AS i (name, key, ledger_id, statement_id, category, amount_diff,
                                      ledger_amount, statement_amount, ledger_date, statement_date,
                                      first_run_id, last_run_id, recon_id, status, score, reason, group_tag)
    SELECT reg.name, x.key, x.ledger_id, x.statement_id, x.category, x.amount_diff, x.ledger_amount,
           x.statement_amount, x.ledger_date, x.statement_date, rid, rid, reg.id,
           CASE WHEN x.review THEN 'suggested' ELSE 'open' END, x.score, x.note,
           CASE WHEN x.group_id IS NOT NULL
                THEN 'r' || rid || ':' || pg_catalog.encode(pg_catalog.substr(reconcile.row_ident(x.key, 'g' || x.group_id), 1, 16), 'hex') END
    FROM reconcile.results x
    WHERE x.run_id = rid AND (reconcile.is_discrepancy(x.category) OR x.review)
      AND NOT EXISTS (SELECT FROM out_of_sight o
                      WHERE o.ledger_id = x.ledger_id AND o.key IS NOT DISTINCT FROM x.key)
      AND NOT EXISTS (SELECT FROM out_of_sight o
                      WHERE o.statement_id = x.statement_id AND o.key IS NOT DISTINCT FROM x.key)
    ON CONFLICT (recon_id, reconcile.item_ident(key, ledger_id, statement_id)) WHERE status NOT IN ('cleared', 'rejected')
    DO UPDATE SET last_run_id = excluded.last_run_id, category = excluded.category,
                  amount_diff = excluded.amount_diff, ledger_amount = excluded.ledger_amount,
                  statement_amount = excluded.statement_amount, ledger_date = excluded.ledger_date,
                  statement_date = excluded.statement_date, score = excluded.score, reason = excluded.reason,
                  group_tag = excluded.group_tag,
                  status = CASE WHEN i.status IN ('open', 'suggested') THEN excluded.status ELSE i.status END;

    -- items not found again: what became of the rows this run read
    WITH seen AS MATERIALIZED (
        SELECT side.is_ledger, x.key, side.id,
               reconcile.clears(x.category) OR x.category = 'manual' AS settled
        FROM reconcile.results x
        CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
        WHERE x.run_id = rid AND side.id IS NOT NULL),
    item_rows AS (
        SELECT i.item_id, i.status, true AS is_ledger, i.key, i.ledger_id AS id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status IN ('open', 'resolved', 'approved', 'suggested') AND i.last_run_id <> rid
          AND i.ledger_id IS NOT NULL
        UNION ALL
        SELECT i.item_id, i.status, false, i.key, i.statement_id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status IN ('open', 'resolved', 'approved', 'suggested') AND i.last_run_id <> rid
          AND i.statement_id IS NOT NULL),
    fate AS (
        SELECT r.item_id, r.status, pg_catalog.bool_and(s.settled) AS matched
        FROM item_rows r JOIN seen s ON s.is_ledger = r.is_ledger AND s.id = r.id AND s.key IS NOT DISTINCT FROM r.key
        WHERE NOT EXISTS (SELECT FROM pg_catalog.unnest(unread) AS u(item_id) WHERE u.item_id = r.item_id)
        GROUP BY r.item_id, r.status),
    moved AS (
        UPDATE reconcile.items i
        SET status = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN 'cleared' ELSE 'open' END,
            resolution = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.resolution END,
            resolved_by = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.resolved_by END,
            resolved_at = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.resolved_at END,
            resolved_session = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.resolved_session END,
            approved_by = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.approved_by END,
            approved_at = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.approved_at END,
            approved_session = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.approved_session END
        FROM fate f WHERE i.item_id = f.item_id
        RETURNING i.item_id, f.status AS was_status, f.matched)
    INSERT INTO reconcile.audit_log (acting_role, action, name, item_id, details, recon_id)
    SELECT record_run.run_by, 'reopen', reg.name, m.item_id,
           pg_catalog.jsonb_build_object('run_id', rid, 'why', 'its rows are now in another discrepancy',
                                         'was_status', m.was_status),
           reg.id
    FROM moved m WHERE NOT m.matched AND m.was_status NOT IN ('open', 'suggested');

    -- the rows this run cleared or reported that a live item still holds, or that unmatch had
    -- released: a run from a mark leaves them out (run_query); and the ones no longer so held.
    -- Only items this run did not find again can hold such a row (the rows of a discrepancy are
    -- not cleared in the run that finds it): usually none, and then nothing is scanned.
    IF EXISTS (SELECT FROM reconcile.items i WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.last_run_id <> rid)
       OR EXISTS (SELECT FROM reconcile.released r WHERE r.recon_id = reg.id) THEN
        WITH live AS MATERIALIZED (
            SELECT true AS is_ledger, i.key, i.ledger_id AS id FROM reconcile.items i
            WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.last_run_id <> rid AND i.ledger_id IS NOT NULL
            UNION ALL
            SELECT false, i.key, i.statement_id FROM reconcile.items i
            WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.last_run_id <> rid AND i.statement_id IS NOT NULL
            UNION ALL
            SELECT r.is_ledger, r.key, r.id FROM reconcile.released r WHERE r.recon_id = reg.id),
        settled AS (
            SELECT side.is_ledger, x.key, side.id
            FROM reconcile.results x
            CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
            WHERE x.run_id = rid AND side.id IS NOT NULL AND (reconcile.clears(x.category) OR x.category = 'manual'))
        INSERT INTO reconcile.skipped (recon_id, is_ledger, key, id)
        SELECT DISTINCT reg.id, l.is_ledger, l.key, l.id FROM live l
        WHERE EXISTS (SELECT FROM settled s WHERE s.is_ledger = l.is_ledger AND s.id = l.id AND s.key IS NOT DISTINCT FROM l.key)
        ON CONFLICT DO NOTHING;
    END IF;
    IF EXISTS (SELECT FROM reconcile.skipped k WHERE k.recon_id = reg.id) THEN
        DELETE FROM reconcile.skipped k
        WHERE k.recon_id = reg.id
          AND NOT EXISTS (SELECT FROM reconcile.items i
                          WHERE k.is_ledger AND i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected')
                            AND i.ledger_id = k.id AND i.key IS NOT DISTINCT FROM k.key)
          AND NOT EXISTS (SELECT FROM reconcile.items i
                          WHERE NOT k.is_ledger AND i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected')
                            AND i.statement_id = k.id AND i.key IS NOT DISTINCT FROM k.key)
          AND NOT EXISTS (SELECT FROM reconcile.released r
                          WHERE r.recon_id = reg.id AND r.is_ledger = k.is_ledger AND r.id = k.id
                            AND r.key IS NOT DISTINCT FROM k.key);
    END IF;

    -- (0.6.0) the write-offs within the limit, for a checker to approve; the alert, if any
    PERFORM reconcile.write_off(reg.id, rid);
    PERFORM reconcile.alert(reg.id, rid);

    SELECT COALESCE(pg_catalog.jsonb_object_agg(c, n), '{}') INTO cnt
    FROM (SELECT x.category::text AS c, pg_catalog.count(*) AS n FROM reconcile.results x
          WHERE x.run_id = rid GROUP BY x.category ORDER BY x.category) t;
    -- rows, not result lines: only a group's shared row repeats
    SELECT pg_catalog.count(*) FILTER (WHERE x.ledger_id IS NOT NULL AND x.group_id IS NULL)
           + pg_catalog.count(DISTINCT (x.key, x.ledger_id)) FILTER (WHERE x.ledger_id IS NOT NULL AND x.group_id IS NOT NULL),
           pg_catalog.count(*) FILTER (WHERE x.statement_id IS NOT NULL AND x.group_id IS NULL)
           + pg_catalog.count(DISTINCT (x.key, x.statement_id)) FILTER (WHERE x.statement_id IS NOT NULL AND x.group_id IS NOT NULL)
    INTO lrows, srows FROM reconcile.results x WHERE x.run_id = rid;
    UPDATE reconcile.runs SET finished_at = pg_catalog.clock_timestamp(), ledger_rows = lrows,
                              statement_rows = srows, counts = cnt
    WHERE run_id = rid;
    PERFORM reconcile.audit(reg.id, 'run', reg.name, NULL,
                            pg_catalog.jsonb_build_object('run_id', rid, 'as_of', record_run.as_of,
                                                          'counts', cnt, 'rows_read', read_rows,
                                                          'ledger_mark', record_run.ledger_mark,
                                                          'statement_mark', record_run.statement_mark),
                            record_run.run_by);
    -- delivered when the transaction commits; any role may LISTEN, so the name and the id only
    PERFORM pg_catalog.pg_notify('reconcile',
        pg_catalog.jsonb_build_object('name', reg.name, 'run_id', rid)::text);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION reconcile.record_run(bigint, date, timestamptz, name, bigint, text, text) IS
'Internal to reconcile.run: records a run from the rows it read (results, cleared rows, reported manual matches, items, counts, marks, audit entry, notification); runs as the tables'' owner, within reconcile.run only';
REVOKE ALL ON FUNCTION reconcile.record_run(bigint, date, timestamptz, name, bigint, text, text) FROM PUBLIC;

----------------------------------------------------------------------------
-- Runs
----------------------------------------------------------------------------

-- One C entry point (src/run.c): the sources are read with the caller's rights, the bookkeeping is
-- written with the tables' owner's, in a security-restricted operation (src/trust.c).  A side with
-- a seq column is read from the previous run's mark on, unless full (SPEC 5a).
CREATE FUNCTION reconcile.run(name text, as_of date DEFAULT current_date, "full" boolean DEFAULT false)
RETURNS bigint
AS 'MODULE_PATHNAME', 'rc_run'
LANGUAGE C
SET jit = off                           -- the work is in C; compiling the plan only costs
;
COMMENT ON FUNCTION reconcile.run(text, date, boolean) IS
'Matches the reconciliation''s rows that no earlier run cleared (with seq mapped, only the rows past the previous run''s mark and the open ones, unless full), reading the sources with the caller''s rights, stores the results, clears what matched, opens or updates items, records the marks, writes audit_log and notifies channel reconcile with the name and run id; returns the run id (55P03 while another run of it is under way)';
