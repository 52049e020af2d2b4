/* reconcile--0.2.0--0.3.0.sql: reconciliation runs on Citus */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reconcile UPDATE TO '0.3.0'" to load this file. \quit

-- The views and reconcile.run are written so that Citus can push the matching down to the shards
-- when the sources are distributed by the key and co-located:
-- - the key is grouped on as the column itself when both sides' key columns have the same type
--   whose equality is that of its text form (text, varchar, char, integers, uuid), and cast to
--   text only in the output, so Citus sees its distribution column in every leg of the UNION ALL
--   (views of reconciliations created before keep their definitions);
-- - reconcile.run's anti-join against reconcile.cleared becomes a LEFT JOIN to a subquery (Citus
--   sends the cleared rows to the workers as an intermediate result), and the result array is
--   unnested in the SELECT list; the query is built by reconcile.run_sql.
-- On a single node the plans are the same hash anti-joins and aggregates as before.

-- Whether a reconciliation's key can be grouped on as stored: both key columns of one type whose
-- equality is the equality of their text form.
CREATE FUNCTION reconcile.raw_key(ledger regclass, statement regclass, cols jsonb)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE((
        SELECT l.atttypid = s.atttypid
               AND l.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'int2'::regtype,
                                  'int4'::regtype, 'int8'::regtype, 'uuid'::regtype)
        FROM pg_catalog.pg_attribute l, pg_catalog.pg_attribute s
        WHERE l.attrelid = ledger AND l.attname = cols -> 'ledger' ->> 'key' AND NOT l.attisdropped
          AND s.attrelid = statement AND s.attname = cols -> 'statement' ->> 'key' AND NOT s.attisdropped), false)
$$;
COMMENT ON FUNCTION reconcile.raw_key(regclass, regclass, jsonb) IS
'Internal to reconcile.create and reconcile.run: whether the key columns can be grouped on as they are (same type, text-like or integer), which lets Citus push the matching down';

-- The SELECT list of one side; with raw_key the key column as it is, else cast to text.
CREATE FUNCTION reconcile.side_sql(rel regclass, is_ledger boolean, cols jsonb, raw_key boolean)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT %s AS key, %s AS is_ledger, %s AS id, %s AS amount, %s AS tx_date, %s AS ref, %s AS batch FROM %s',
        CASE WHEN NOT cols ? 'key' THEN 'NULL::text'
             WHEN raw_key THEN pg_catalog.format('%I', cols ->> 'key')
             ELSE pg_catalog.format('(%I)::text', cols ->> 'key') END,
        CASE WHEN is_ledger THEN 'true' ELSE 'false' END,
        pg_catalog.format('(%I)::text', cols ->> 'id'),
        pg_catalog.format('(%I)::numeric', cols ->> 'amount'),
        pg_catalog.format('(%I)::date', cols ->> 'tx_date'),
        CASE WHEN cols ? 'ref' THEN pg_catalog.format('(%I)::text', cols ->> 'ref') ELSE 'NULL::text' END,
        CASE WHEN cols ? 'batch' THEN pg_catalog.format('(%I)::text', cols ->> 'batch') ELSE 'NULL::text' END,
        rel)
$$;
COMMENT ON FUNCTION reconcile.side_sql(regclass, boolean, jsonb, boolean) IS
'Internal to reconcile.create and reconcile.run: the SELECT of one source in canonical columns (key first, as Citus needs; as stored when raw_key)';

CREATE OR REPLACE FUNCTION reconcile.side_sql(rel regclass, is_ledger boolean, cols jsonb)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT reconcile.side_sql(rel, is_ledger, cols, false)
$$;
COMMENT ON FUNCTION reconcile.side_sql(regclass, boolean, jsonb) IS
'Internal (0.1.0 and 0.2.0): the SELECT of one source in canonical columns, the key cast to text';

CREATE OR REPLACE FUNCTION reconcile.create_in(nsp text, name text, ledger regclass, statement regclass,
                                    rule reconcile.rule, columns jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r         reconcile.rule;
    side      text;
    canonical text;
    resolved  jsonb := '{}';
    sidecols  jsonb;
    rel       regclass;
    col       text;
    rule_sql  text;
    matches   text;
    rawkey    boolean;
BEGIN
    IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]{0,40}$' THEN
        RAISE EXCEPTION 'invalid reconciliation name "%"', name
            USING ERRCODE = '22023',
                  HINT = 'A name is 1 to 41 lower-case letters, digits and underscores, not starting with a digit.';
    END IF;
    IF ledger IS NULL OR statement IS NULL THEN
        RAISE EXCEPTION 'ledger and statement must not be null' USING ERRCODE = '22023';
    END IF;
    IF rule IS NULL THEN
        RAISE EXCEPTION '"rule" must not be null' USING ERRCODE = '22023';
    END IF;
    -- the C constructor validates every field
    r := reconcile.rule(rule.abs_tol, rule.rel_tol, rule.days_before, rule.days_after,
                        rule.use_ref, rule.as_of);
    IF nsp IS NULL THEN
        RAISE EXCEPTION 'no schema has been selected to create the views in'
            USING ERRCODE = '3F000';
    END IF;
    IF EXISTS (SELECT 1 FROM reconcile.reconciliations c WHERE c.name = create_in.name) THEN
        RAISE EXCEPTION 'reconciliation "%" already exists', name USING ERRCODE = '42710';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
               WHERE c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = nsp)
                 AND c.relname IN (name || '_matches', name || '_discrepancies', name || '_summary')) THEN
        RAISE EXCEPTION 'relation "%" already exists in schema "%"', name || '_matches', nsp
            USING ERRCODE = '42710',
                  DETAIL = 'One of the views of the reconciliation would replace it.';
    END IF;

    -- resolve the column mapping, side by side
    columns := COALESCE(columns, '{}');
    IF pg_catalog.jsonb_typeof(columns) <> 'object' THEN
        RAISE EXCEPTION '"columns" must be a JSON object' USING ERRCODE = '22023';
    END IF;
    FOR side IN SELECT pg_catalog.jsonb_object_keys(columns) LOOP
        IF side NOT IN ('ledger', 'statement') THEN
            RAISE EXCEPTION 'unknown side "%" in "columns"', side
                USING ERRCODE = '22023', HINT = 'The sides are "ledger" and "statement".';
        END IF;
        IF pg_catalog.jsonb_typeof(columns -> side) <> 'object' THEN
            RAISE EXCEPTION 'column mapping of the % must be a JSON object', side USING ERRCODE = '22023';
        END IF;
        FOR canonical IN SELECT pg_catalog.jsonb_object_keys(columns -> side) LOOP
            IF canonical NOT IN ('id', 'amount', 'tx_date', 'ref', 'batch', 'key') THEN
                RAISE EXCEPTION 'unknown column "%" in the % mapping', canonical, side
                    USING ERRCODE = '22023',
                          HINT = 'The canonical columns are id, amount, tx_date, ref, batch and key.';
            END IF;
        END LOOP;
    END LOOP;
    FOREACH side IN ARRAY ARRAY['ledger', 'statement'] LOOP
        rel := CASE side WHEN 'ledger' THEN ledger ELSE statement END;
        sidecols := '{}';
        FOREACH canonical IN ARRAY ARRAY['id', 'amount', 'tx_date', 'ref', 'batch', 'key'] LOOP
            col := reconcile.resolve_column(rel, side, canonical, COALESCE(columns -> side, '{}'),
                                            canonical IN ('id', 'amount', 'tx_date'));
            IF col IS NOT NULL THEN
                sidecols := sidecols || pg_catalog.jsonb_build_object(canonical, col);
            END IF;
        END LOOP;
        resolved := resolved || pg_catalog.jsonb_build_object(side, sidecols);
    END LOOP;
    IF (resolved -> 'ledger' ? 'key') <> (resolved -> 'statement' ? 'key') THEN
        RAISE EXCEPTION 'a key column must be on both sides or on neither'
            USING ERRCODE = '22023',
                  DETAIL = pg_catalog.format('The key is only on the %s side.',
                                             CASE WHEN resolved -> 'ledger' ? 'key' THEN 'ledger' ELSE 'statement' END);
    END IF;

    rule_sql := pg_catalog.format('reconcile.rule(%L::numeric, %L::numeric, %s, %s, %L::boolean, %L::date)',
                                  r.abs_tol, r.rel_tol, r.days_before, r.days_after, r.use_ref, r.as_of);
    -- group by the key column itself where that is safe (Citus then sees its distribution column)
    rawkey := reconcile.raw_key(ledger, statement, resolved);
    matches := pg_catalog.format(
        'SELECT (g.key)::text AS key, m.ledger_id, m.statement_id, m.category, m.amount_diff, m.days_diff, m.score, '
        'm.group_id, m.note, m.ledger_amount, m.statement_amount, m.ledger_date, m.statement_date '
        'FROM (SELECT u.key, reconcile.match_detail_agg(u.is_ledger, u.id, u.amount, u.tx_date, '
        'u.ref, u.batch, %s) AS ms FROM (%s UNION ALL %s) u GROUP BY u.key) g '
        'CROSS JOIN LATERAL pg_catalog.unnest(g.ms) AS m',
        rule_sql,
        reconcile.side_sql(ledger, true, resolved -> 'ledger', rawkey),
        reconcile.side_sql(statement, false, resolved -> 'statement', rawkey));

    EXECUTE pg_catalog.format('CREATE VIEW %I.%I WITH (security_invoker = true) AS %s',
                              nsp, name || '_matches', matches);
    EXECUTE pg_catalog.format(
        'CREATE VIEW %I.%I WITH (security_invoker = true) AS SELECT * FROM %I.%I '
        'WHERE category OPERATOR(pg_catalog.<>) ALL (ARRAY[''matched'', ''matched_within_tolerance'', '
        '''many_to_one'', ''one_to_many'', ''manual'']::reconcile.category[])',
        nsp, name || '_discrepancies', nsp, name || '_matches');
    EXECUTE pg_catalog.format(
        'CREATE VIEW %I.%I WITH (security_invoker = true) AS '
        'SELECT key, category, pg_catalog.sum(n)::bigint AS rows, pg_catalog.sum(la) AS ledger_amount, '
        'pg_catalog.sum(sa) AS statement_amount, pg_catalog.sum(ad) AS amount_diff '
        'FROM (SELECT key, category, group_id, pg_catalog.count(*) AS n, '
        'CASE WHEN category OPERATOR(pg_catalog.=) ''one_to_many'' THEN pg_catalog.max(ledger_amount) '
        'ELSE pg_catalog.sum(ledger_amount) END AS la, '
        'CASE WHEN category OPERATOR(pg_catalog.=) ''many_to_one'' THEN pg_catalog.max(statement_amount) '
        'ELSE pg_catalog.sum(statement_amount) END AS sa, '
        'pg_catalog.sum(amount_diff) AS ad FROM %I.%I GROUP BY key, category, group_id) x '
        'GROUP BY key, category',
        nsp, name || '_summary', nsp, name || '_matches');

    EXECUTE pg_catalog.format('COMMENT ON VIEW %I.%I IS %L', nsp, name || '_matches',
        pg_catalog.format('Reconciliation %s: every row of %s and %s with its category (reconcile.create)', name, ledger, statement));
    EXECUTE pg_catalog.format('COMMENT ON VIEW %I.%I IS %L', nsp, name || '_discrepancies',
        pg_catalog.format('Reconciliation %s: the rows of %s_matches that need follow-up (not matched, matched_within_tolerance, many_to_one, one_to_many or manual)', name, name));
    EXECUTE pg_catalog.format('COMMENT ON VIEW %I.%I IS %L', nsp, name || '_summary',
        pg_catalog.format('Reconciliation %s: rows, ledger and statement amounts and difference per key and category (each statement row of a many_to_one group and ledger row of a one_to_many group counted once)', name));

    INSERT INTO reconcile.reconciliations (name, ledger, statement, rule, columns, view_schema)
    VALUES (create_in.name, ledger, statement, r, resolved, nsp);
END
$$;
COMMENT ON FUNCTION reconcile.create_in(text, text, regclass, regclass, reconcile.rule, jsonb) IS
'Internal to reconcile.create: registers the reconciliation and creates its views in schema nsp';

-- The SELECT of one source's rows not yet cleared, in canonical columns (Citus refuses a
-- correlated NOT EXISTS on a local table; it plans this LEFT JOIN's subquery on its own).
DROP FUNCTION reconcile.open_side_sql(regclass, boolean, jsonb, text);
CREATE FUNCTION reconcile.open_side_sql(rel regclass, is_ledger boolean, cols jsonb, name text, raw_key boolean)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT src.* FROM (%s) src LEFT JOIN (SELECT c.key, c.id FROM reconcile.cleared c '
        'WHERE c.name = %L AND c.is_ledger = %s) c ON c.id = src.id '
        'AND c.key IS NOT DISTINCT FROM COALESCE((src.key)::text, '''') WHERE c.id IS NULL',
        reconcile.side_sql(rel, is_ledger, cols, raw_key), name, CASE WHEN is_ledger THEN 'true' ELSE 'false' END)
$$;
COMMENT ON FUNCTION reconcile.open_side_sql(regclass, boolean, jsonb, text, boolean) IS
'Internal to reconcile.run: the SELECT of one source''s rows that no earlier run cleared (an anti-join Citus can push down)';

-- The query of a run: the reconciliation's rows that no earlier run cleared, matched per key as
-- of as_of.  The array is unnested in the SELECT list, not by a LATERAL join: on Citus a LATERAL
-- join over a subquery that reads an intermediate result (the cleared rows) cannot be pushed down.
CREATE FUNCTION reconcile.run_sql(reg reconcile.reconciliations, as_of date)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT (s.key)::text AS key, (s.m).* '
        'FROM (SELECT g.key, pg_catalog.unnest(g.ms) AS m '
        'FROM (SELECT u.key, reconcile.match_detail_agg(u.is_ledger, u.id, u.amount, u.tx_date, u.ref, '
        'u.batch, reconcile.rule(%L::numeric, %L::numeric, %s, %s, %L::boolean, %L::date)) AS ms '
        'FROM (%s UNION ALL %s) u GROUP BY u.key) g) s',
        (reg.rule).abs_tol, (reg.rule).rel_tol, (reg.rule).days_before, (reg.rule).days_after,
        (reg.rule).use_ref, as_of,
        reconcile.open_side_sql(reg.ledger, true, reg.columns -> 'ledger', reg.name, k.raw),
        reconcile.open_side_sql(reg.statement, false, reg.columns -> 'statement', reg.name, k.raw))
    FROM (SELECT reconcile.raw_key(reg.ledger, reg.statement, reg.columns) AS raw) k
$$;
COMMENT ON FUNCTION reconcile.run_sql(reconcile.reconciliations, date) IS
'Internal to reconcile.run: the query that matches a reconciliation''s rows no earlier run cleared, as of a date (Citus pushes it down)';

CREATE OR REPLACE FUNCTION reconcile.run(name text, as_of date DEFAULT current_date)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off                           -- the work is in C; compiling the plan only costs
AS $$
#variable_conflict use_column
DECLARE
    reg     reconcile.reconciliations := reconcile.registered(name, true);
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
    -- scans and the anti-joins against reconcile.cleared (INSERT ... SELECT may not)
    EXECUTE 'CREATE TEMP TABLE reconcile_run_results ON COMMIT DROP AS ' || reconcile.run_sql(reg, as_of);
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
