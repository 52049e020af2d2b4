/* 60_runs.sql: reconcile.run and what it records: runs, results, cleared rows, the audit log */

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
    counts         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ON reconcile.runs (name, run_id);
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

CREATE TABLE reconcile.results (
    run_id           bigint NOT NULL REFERENCES reconcile.runs ON DELETE CASCADE,
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
    statement_date   date
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
COMMENT ON COLUMN reconcile.results.group_id IS 'Group of a many_to_one / one_to_many set, within the run and key';
COMMENT ON COLUMN reconcile.results.note IS 'Short reason';
COMMENT ON COLUMN reconcile.results.ledger_amount IS 'Amount of the ledger row';
COMMENT ON COLUMN reconcile.results.statement_amount IS 'Amount of the statement row';
COMMENT ON COLUMN reconcile.results.ledger_date IS 'Date of the ledger row';
COMMENT ON COLUMN reconcile.results.statement_date IS 'Date of the statement row';

-- Rows a run matched (or a user matched by hand): later runs leave them alone.
CREATE TABLE reconcile.cleared (
    name      text NOT NULL,
    is_ledger boolean NOT NULL,
    key       text NOT NULL,            -- '' when the reconciliation has no key
    id        text NOT NULL,
    category  reconcile.category NOT NULL,
    run_id    bigint,                   -- NULL for a manual match
    match_tag text NOT NULL,            -- shared by the rows matched together
    PRIMARY KEY (name, is_ledger, key, id)
);
CREATE INDEX ON reconcile.cleared (name, match_tag);
COMMENT ON TABLE reconcile.cleared IS 'Rows cleared by a run (matched, matched_within_tolerance, many_to_one, one_to_many) or by reconcile.manual_match; later runs do not match them again';
COMMENT ON COLUMN reconcile.cleared.match_tag IS 'The rows matched together share it; reconcile.unmatch releases them together';

CREATE TABLE reconcile.audit_log (
    audit_id     bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    session_role name NOT NULL DEFAULT session_user,
    acting_role  name NOT NULL,
    action       text NOT NULL,
    name         text NOT NULL,
    item_id      bigint,
    details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ON reconcile.audit_log (name, at);
COMMENT ON TABLE reconcile.audit_log IS 'Every run and every manual action, append-only: UPDATE, DELETE and TRUNCATE are refused';
COMMENT ON COLUMN reconcile.audit_log.at IS 'When';
COMMENT ON COLUMN reconcile.audit_log.session_role IS 'session_user of the actor';
COMMENT ON COLUMN reconcile.audit_log.acting_role IS 'current_user of the actor (the role it acted as)';
COMMENT ON COLUMN reconcile.audit_log.action IS 'run, assign, resolve, approve, reopen, manual_match or unmatch';
COMMENT ON COLUMN reconcile.audit_log.details IS 'What changed';

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

-- Visibility: only a role that may see both sources sees a reconciliation's rows.
-- Visibility: only a role that may see both sources sees a reconciliation's rows.
ALTER TABLE reconcile.runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconcile.results ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconcile.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconcile.cleared ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_visible ON reconcile.runs FOR SELECT USING (reconcile.can_see(name));
CREATE POLICY results_visible ON reconcile.results FOR SELECT USING (reconcile.can_see(name));
CREATE POLICY audit_visible ON reconcile.audit_log FOR SELECT USING (reconcile.can_see(name));
CREATE POLICY cleared_visible ON reconcile.cleared FOR SELECT USING (reconcile.can_see(name));
GRANT SELECT ON reconcile.runs, reconcile.results, reconcile.audit_log, reconcile.cleared TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('reconcile.runs', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.results', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.cleared', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.audit_log_audit_id_seq', '');

----------------------------------------------------------------------------
-- Internal: the audit log's writer
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.audit(action text, name text, item_id bigint, details jsonb)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO reconcile.audit_log (acting_role, action, name, item_id, details)
    VALUES (reconcile.caller(), action, name, item_id, details)
$$;
COMMENT ON FUNCTION reconcile.audit(text, text, bigint, jsonb) IS 'Internal: appends one audit_log entry for the caller';
REVOKE ALL ON FUNCTION reconcile.audit(text, text, bigint, jsonb) FROM PUBLIC;

----------------------------------------------------------------------------
-- Runs
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.run(name text, as_of date DEFAULT current_date)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off                           -- the work is in C; compiling the plan only costs
AS $$
#variable_conflict use_column
DECLARE
    reg     reconcile.reconciliations := reconcile.registered(name, true);
    r       reconcile.rule := reg.rule;
    rid     bigint;
    cnt     jsonb;
    lrows   bigint;
    srows   bigint;
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION '"as_of" must not be null' USING ERRCODE = '22023';
    END IF;
    r.as_of := run.as_of;
    INSERT INTO reconcile.runs (name, as_of, started_at, run_by)
    VALUES (run.name, as_of, pg_catalog.clock_timestamp(), reconcile.caller())
    RETURNING run_id INTO rid;

    -- match what no earlier run cleared; CREATE TABLE AS may use parallel workers for the
    -- scans and the anti-joins against reconcile.cleared (INSERT ... SELECT may not)
    EXECUTE 'CREATE TEMP TABLE reconcile_run_results ON COMMIT DROP AS '
            || reconcile.matching_sql(reg.ledger, reg.statement, reg.columns, r, reg.name);
    INSERT INTO reconcile.results SELECT rid, run.name, t.* FROM pg_temp.reconcile_run_results t;
    DROP TABLE pg_temp.reconcile_run_results;

    -- matched rows are cleared for good
    INSERT INTO reconcile.cleared (name, is_ledger, key, id, category, run_id, match_tag)
    SELECT DISTINCT ON (side.is_ledger, COALESCE(x.key, ''), side.id)
           run.name, side.is_ledger, COALESCE(x.key, ''), side.id, x.category, rid,
           pg_catalog.format('r%s:%s:%s', rid, COALESCE(x.key, ''),
                             COALESCE('g' || x.group_id, 'l' || x.ledger_id))
    FROM reconcile.results x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE x.run_id = rid AND side.id IS NOT NULL
      AND reconcile.clears(x.category);

    -- items: the discrepancies found, one per pair or row, kept across runs
    INSERT INTO reconcile.items AS i (name, key, ledger_id, statement_id, category, amount_diff,
                                      ledger_amount, statement_amount, ledger_date, statement_date,
                                      first_run_id, last_run_id)
    SELECT run.name, x.key, x.ledger_id, x.statement_id, x.category, x.amount_diff, x.ledger_amount,
           x.statement_amount, x.ledger_date, x.statement_date, rid, rid
    FROM reconcile.results x
    WHERE x.run_id = rid
      AND reconcile.is_discrepancy(x.category)
    ON CONFLICT (name, COALESCE(key, ''), COALESCE(ledger_id, ''), COALESCE(statement_id, ''))
        WHERE status <> 'cleared'
    DO UPDATE SET last_run_id = excluded.last_run_id, category = excluded.category,
                  amount_diff = excluded.amount_diff, ledger_amount = excluded.ledger_amount,
                  statement_amount = excluded.statement_amount;

    -- an open item this run did not find again no longer stands: its rows were matched or
    -- now form another discrepancy
    UPDATE reconcile.items i SET status = 'cleared'
    WHERE i.name = run.name AND i.status IN ('open', 'resolved') AND i.last_run_id <> rid;

    SELECT COALESCE(pg_catalog.jsonb_object_agg(c, n), '{}') INTO cnt
    FROM (SELECT x.category::text AS c, pg_catalog.count(*) AS n FROM reconcile.results x
          WHERE x.run_id = rid GROUP BY x.category ORDER BY x.category) t;
    SELECT pg_catalog.count(DISTINCT (x.key, x.ledger_id)) FILTER (WHERE x.ledger_id IS NOT NULL),
           pg_catalog.count(DISTINCT (x.key, x.statement_id)) FILTER (WHERE x.statement_id IS NOT NULL)
    INTO lrows, srows FROM reconcile.results x WHERE x.run_id = rid;
    UPDATE reconcile.runs SET finished_at = pg_catalog.clock_timestamp(), ledger_rows = lrows,
                              statement_rows = srows, counts = cnt
    WHERE run_id = rid;
    PERFORM reconcile.audit('run', name, NULL,
                            pg_catalog.jsonb_build_object('run_id', rid, 'as_of', as_of, 'counts', cnt));
    -- delivered when the transaction commits
    PERFORM pg_catalog.pg_notify('reconcile',
        pg_catalog.jsonb_build_object('name', name, 'run_id', rid, 'counts', cnt)::text);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION reconcile.run(text, date) IS
'Matches the reconciliation''s rows that no earlier run cleared, stores the results, clears what matched, opens or updates items, writes audit_log and notifies channel reconcile; returns the run id (55P03 while another run of it is under way)';
