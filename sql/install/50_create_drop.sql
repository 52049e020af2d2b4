/* 50_create_drop.sql: reconcile.create and reconcile.drop, and the query behind the views and runs */

----------------------------------------------------------------------------
-- Internal: the matching query
----------------------------------------------------------------------------

-- The column of rel named by the caller for one canonical name, or NULL
-- when an optional canonical column is absent and was not mapped.
CREATE FUNCTION reconcile.resolve_column(rel regclass, side text, canonical text, mapping jsonb,
                                         required boolean)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col    text;
    mapped boolean := mapping ? canonical;
BEGIN
    IF mapped THEN
        IF pg_catalog.jsonb_typeof(mapping -> canonical) <> 'string' THEN
            RAISE EXCEPTION 'column mapping for % "%" must be a string', side, canonical
                USING ERRCODE = '22023';
        END IF;
        col := mapping ->> canonical;
    ELSE
        col := canonical;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
               WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0
                 AND NOT a.attisdropped) THEN
        RETURN col::name;
    END IF;
    IF mapped OR required THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', col, rel
            USING ERRCODE = '42703',
                  DETAIL = pg_catalog.format('The %s column "%s" was %s.', side, canonical,
                                             CASE WHEN mapped THEN 'mapped to it' ELSE 'not mapped, so its canonical name was used' END);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION reconcile.resolve_column(regclass, text, text, jsonb, boolean) IS
'Internal to reconcile.create: the column a canonical name (id, amount, tx_date, ref, batch, key) maps to, checked to exist (42703)';

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
'Internal to reconcile.matching_sql: whether the key columns can be grouped on as they are (same type, text-like or integer), which lets Citus push the matching down';

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
'Internal to reconcile.matching_sql: the SELECT of one source in canonical columns (key first, as Citus needs; as stored when raw_key)';

-- The SELECT of one source's rows not yet cleared, in canonical columns (Citus refuses a
-- correlated NOT EXISTS on a local table; it plans this LEFT JOIN's subquery on its own).
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
'Internal to reconcile.matching_sql: the SELECT of one source''s rows that no earlier run of reconciliation name cleared (an anti-join Citus can push down)';

-- The rule as SQL text, for the matching query: formatted here and nowhere else.
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

-- The query that matches a reconciliation, for its views and for its runs alike: both sources in
-- canonical columns (with open_of, only the rows that no earlier run of that reconciliation
-- cleared), matched per key by match_detail_agg, one row per result with the columns of
-- <name>_matches.  Written so that Citus can push the matching down to the shards when the
-- sources are distributed by the key and co-located: the key is grouped on as stored where that
-- is safe (raw_key), the anti-join against reconcile.cleared is a LEFT JOIN to a subquery (sent to
-- the workers as an intermediate result), and the result array is unnested in the SELECT list (a
-- LATERAL join over a subquery that reads an intermediate result cannot be pushed down).
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

CREATE FUNCTION reconcile.create_in(nsp text, name text, ledger regclass, statement regclass,
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
COMMENT ON FUNCTION reconcile.create_in(text, text, regclass, regclass, reconcile.rule, jsonb) IS
'Internal to reconcile.create: registers the reconciliation and creates its views in schema nsp';

----------------------------------------------------------------------------
-- reconcile.create / reconcile.drop
----------------------------------------------------------------------------

-- The caller's current schema must be read before search_path is pinned.
CREATE FUNCTION reconcile."create"(name text, ledger regclass, statement regclass,
                                   rule reconcile.rule DEFAULT reconcile.rule(),
                                   columns jsonb DEFAULT '{}')
RETURNS void
LANGUAGE sql
AS $$
    SELECT reconcile.create_in(pg_catalog.current_schema(), name, ledger, statement, rule, columns)
$$;
COMMENT ON FUNCTION reconcile."create"(text, regclass, regclass, reconcile.rule, jsonb) IS
'Registers a reconciliation and creates the security_invoker views <name>_matches, <name>_discrepancies and <name>_summary in the current schema; columns maps canonical names (id, amount, tx_date, ref, batch, key) to column names per side';

-- Releases the rows a reconciliation cleared and closes its items, so that one created again
-- under the same name starts afresh; the runs, results and audit_log stay for the auditor.
CREATE FUNCTION reconcile.forget(name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM reconcile.reconciliations r WHERE r.name = forget.name
                   AND pg_catalog.pg_has_role(reconcile.caller(), r.owner, 'MEMBER')) THEN
        RAISE EXCEPTION 'permission denied to drop reconciliation "%"', name
            USING ERRCODE = '42501', HINT = 'Only its owner can drop it.';
    END IF;
    DELETE FROM reconcile.cleared c WHERE c.name = forget.name;
    UPDATE reconcile.items i SET status = 'cleared' WHERE i.name = forget.name AND i.status <> 'cleared';
    PERFORM reconcile.audit('drop', name, NULL, '{}');
END
$$;
COMMENT ON FUNCTION reconcile.forget(text) IS
'Internal to reconcile.drop: releases the rows a reconciliation cleared and closes its items; its runs, results and audit_log stay';

CREATE FUNCTION reconcile."drop"(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations;
BEGIN
    SELECT * INTO reg FROM reconcile.reconciliations c WHERE c.name = "drop".name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reconciliation "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    PERFORM reconcile.forget(name);
    EXECUTE pg_catalog.format('DROP VIEW IF EXISTS %I.%I, %I.%I, %I.%I',
                              reg.view_schema, name || '_summary',
                              reg.view_schema, name || '_discrepancies',
                              reg.view_schema, name || '_matches');
    DELETE FROM reconcile.reconciliations c WHERE c.name = "drop".name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'permission denied to drop reconciliation "%"', name
            USING ERRCODE = '42501', HINT = 'Only its owner can drop it.';
    END IF;
END
$$;
COMMENT ON FUNCTION reconcile."drop"(text) IS
'Drops the three views of a reconciliation and its registration, releases the rows it cleared and closes its items (42704 when unknown); its runs, results and audit_log stay';
