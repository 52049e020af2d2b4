/* reconcile--0.1.0.sql: primitives, matching aggregate and reconciliation views */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION reconcile" to load this file. \quit

-- everyone may use the primitives, the aggregate and reconcile.create
GRANT USAGE ON SCHEMA reconcile TO PUBLIC;

----------------------------------------------------------------------------
-- Types
----------------------------------------------------------------------------

CREATE TYPE reconcile.category AS ENUM (
    'matched',
    'matched_within_tolerance',
    'many_to_one',
    'one_to_many',
    'manual',
    'timing_difference',
    'in_transit',
    'amount_mismatch',
    'reversal',
    'duplicate',
    'missing_in_statement',
    'missing_in_ledger',
    'invalid'
);
COMMENT ON TYPE reconcile.category IS
'How a ledger or statement row was reconciled: matched, matched_within_tolerance, many_to_one, one_to_many, manual, timing_difference, in_transit, amount_mismatch, reversal, duplicate, missing_in_statement, missing_in_ledger, invalid';

CREATE TYPE reconcile.rule AS (
    abs_tol     numeric,
    rel_tol     numeric,
    days_before integer,
    days_after  integer,
    use_ref     boolean,
    as_of       date
);
COMMENT ON TYPE reconcile.rule IS
'Matching rule: absolute and relative amount tolerance, date window [date - days_before, date + days_after], whether refs are used, and the as_of date for in_transit; build it with reconcile.rule()';

CREATE TYPE reconcile.match AS (
    ledger_id    text,
    statement_id text,
    category     reconcile.category,
    amount_diff  numeric,
    days_diff    integer,
    score        double precision,
    group_id     integer,
    note         text
);
COMMENT ON TYPE reconcile.match IS
'One result of reconcile.match_agg: the ledger and statement ids paired (either may be NULL), the category, statement minus ledger amount and date, a score in [0,1] (1 = exact), the group of a many_to_one/one_to_many set, and a short reason';

CREATE TYPE reconcile.match_detail AS (
    ledger_id        text,
    statement_id     text,
    category         reconcile.category,
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
COMMENT ON TYPE reconcile.match_detail IS
'reconcile.match plus the amounts and dates of both rows; the element type of reconcile.match_detail_agg, which the reconciliation views use';

----------------------------------------------------------------------------
-- Primitives
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.amount_within(expected numeric, actual numeric,
                                        abs_tol numeric DEFAULT 0, rel_tol numeric DEFAULT 0)
RETURNS boolean
AS 'MODULE_PATHNAME', 'rc_amount_within'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.amount_within(numeric, numeric, numeric, numeric) IS
'True when abs(actual - expected) <= greatest(abs_tol, rel_tol * abs(expected)), computed exactly in numeric';

CREATE FUNCTION reconcile.days_within(expected date, actual date,
                                      days_before integer DEFAULT 0, days_after integer DEFAULT 0)
RETURNS boolean
AS 'MODULE_PATHNAME', 'rc_days_within'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.days_within(date, date, integer, integer) IS
'True when expected - days_before <= actual <= expected + days_after';

CREATE FUNCTION reconcile.ref_similarity(a text, b text)
RETURNS double precision
AS 'MODULE_PATHNAME', 'rc_ref_similarity'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.ref_similarity(text, text) IS
'Similarity of two references after normalising (case folded, letters and digits only): 1 when the shorter has at least 4 characters and occurs in the longer, else shared character bigrams / (bigrams of the longer + 1), 0 when either is empty';

CREATE FUNCTION reconcile.rule(abs_tol numeric DEFAULT 0, rel_tol numeric DEFAULT 0,
                               days_before integer DEFAULT 0, days_after integer DEFAULT 3,
                               use_ref boolean DEFAULT true, as_of date DEFAULT NULL)
RETURNS reconcile.rule
AS 'MODULE_PATHNAME', 'rc_rule'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.rule(numeric, numeric, integer, integer, boolean, date) IS
'A validated matching rule; negative, NaN or infinite tolerances, negative day counts and NULLs (but as_of) raise 22023';

----------------------------------------------------------------------------
-- The matching aggregates
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text,
                                            reconcile.rule)
RETURNS internal
AS 'MODULE_PATHNAME', 'rc_match_agg_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule) IS
'Transition function of reconcile.match_agg and reconcile.match_detail_agg: collects one row';

CREATE FUNCTION reconcile.match_agg_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'rc_match_agg_combinefn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_combinefn(internal, internal) IS
'Combine function of reconcile.match_agg: merges two partial states (parallel aggregation)';

CREATE FUNCTION reconcile.match_agg_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rc_match_agg_serialfn'
LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_serialfn(internal) IS
'Serial function of reconcile.match_agg: a partial state as bytea';

CREATE FUNCTION reconcile.match_agg_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'rc_match_agg_deserialfn'
LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_deserialfn(bytea, internal) IS
'Deserial function of reconcile.match_agg: a partial state from bytea';

CREATE FUNCTION reconcile.match_agg_finalfn(internal)
RETURNS reconcile.match[]
AS 'MODULE_PATHNAME', 'rc_match_agg_finalfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_finalfn(internal) IS
'Final function of reconcile.match_agg: matches the group and returns its results';

CREATE FUNCTION reconcile.match_detail_agg_finalfn(internal)
RETURNS reconcile.match_detail[]
AS 'MODULE_PATHNAME', 'rc_match_detail_agg_finalfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_detail_agg_finalfn(internal) IS
'Final function of reconcile.match_detail_agg: matches the group and returns its results with amounts and dates';

CREATE AGGREGATE reconcile.match_agg(is_ledger boolean, id text, amount numeric, tx_date date,
                                     ref text, batch text, rule reconcile.rule) (
    SFUNC = reconcile.match_agg_transfn,
    STYPE = internal,
    FINALFUNC = reconcile.match_agg_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = reconcile.match_agg_combinefn,
    SERIALFUNC = reconcile.match_agg_serialfn,
    DESERIALFUNC = reconcile.match_agg_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE reconcile.match_agg(boolean, text, numeric, date, text, text, reconcile.rule) IS
'Matches the ledger rows (is_ledger) and statement rows of one group and returns one reconcile.match per row; NULL or repeated ids on one side raise 23505, a result over 1 GB raises 54000';

CREATE AGGREGATE reconcile.match_detail_agg(is_ledger boolean, id text, amount numeric,
                                            tx_date date, ref text, batch text,
                                            rule reconcile.rule) (
    SFUNC = reconcile.match_agg_transfn,
    STYPE = internal,
    FINALFUNC = reconcile.match_detail_agg_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = reconcile.match_agg_combinefn,
    SERIALFUNC = reconcile.match_agg_serialfn,
    DESERIALFUNC = reconcile.match_agg_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE reconcile.match_detail_agg(boolean, text, numeric, date, text, text, reconcile.rule) IS
'reconcile.match_agg returning reconcile.match_detail (with both rows'' amounts and dates); used by the views of reconcile.create';

----------------------------------------------------------------------------
-- Registered reconciliations
----------------------------------------------------------------------------

CREATE TABLE reconcile.reconciliations (
    name        text PRIMARY KEY,
    ledger      regclass NOT NULL,
    statement   regclass NOT NULL,
    rule        reconcile.rule NOT NULL,
    columns     jsonb NOT NULL,
    view_schema name NOT NULL,
    owner       name NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE reconcile.reconciliations IS
'Reconciliations registered by reconcile.create: sources, rule, column mapping and where the views are';
COMMENT ON COLUMN reconcile.reconciliations.name IS 'Name of the reconciliation, prefix of its views';
COMMENT ON COLUMN reconcile.reconciliations.ledger IS 'Ledger relation (what should be received)';
COMMENT ON COLUMN reconcile.reconciliations.statement IS 'Statement relation (what was received)';
COMMENT ON COLUMN reconcile.reconciliations.rule IS 'Matching rule';
COMMENT ON COLUMN reconcile.reconciliations.columns IS 'Resolved column names per side: {"ledger": {canonical: column}, "statement": {...}}';
COMMENT ON COLUMN reconcile.reconciliations.view_schema IS 'Schema holding the <name>_matches, _discrepancies and _summary views';
COMMENT ON COLUMN reconcile.reconciliations.owner IS 'Role that created the reconciliation';
COMMENT ON COLUMN reconcile.reconciliations.created_at IS 'When it was created';

SELECT pg_catalog.pg_extension_config_dump('reconcile.reconciliations', '');

ALTER TABLE reconcile.reconciliations ENABLE ROW LEVEL SECURITY;
CREATE POLICY reconciliations_read ON reconcile.reconciliations
    FOR SELECT USING (true);
CREATE POLICY reconciliations_insert ON reconcile.reconciliations
    FOR INSERT WITH CHECK (owner = current_user);
CREATE POLICY reconciliations_delete ON reconcile.reconciliations
    FOR DELETE USING (pg_catalog.pg_has_role(current_user, owner, 'MEMBER'));
GRANT SELECT, INSERT, DELETE ON reconcile.reconciliations TO PUBLIC;

----------------------------------------------------------------------------
-- reconcile.create / reconcile.drop
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

-- The SELECT list of one side of a reconciliation's UNION ALL.
CREATE FUNCTION reconcile.side_sql(rel regclass, is_ledger boolean, cols jsonb)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT %s AS key, %s AS is_ledger, %s AS id, %s AS amount, %s AS tx_date, %s AS ref, %s AS batch FROM %s',
        CASE WHEN cols ? 'key' THEN pg_catalog.format('(%I)::text', cols ->> 'key') ELSE 'NULL::text' END,
        CASE WHEN is_ledger THEN 'true' ELSE 'false' END,
        pg_catalog.format('(%I)::text', cols ->> 'id'),
        pg_catalog.format('(%I)::numeric', cols ->> 'amount'),
        pg_catalog.format('(%I)::date', cols ->> 'tx_date'),
        CASE WHEN cols ? 'ref' THEN pg_catalog.format('(%I)::text', cols ->> 'ref') ELSE 'NULL::text' END,
        CASE WHEN cols ? 'batch' THEN pg_catalog.format('(%I)::text', cols ->> 'batch') ELSE 'NULL::text' END,
        rel)
$$;
COMMENT ON FUNCTION reconcile.side_sql(regclass, boolean, jsonb) IS
'Internal to reconcile.create: the SELECT of one source in canonical columns (key first, as Citus needs)';

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
    rule_sql  text;
    matches   text;
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
    matches := pg_catalog.format(
        'SELECT g.key, m.ledger_id, m.statement_id, m.category, m.amount_diff, m.days_diff, m.score, '
        'm.group_id, m.note, m.ledger_amount, m.statement_amount, m.ledger_date, m.statement_date '
        'FROM (SELECT u.key, reconcile.match_detail_agg(u.is_ledger, u.id, u.amount, u.tx_date, '
        'u.ref, u.batch, %s) AS ms FROM (%s UNION ALL %s) u GROUP BY u.key) g '
        'CROSS JOIN LATERAL pg_catalog.unnest(g.ms) AS m',
        rule_sql,
        reconcile.side_sql(ledger, true, resolved -> 'ledger'),
        reconcile.side_sql(statement, false, resolved -> 'statement'));

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
'Drops the three views of a reconciliation and its registration (42704 when unknown)';
