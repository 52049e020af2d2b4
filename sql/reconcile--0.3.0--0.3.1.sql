/* reconcile--0.3.0--0.3.1.sql: the 0.3.1 layout; no result changes */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reconcile UPDATE TO '0.3.1'" to load this file. \quit

-- 0.3.1 changes how the SQL is kept, not what it does:
-- - the category sets (what a run clears, what needs follow-up) are two functions, used by the
--   views, reconcile.run and the items;
-- - the views and reconcile.run build their matching query with one function,
--   reconcile.matching_sql, which formats the rule with reconcile.rule_sql; reconcile.run_sql and
--   the 0.1.0 three-argument reconcile.side_sql are gone (views made before keep their definitions);
-- - the internal functions say so in their comments, and those that no code running with the
--   caller's rights calls (the aggregates' support functions, the audit log's trigger function)
--   are revoked from PUBLIC.

CREATE FUNCTION reconcile.clears(category reconcile.category)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT category OPERATOR(pg_catalog.=) ANY (ARRAY['matched', 'matched_within_tolerance',
                                                      'many_to_one', 'one_to_many']::reconcile.category[])
$$;
COMMENT ON FUNCTION reconcile.clears(reconcile.category) IS
'True for the categories a run clears for good: matched, matched_within_tolerance, many_to_one, one_to_many (later runs leave such rows alone)';

CREATE FUNCTION reconcile.is_discrepancy(category reconcile.category)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT NOT (reconcile.clears(category) OR category OPERATOR(pg_catalog.=) 'manual'::reconcile.category)
$$;
COMMENT ON FUNCTION reconcile.is_discrepancy(reconcile.category) IS
'True for the categories that need follow-up: every category but the four a run clears and manual (what <name>_discrepancies shows and what becomes an item)';

-- the aggregates' support functions: the aggregate owner calls them, nobody else needs to
COMMENT ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule) IS
'Internal: transition function of reconcile.match_agg and reconcile.match_detail_agg: collects one row';
REVOKE ALL ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.match_agg_combinefn(internal, internal) IS
'Internal: combine function of reconcile.match_agg and reconcile.match_detail_agg: merges two partial states (parallel aggregation)';
REVOKE ALL ON FUNCTION reconcile.match_agg_combinefn(internal, internal) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.match_agg_serialfn(internal) IS
'Internal: serial function of reconcile.match_agg and reconcile.match_detail_agg: a partial state as bytea';
REVOKE ALL ON FUNCTION reconcile.match_agg_serialfn(internal) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.match_agg_deserialfn(bytea, internal) IS
'Internal: deserial function of reconcile.match_agg and reconcile.match_detail_agg: a partial state from bytea';
REVOKE ALL ON FUNCTION reconcile.match_agg_deserialfn(bytea, internal) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.match_agg_finalfn(internal) IS
'Internal: final function of reconcile.match_agg: matches the group and returns its results';
REVOKE ALL ON FUNCTION reconcile.match_agg_finalfn(internal) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.match_detail_agg_finalfn(internal) IS
'Internal: final function of reconcile.match_detail_agg: matches the group and returns its results with amounts and dates';
REVOKE ALL ON FUNCTION reconcile.match_detail_agg_finalfn(internal) FROM PUBLIC;

COMMENT ON FUNCTION reconcile.caller() IS
'Internal: the role the caller acts as (SET ROLE, else the session user), also inside SECURITY DEFINER functions';
COMMENT ON FUNCTION reconcile.can_see(text, name) IS
'Internal (the row level security of the extension''s tables): true when the role may SELECT both source relations of the reconciliation, which decides who sees its runs, results, items and audit entries';
COMMENT ON FUNCTION reconcile.audit_log_refuse() IS
'Internal: trigger function refusing UPDATE, DELETE and TRUNCATE on reconcile.audit_log';
REVOKE ALL ON FUNCTION reconcile.audit_log_refuse() FROM PUBLIC;

-- one generator of the matching query
COMMENT ON FUNCTION reconcile.raw_key(regclass, regclass, jsonb) IS
'Internal to reconcile.matching_sql: whether the key columns can be grouped on as they are (same type, text-like or integer), which lets Citus push the matching down';
COMMENT ON FUNCTION reconcile.side_sql(regclass, boolean, jsonb, boolean) IS
'Internal to reconcile.matching_sql: the SELECT of one source in canonical columns (key first, as Citus needs; as stored when raw_key)';
COMMENT ON FUNCTION reconcile.open_side_sql(regclass, boolean, jsonb, text, boolean) IS
'Internal to reconcile.matching_sql: the SELECT of one source''s rows that no earlier run of reconciliation name cleared (an anti-join Citus can push down)';

CREATE FUNCTION reconcile.rule_sql(r reconcile.rule)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format('reconcile.rule(%L::numeric, %L::numeric, %s, %s, %L::boolean, %L::date)',
                             r.abs_tol, r.rel_tol, r.days_before, r.days_after, r.use_ref, r.as_of)
$$;
COMMENT ON FUNCTION reconcile.rule_sql(reconcile.rule) IS
'Internal to reconcile.matching_sql: a rule as the SQL expression that rebuilds it';

CREATE FUNCTION reconcile.matching_sql(ledger regclass, statement regclass, cols jsonb,
                                       rule reconcile.rule, open_of text DEFAULT NULL)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT (s.key)::text AS key, (s.m).* '
        'FROM (SELECT g.key, pg_catalog.unnest(g.ms) AS m '
        'FROM (SELECT u.key, reconcile.match_detail_agg(u.is_ledger, u.id, u.amount, u.tx_date, u.ref, '
        'u.batch, %s) AS ms FROM (%s UNION ALL %s) u GROUP BY u.key) g) s',
        reconcile.rule_sql(rule),
        CASE WHEN open_of IS NULL THEN reconcile.side_sql(ledger, true, cols -> 'ledger', k.raw)
             ELSE reconcile.open_side_sql(ledger, true, cols -> 'ledger', open_of, k.raw) END,
        CASE WHEN open_of IS NULL THEN reconcile.side_sql(statement, false, cols -> 'statement', k.raw)
             ELSE reconcile.open_side_sql(statement, false, cols -> 'statement', open_of, k.raw) END)
    FROM (SELECT reconcile.raw_key(ledger, statement, cols) AS raw) k
$$;
COMMENT ON FUNCTION reconcile.matching_sql(regclass, regclass, jsonb, reconcile.rule, text) IS
'Internal to reconcile.create and reconcile.run: the query that matches a reconciliation''s sources per key with a rule (with open_of, only the rows no earlier run of that reconciliation cleared); Citus pushes it down';

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

    EXECUTE pg_catalog.format('CREATE VIEW %I.%I WITH (security_invoker = true) AS %s',
                              nsp, name || '_matches', reconcile.matching_sql(ledger, statement, resolved, r));
    EXECUTE pg_catalog.format(
        'CREATE VIEW %I.%I WITH (security_invoker = true) AS SELECT * FROM %I.%I '
        'WHERE reconcile.is_discrepancy(category)',
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

DROP FUNCTION reconcile.run_sql(reconcile.reconciliations, date);
DROP FUNCTION reconcile.side_sql(regclass, boolean, jsonb);
