/* reconcile--0.2.0--0.3.0.sql: reconciliation runs on Citus */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reconcile UPDATE TO '0.3.0'" to load this file. \quit

-- reconcile.run's matching query is rewritten so that Citus can push it down to the shards when
-- the sources are distributed by the key and co-located: the anti-join against reconcile.cleared
-- becomes a LEFT JOIN to a subquery (Citus sends the cleared rows to the workers as an
-- intermediate result) and the result array is unnested in the SELECT list.  On a single node
-- the plans are the same hash anti-joins as before.  Nothing else changes.

-- The SELECT of one source's rows not yet cleared, in canonical columns (Citus refuses a
-- correlated NOT EXISTS on a local table; it plans this LEFT JOIN's subquery on its own).
CREATE OR REPLACE FUNCTION reconcile.open_side_sql(rel regclass, is_ledger boolean, cols jsonb, name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT src.* FROM (%s) src LEFT JOIN (SELECT c.key, c.id FROM reconcile.cleared c '
        'WHERE c.name = %L AND c.is_ledger = %s) c ON c.id = src.id '
        'AND c.key = COALESCE(src.key, '''') WHERE c.id IS NULL',
        reconcile.side_sql(rel, is_ledger, cols), name, CASE WHEN is_ledger THEN 'true' ELSE 'false' END)
$$;
COMMENT ON FUNCTION reconcile.open_side_sql(regclass, boolean, jsonb, text) IS
'Internal to reconcile.run: the SELECT of one source''s rows that no earlier run cleared (an anti-join Citus can push down)';

CREATE OR REPLACE FUNCTION reconcile.run(name text, as_of date DEFAULT current_date)
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
    INSERT INTO reconcile.runs (name, as_of, started_at, run_by)
    VALUES (run.name, as_of, pg_catalog.clock_timestamp(), reconcile.caller())
    RETURNING run_id INTO rid;

    -- match what no earlier run cleared; CREATE TABLE AS may use parallel workers for the
    -- scans and the anti-joins against reconcile.cleared (INSERT ... SELECT may not). The array
    -- is unnested in the SELECT list, not by a LATERAL join: on Citus a LATERAL join over a
    -- subquery that reads an intermediate result (the cleared rows) cannot be pushed down.
    EXECUTE pg_catalog.format(
        'CREATE TEMP TABLE reconcile_run_results ON COMMIT DROP AS SELECT s.key, (s.m).* '
        'FROM (SELECT g.key, pg_catalog.unnest(g.ms) AS m '
        'FROM (SELECT u.key, reconcile.match_detail_agg(u.is_ledger, u.id, u.amount, u.tx_date, u.ref, '
        'u.batch, reconcile.rule(%L::numeric, %L::numeric, %s, %s, %L::boolean, %L::date)) AS ms '
        'FROM (%s UNION ALL %s) u GROUP BY u.key) g) s',
        r.abs_tol, r.rel_tol, r.days_before, r.days_after, r.use_ref, as_of,
        reconcile.open_side_sql(reg.ledger, true, reg.columns -> 'ledger', name),
        reconcile.open_side_sql(reg.statement, false, reg.columns -> 'statement', name));
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
      AND x.category IN ('matched', 'matched_within_tolerance', 'many_to_one', 'one_to_many');

    -- items: the discrepancies found, one per pair or row, kept across runs
    INSERT INTO reconcile.items AS i (name, key, ledger_id, statement_id, category, amount_diff,
                                      ledger_amount, statement_amount, ledger_date, statement_date,
                                      first_run_id, last_run_id)
    SELECT run.name, x.key, x.ledger_id, x.statement_id, x.category, x.amount_diff, x.ledger_amount,
           x.statement_amount, x.ledger_date, x.statement_date, rid, rid
    FROM reconcile.results x
    WHERE x.run_id = rid
      AND x.category NOT IN ('matched', 'matched_within_tolerance', 'many_to_one', 'one_to_many', 'manual')
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
