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

-- The greater-than operator of a type's default btree ordering, as OPERATOR(schema.name), for the
-- comparisons with a run's mark; NULL when the type has none and cannot be a seq column
-- (src/identity.c: looked up in the type cache, nothing of the type's own runs).
CREATE FUNCTION reconcile.order_operator(type regtype)
RETURNS text
AS 'MODULE_PATHNAME', 'rc_order_operator'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.order_operator(regtype) IS
'Internal to reconcile.create and reconcile.source_sql: the > of a type''s default btree ordering, as OPERATOR(schema.name), NULL when it has none';

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

-- Keys and ids are compared as text, across sessions: the types whose text depends on the
-- session's settings are written by reconcile.key_text (src/identity.c), the others cast.
CREATE FUNCTION reconcile.key_text(value anyelement)
RETURNS text
AS 'MODULE_PATHNAME', 'rc_key_text'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.key_text(anyelement) IS
'Internal: the text of a date, timestamp, timestamptz, interval, float or bytea key or id, the same under any DateStyle, TimeZone, IntervalStyle, extra_float_digits and bytea_output (ISO, UTC, postgres, shortest exact, hex)';

-- The text of column col of rel, as SQL: reconcile.key_text for the types it takes (or domains
-- over them), a cast for the others.
CREATE FUNCTION reconcile.text_sql(rel regclass, col text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE t(oid, base) AS (
        SELECT y.oid, y.typbasetype
        FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type y ON y.oid = a.atttypid
        WHERE a.attrelid = rel AND a.attname = col AND NOT a.attisdropped
        UNION ALL
        SELECT y.oid, y.typbasetype FROM t JOIN pg_catalog.pg_type y ON y.oid = t.base WHERE t.base <> 0)
    SELECT CASE WHEN EXISTS (SELECT FROM t WHERE t.base = 0 AND t.oid IN (
                    'pg_catalog.date'::pg_catalog.regtype, 'pg_catalog.timestamp'::pg_catalog.regtype,
                    'pg_catalog.timestamptz'::pg_catalog.regtype, 'pg_catalog.interval'::pg_catalog.regtype,
                    'pg_catalog.float4'::pg_catalog.regtype, 'pg_catalog.float8'::pg_catalog.regtype,
                    'pg_catalog.bytea'::pg_catalog.regtype))
                THEN pg_catalog.format('reconcile.key_text(%I)', col)
                ELSE pg_catalog.format('(%I)::text', col) END
$$;
COMMENT ON FUNCTION reconcile.text_sql(regclass, text) IS
'Internal to reconcile.side_sql: the SQL that writes a key or id column as text the same way in every session';

-- The SELECT list of one side; with raw_key the key column as it is, else as text (text_sql).
CREATE FUNCTION reconcile.side_sql(rel regclass, is_ledger boolean, cols jsonb, raw_key boolean)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT %s AS key, %s AS is_ledger, %s AS id, %s AS amount, %s AS tx_date, %s AS ref, %s AS batch, '
        '%s AS fee FROM %s',
        CASE WHEN NOT cols ? 'key' THEN 'NULL::text'
             WHEN raw_key THEN pg_catalog.format('%I', cols ->> 'key')
             ELSE reconcile.text_sql(rel, cols ->> 'key') END,
        CASE WHEN is_ledger THEN 'true' ELSE 'false' END,
        reconcile.text_sql(rel, cols ->> 'id'),
        pg_catalog.format('(%I)::numeric', cols ->> 'amount'),
        pg_catalog.format('(%I)::date', cols ->> 'tx_date'),
        CASE WHEN cols ? 'ref' THEN pg_catalog.format('(%I)::text', cols ->> 'ref') ELSE 'NULL::text' END,
        CASE WHEN cols ? 'batch' THEN pg_catalog.format('(%I)::text', cols ->> 'batch') ELSE 'NULL::text' END,
        CASE WHEN cols ? 'fee' THEN pg_catalog.format('(%I)::numeric', cols ->> 'fee') ELSE 'NULL::numeric' END,
        rel)
$$;
COMMENT ON FUNCTION reconcile.side_sql(regclass, boolean, jsonb, boolean) IS
'Internal to reconcile.matching_sql: the SELECT of one source in canonical columns (key first, as Citus needs; as stored when raw_key)';

-- The SELECT of one source, each row with the match tag of a manual match it belongs to (NULL for
-- the others) and (0.6.0) the tags of the rejections it is in (NULL for none).  mode 'view': every row, the manual ones tagged.  mode 'run': the rows no earlier
-- run of the reconciliation cleared, and the manual ones no run has reported yet, tagged; the
-- cleared rows are read through subqueries that Citus sends to the workers as intermediate
-- results (it refuses a correlated NOT EXISTS on a local table): an anti-join against the keys
-- and ids of the rows runs have reported (every cleared row has its run_id but a manual match
-- no run has reported yet), narrow, with a filter that costs a NULL test; then a join with the
-- few manual rows no run has reported, for their tags; the key compared with IS NOT DISTINCT FROM so that NULL and '' are
-- two keys and the hash join hashes the id alone.  mode
-- 'run_by_value': the same, the cleared rows given as parameters (the hashes of the rows to leave
-- out, $1 ledger and $4 statement; the hashes and tags of the manual ones, $2 and $3, $5 and $6),
-- for a caller that row level security narrows, who may not read the cleared rows of others.
-- mode 'run' with a mark (a side whose seq is mapped, SPEC 5a): three disjoint parts, none of
-- which reads history: the rows past the mark or without a seq, each looked up in the cleared
-- rows' unique index (a correlated subquery, never a hash of all of them); the rows at or before
-- the mark that are still open (reconcile.run_query lists them: their hashes in $1 ledger and
-- $4 statement, their ids in $3 and $6, found through the id column's own index when its type
-- is one whose text casts back exactly, else by a scan); and the rows without an id.
CREATE FUNCTION reconcile.source_sql(rel regclass, is_ledger boolean, cols jsonb, raw_key boolean,
                                     recon_id bigint, mode text, mark text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN mode = 'run' AND mark IS NOT NULL THEN pg_catalog.format(
            'SELECT src.*, m.match_tag AS manual, rj.tags AS rejections FROM ('
            'SELECT n.* FROM (%1$s WHERE %2$s OR %3$I IS NULL) n '
            'WHERE (SELECT 1 FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %4$s '
            'AND c.is_ledger OPERATOR(pg_catalog.=) %5$s AND c.run_id IS NOT NULL '
            'AND reconcile.row_ident(c.key, c.id) OPERATOR(pg_catalog.=) reconcile.row_ident((n.key)::text, n.id) '
            'LIMIT 1) IS NULL '
            'UNION ALL '
            'SELECT p.* FROM (%1$s WHERE %3$I IS NOT NULL AND NOT %2$s%6$s) p '
            'WHERE reconcile.row_ident((p.key)::text, p.id) OPERATOR(pg_catalog.=) ANY ($%7$s::bytea[]) '
            'UNION ALL '
            '%1$s WHERE %3$I IS NOT NULL AND NOT %2$s AND %8$I IS NULL) src %9$s %10$s',
            t.side, pg_catalog.format('%I %s CAST(%L AS %s)', cols ->> 'seq', reconcile.order_operator(sq.typ),
                                      mark, pg_catalog.format_type(sq.typ, NULL)),
            cols ->> 'seq', recon_id, t.b,
            CASE WHEN idc.typ IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
                                  'pg_catalog.int8'::pg_catalog.regtype, 'pg_catalog.numeric'::pg_catalog.regtype,
                                  'pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype,
                                  'pg_catalog.bpchar'::pg_catalog.regtype, 'pg_catalog.uuid'::pg_catalog.regtype,
                                  'pg_catalog.date'::pg_catalog.regtype, 'pg_catalog.timestamp'::pg_catalog.regtype,
                                  'pg_catalog.timestamptz'::pg_catalog.regtype)
                 THEN pg_catalog.format(' AND %I OPERATOR(pg_catalog.=) ANY (CAST($%s AS %s[]))', cols ->> 'id',
                                        CASE WHEN is_ledger THEN 3 ELSE 6 END, pg_catalog.format_type(idc.typ, NULL))
                 ELSE '' END,
            CASE WHEN is_ledger THEN 1 ELSE 4 END, cols ->> 'id', t.manual_join, t.rej_join)
        WHEN mode = 'run_by_value' THEN pg_catalog.format(
            'SELECT src.*, m.tag AS manual, rj.tags AS rejections FROM (%s) src '
            'LEFT JOIN pg_catalog.unnest($%s::bytea[]) x(h) '
            'ON x.h OPERATOR(pg_catalog.=) reconcile.row_ident((src.key)::text, src.id) '
            'LEFT JOIN ROWS FROM (pg_catalog.unnest($%s::bytea[]), pg_catalog.unnest($%s::text[])) m(h, tag) '
            'ON m.h OPERATOR(pg_catalog.=) reconcile.row_ident((src.key)::text, src.id) '
            'LEFT JOIN ROWS FROM (pg_catalog.unnest($%s::bytea[]), pg_catalog.unnest($%s::text[])) rj(h, tags) '
            'ON rj.h OPERATOR(pg_catalog.=) reconcile.row_ident((src.key)::text, src.id) WHERE x.h IS NULL',
            t.side, CASE WHEN is_ledger THEN 1 ELSE 4 END, CASE WHEN is_ledger THEN 2 ELSE 5 END,
            CASE WHEN is_ledger THEN 3 ELSE 6 END, CASE WHEN is_ledger THEN 7 ELSE 9 END,
            CASE WHEN is_ledger THEN 8 ELSE 10 END)
        WHEN mode = 'run' THEN pg_catalog.format(
            'SELECT src.*, m.match_tag AS manual, rj.tags AS rejections FROM (%s) src '
            'LEFT JOIN (SELECT c.key, c.id FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %s '
            'AND c.is_ledger OPERATOR(pg_catalog.=) %s AND c.run_id IS NOT NULL) c '
            'ON c.id OPERATOR(pg_catalog.=) src.id '
            'AND c.key IS NOT DISTINCT FROM (src.key)::text %s %s WHERE c.id IS NULL',
            t.side, recon_id, t.b, t.manual_join, t.rej_join)
        ELSE pg_catalog.format(
            'SELECT src.*, c.match_tag AS manual, rj.tags AS rejections FROM (%s) src LEFT JOIN (SELECT c.key, c.id, c.match_tag '
            'FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %s '
            'AND c.is_ledger OPERATOR(pg_catalog.=) %s AND c.category OPERATOR(pg_catalog.=) '
            '''manual''::reconcile.category) c ON c.id OPERATOR(pg_catalog.=) src.id '
            'AND c.key IS NOT DISTINCT FROM (src.key)::text %s',
            t.side, recon_id, t.b, t.rej_join)
    END
    -- the side's SELECT, its is_ledger as SQL, the join that tags the manual rows no run has
    -- reported (a run's, with or without a mark), and the join that gives each row the tags of
    -- the rejections it is in (every mode but by value, which has them as parameters $7 and $8
    -- ledger, $9 and $10 statement); the seq and id columns' types, for a mark
    FROM (SELECT reconcile.side_sql(rel, is_ledger, cols, raw_key) AS side, v.b,
                 pg_catalog.format('LEFT JOIN (SELECT c.key, c.id, c.match_tag FROM reconcile.cleared c '
                                   'WHERE c.recon_id OPERATOR(pg_catalog.=) %s AND c.is_ledger OPERATOR(pg_catalog.=) %s '
                                   'AND c.category OPERATOR(pg_catalog.=) ''manual''::reconcile.category AND c.run_id IS NULL) m '
                                   'ON m.id OPERATOR(pg_catalog.=) src.id AND m.key IS NOT DISTINCT FROM (src.key)::text',
                                   recon_id, v.b) AS manual_join,
                 pg_catalog.format('LEFT JOIN (SELECT j.key, j.id, pg_catalog.string_agg((j.rejection_id)::text, '' '') AS tags '
                                   'FROM reconcile.rejections j WHERE j.recon_id OPERATOR(pg_catalog.=) %s '
                                   'AND j.is_ledger OPERATOR(pg_catalog.=) %s GROUP BY j.key, j.id) rj '
                                   'ON rj.id OPERATOR(pg_catalog.=) src.id AND rj.key IS NOT DISTINCT FROM (src.key)::text',
                                   recon_id, v.b) AS rej_join
          FROM (SELECT CASE WHEN is_ledger THEN 'true' ELSE 'false' END AS b) v) t,
         (SELECT (SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = rel AND a.attname = cols ->> 'seq' AND NOT a.attisdropped) AS typ) sq,
         (SELECT (SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = rel AND a.attname = cols ->> 'id' AND NOT a.attisdropped) AS typ) idc
$$;
COMMENT ON FUNCTION reconcile.source_sql(regclass, boolean, jsonb, boolean, bigint, text, text) IS
'Internal to reconcile.matching_sql: the SELECT of one source with the match tag of its manual rows; for a run (mode run, or run_by_value with the cleared rows as parameters), only the rows no earlier run cleared and the manual ones not yet reported; with a mark, of those only the rows past it and the ones still open';

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
-- canonical columns (for a run, only the rows no earlier run cleared: mode as in source_sql), the
-- rows matched by hand tagged, matched per key by match_detail_agg with the key's rule (from
-- reconcile.key_rules, joined on the key of each side when the query runs, else the reconciliation's), one row
-- per result with the columns of <name>_matches.  A run's as_of replaces the rules'.  Written so
-- that Citus can push the matching down to the shards when the sources are distributed by the key
-- and co-located: the key is grouped on as stored where that is safe (raw_key), the cleared rows
-- and the rules per key come from subqueries (sent to the workers as intermediate results), and
-- the result array is unnested in the SELECT list (a LATERAL join over a subquery that reads an
-- intermediate result cannot be pushed down).
CREATE FUNCTION reconcile.matching_sql(reg reconcile.reconciliations, as_of date, mode text,
                                       ledger_mark text, statement_mark text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT (s.key)::text AS key, (s.m).* '
        'FROM (SELECT g.key, pg_catalog.unnest(g.ms) AS m '
        'FROM (SELECT u.key, reconcile.match_detail_agg(u.is_ledger, u.id, u.amount, u.tx_date, u.ref, '
        'u.batch, COALESCE(u.key_rule, %1$s), u.manual, u.fee, u.rejections) AS ms FROM ('
        'SELECT l.*, kr.rule AS key_rule FROM (%2$s) l LEFT JOIN (%4$s) kr ON kr.key OPERATOR(pg_catalog.=) (l.key)::text '
        'UNION ALL '
        'SELECT t.*, kr.rule FROM (%3$s) t LEFT JOIN (%4$s) kr ON kr.key OPERATOR(pg_catalog.=) (t.key)::text) u '
        'GROUP BY u.key) g) s',
        reconcile.rule_sql(CASE WHEN mode <> 'view'
                                THEN ROW((reg.rule).abs_tol, (reg.rule).rel_tol, (reg.rule).days_before,
                                         (reg.rule).days_after, (reg.rule).use_ref, as_of)::reconcile.rule
                                ELSE reg.rule END),
        reconcile.source_sql(reg.ledger, true, reg.columns -> 'ledger', k.raw, reg.id, mode, ledger_mark),
        reconcile.source_sql(reg.statement, false, reg.columns -> 'statement', k.raw, reg.id, mode,
                             statement_mark),
        pg_catalog.format('SELECT r.key, %s AS rule FROM reconcile.key_rules r WHERE r.recon_id OPERATOR(pg_catalog.=) %s',
                          CASE WHEN mode <> 'view'
                               THEN pg_catalog.format('ROW((r.rule).abs_tol, (r.rule).rel_tol, (r.rule).days_before, '
                                                      '(r.rule).days_after, (r.rule).use_ref, CAST(%L AS date))::reconcile.rule', as_of)
                               ELSE 'r.rule' END,
                          reg.id))
    FROM (SELECT reconcile.raw_key(reg.ledger, reg.statement, reg.columns) AS raw) k
$$;
COMMENT ON FUNCTION reconcile.matching_sql(reconcile.reconciliations, date, text, text, text) IS
'Internal to reconcile.create and reconcile.run: the query that matches a reconciliation''s sources per key (for a run, as of a date, only the rows no earlier run cleared; with a side''s mark, only its rows past the mark and the ones still open); Citus pushes it down';

-- The three views of a registration, created (or, with replace, replaced) as the calling role.
CREATE FUNCTION reconcile.define_views(reg reconcile.reconciliations, replace boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    how  text := CASE WHEN replace THEN 'CREATE OR REPLACE VIEW' ELSE 'CREATE VIEW' END;
    nsp  name := reg.view_schema;
    name text := reg.name;
BEGIN
    EXECUTE pg_catalog.format('%s %I.%I WITH (security_invoker = true) AS %s',
                              how, nsp, name || '_matches', reconcile.matching_sql(reg, NULL, 'view', NULL, NULL));
    EXECUTE pg_catalog.format(
        '%s %I.%I WITH (security_invoker = true) AS SELECT * FROM %I.%I '
        'WHERE reconcile.is_discrepancy(category)',
        how, nsp, name || '_discrepancies', nsp, name || '_matches');
    EXECUTE pg_catalog.format(
        '%s %I.%I WITH (security_invoker = true) AS '
        'SELECT key, category, pg_catalog.sum(n)::bigint AS rows, pg_catalog.sum(la) AS ledger_amount, '
        'pg_catalog.sum(sa) AS statement_amount, pg_catalog.sum(ad) AS amount_diff '
        'FROM (SELECT key, category, group_id, pg_catalog.count(*) AS n, '
        'CASE WHEN category OPERATOR(pg_catalog.=) ''one_to_many'' THEN pg_catalog.max(ledger_amount) '
        'ELSE pg_catalog.sum(ledger_amount) END AS la, '
        'CASE WHEN category OPERATOR(pg_catalog.=) ''many_to_one'' THEN pg_catalog.max(statement_amount) '
        'ELSE pg_catalog.sum(statement_amount) END AS sa, '
        'pg_catalog.sum(amount_diff) AS ad FROM %I.%I GROUP BY key, category, group_id) x '
        'GROUP BY key, category',
        how, nsp, name || '_summary', nsp, name || '_matches');

    EXECUTE pg_catalog.format('COMMENT ON VIEW %I.%I IS %L', nsp, name || '_matches',
        pg_catalog.format('Reconciliation %s: every row of %s and %s with its category (reconcile.create)', name, reg.ledger, reg.statement));
    EXECUTE pg_catalog.format('COMMENT ON VIEW %I.%I IS %L', nsp, name || '_discrepancies',
        pg_catalog.format('Reconciliation %s: the rows of %s_matches that need follow-up (not matched, matched_within_tolerance, many_to_one, one_to_many or manual)', name, name));
    EXECUTE pg_catalog.format('COMMENT ON VIEW %I.%I IS %L', nsp, name || '_summary',
        pg_catalog.format('Reconciliation %s: rows, ledger and statement amounts and difference per key and category (each statement row of a many_to_one group and ledger row of a one_to_many group counted once)', name));
END
$$;
COMMENT ON FUNCTION reconcile.define_views(reconcile.reconciliations, boolean) IS
'Internal to reconcile.create (and the update to 0.4.0): creates or replaces the three views of a registration, as the calling role';

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
    rid       bigint;
    seqtype   regtype;
    seqtypename text;
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
            IF canonical NOT IN ('id', 'amount', 'tx_date', 'ref', 'batch', 'key', 'seq', 'fee') THEN
                RAISE EXCEPTION 'unknown column "%" in the % mapping', canonical, side
                    USING ERRCODE = '22023',
                          HINT = 'The canonical columns are id, amount, tx_date, ref, batch, key, seq and fee.';
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
        -- seq only when mapped: a column that happens to be called seq is often a line number
        IF COALESCE(columns -> side, '{}') ? 'seq' THEN
            col := reconcile.resolve_column(rel, side, 'seq', columns -> side, true);
            SELECT a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod) INTO seqtype, seqtypename
            FROM pg_catalog.pg_attribute a WHERE a.attrelid = rel AND a.attname = col;
            IF reconcile.order_operator(seqtype) IS NULL THEN
                RAISE EXCEPTION 'column "%" of relation % cannot be the % seq column', col, rel, side
                    USING ERRCODE = '42804',
                          DETAIL = pg_catalog.format('Its type %s has no ordering.', seqtypename),
                          HINT = 'A seq column needs a type with a default btree ordering: a bigserial id, or a timestamp that changes whenever the row does.';
            END IF;
            sidecols := sidecols || pg_catalog.jsonb_build_object('seq', col);
        END IF;
        -- fee only when mapped, like seq: a column called fee may be something else
        IF COALESCE(columns -> side, '{}') ? 'fee' THEN
            col := reconcile.resolve_column(rel, side, 'fee', columns -> side, true);
            sidecols := sidecols || pg_catalog.jsonb_build_object('fee', col);
        END IF;
        resolved := resolved || pg_catalog.jsonb_build_object(side, sidecols);
    END LOOP;
    IF (resolved -> 'ledger' ? 'key') <> (resolved -> 'statement' ? 'key') THEN
        RAISE EXCEPTION 'a key column must be on both sides or on neither'
            USING ERRCODE = '22023',
                  DETAIL = pg_catalog.format('The key is only on the %s side.',
                                             CASE WHEN resolved -> 'ledger' ? 'key' THEN 'ledger' ELSE 'statement' END);
    END IF;

    -- the registry is the extension's; the views are the caller's
    rid := reconcile.register(name, ledger, statement, r, resolved, nsp);
    PERFORM reconcile.define_views(reg, false) FROM reconcile.reconciliations reg WHERE reg.id = rid;
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

-- Drop a reconciliation: unregister it (its owner only; after any run that holds it), then drop
-- its views and its pg_cron job as the calling role.  Its runs, results, items and audit entries
-- stay with the registration they were made for, out of sight of a reconciliation created again
-- under the same name, readable by superusers.
CREATE FUNCTION reconcile."drop"(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations := reconcile.unregister(name);
BEGIN
    EXECUTE pg_catalog.format('DROP VIEW IF EXISTS %I.%I, %I.%I, %I.%I',
                              reg.view_schema, name || '_summary',
                              reg.view_schema, name || '_discrepancies',
                              reg.view_schema, name || '_matches');
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron')
       AND pg_catalog.has_schema_privilege('cron', 'USAGE') THEN
        EXECUTE 'SELECT cron.unschedule(j.jobid) FROM cron.job j WHERE j.jobname = $1'
            USING 'reconcile:' || name;
    END IF;
END
$$;
COMMENT ON FUNCTION reconcile."drop"(text) IS
'Drops a reconciliation: its registration (42704 when unknown, 42501 for anyone but its owner), its three views and its pg_cron job; its runs, results, items and audit entries stay with the registration they were made for, readable by superusers';

-- Views made by an earlier version keep their query after ALTER EXTENSION reconcile UPDATE (an
-- update cannot replace objects it does not own); their owner brings them up to date.
CREATE FUNCTION reconcile.refresh_views(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations := reconcile.registered(name, current_user);
BEGIN
    PERFORM reconcile.define_views(reg, true);
END
$$;
COMMENT ON FUNCTION reconcile.refresh_views(text) IS
'Replaces the three views of a reconciliation with the current version''s (after an update: 0.4.0''s show manual matches), as the calling role, who must own them';
