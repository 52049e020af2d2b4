/* reconcile--0.4.0--0.4.1.sql: incremental runs (SPEC 5a): a seq column per side, marks per run */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reconcile UPDATE TO '0.4.1'" to load this file. \quit

-- What changes for users (see the README's "Daily runs over years of history" and "0.4.1"):
-- - reconcile.create takes an optional canonical column seq per side (only when mapped);
-- - reconcile.run(name, as_of, full boolean DEFAULT false): a side with seq is read from the
--   previous run's mark on (the rows past it, and the ones still open), unless full;
-- - reconcile.runs has ledger_mark and statement_mark; reconcile.released lists the rows
--   unmatch released until a run reads them, reconcile.skipped the cleared rows live items hold.
-- Registrations made before have no seq: their runs read as before.

ALTER TABLE reconcile.runs ADD COLUMN ledger_mark text, ADD COLUMN statement_mark text;
COMMENT ON COLUMN reconcile.runs.ledger_mark IS 'The greatest ledger seq when the run began (SPEC 5a), as text: the next run reads the ledger rows past it and the open ones; NULL when the ledger maps no seq or had none (the next run reads it whole); a run that row level security narrows keeps the mark it was given';
COMMENT ON COLUMN reconcile.runs.statement_mark IS 'The greatest statement seq when the run began, as ledger_mark';

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

ALTER TABLE reconcile.released ENABLE ROW LEVEL SECURITY;
CREATE POLICY released_visible ON reconcile.released FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true)));
GRANT SELECT ON reconcile.released TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('reconcile.released', '');

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

ALTER TABLE reconcile.skipped ENABLE ROW LEVEL SECURITY;
CREATE POLICY skipped_visible ON reconcile.skipped FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true)));
GRANT SELECT ON reconcile.skipped TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('reconcile.skipped', '');

-- The greater-than operator of a type's default btree ordering, as OPERATOR(schema.name), for the
-- comparisons with a run's mark; NULL when the type has none and cannot be a seq column
-- (src/identity.c: looked up in the type cache, nothing of the type's own runs).
CREATE FUNCTION reconcile.order_operator(type regtype)
RETURNS text
AS 'MODULE_PATHNAME', 'rc_order_operator'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.order_operator(regtype) IS
'Internal to reconcile.create and reconcile.source_sql: the > of a type''s default btree ordering, as OPERATOR(schema.name), NULL when it has none';

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
            IF canonical NOT IN ('id', 'amount', 'tx_date', 'ref', 'batch', 'key', 'seq') THEN
                RAISE EXCEPTION 'unknown column "%" in the % mapping', canonical, side
                    USING ERRCODE = '22023',
                          HINT = 'The canonical columns are id, amount, tx_date, ref, batch, key and seq.';
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

DROP FUNCTION reconcile.source_sql(regclass, boolean, jsonb, boolean, bigint, text);
-- The SELECT of one source, each row with the match tag of a manual match it belongs to (NULL for
-- the others).  mode 'view': every row, the manual ones tagged.  mode 'run': the rows no earlier
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
            'SELECT src.*, m.match_tag AS manual FROM ('
            'SELECT n.* FROM (%1$s WHERE %2$s OR %3$I IS NULL) n '
            'WHERE (SELECT 1 FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %4$s '
            'AND c.is_ledger OPERATOR(pg_catalog.=) %5$s AND c.run_id IS NOT NULL '
            'AND reconcile.row_ident(c.key, c.id) OPERATOR(pg_catalog.=) reconcile.row_ident((n.key)::text, n.id) '
            'LIMIT 1) IS NULL '
            'UNION ALL '
            'SELECT p.* FROM (%1$s WHERE %3$I IS NOT NULL AND NOT %2$s%6$s) p '
            'WHERE reconcile.row_ident((p.key)::text, p.id) OPERATOR(pg_catalog.=) ANY ($%7$s::bytea[]) '
            'UNION ALL '
            '%1$s WHERE %3$I IS NOT NULL AND NOT %2$s AND %8$I IS NULL) src %9$s',
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
            CASE WHEN is_ledger THEN 1 ELSE 4 END, cols ->> 'id', t.manual_join)
        WHEN mode = 'run_by_value' THEN pg_catalog.format(
            'SELECT src.*, m.tag AS manual FROM (%s) src '
            'LEFT JOIN pg_catalog.unnest($%s::bytea[]) x(h) '
            'ON x.h OPERATOR(pg_catalog.=) reconcile.row_ident((src.key)::text, src.id) '
            'LEFT JOIN ROWS FROM (pg_catalog.unnest($%s::bytea[]), pg_catalog.unnest($%s::text[])) m(h, tag) '
            'ON m.h OPERATOR(pg_catalog.=) reconcile.row_ident((src.key)::text, src.id) WHERE x.h IS NULL',
            t.side, CASE WHEN is_ledger THEN 1 ELSE 4 END, CASE WHEN is_ledger THEN 2 ELSE 5 END,
            CASE WHEN is_ledger THEN 3 ELSE 6 END)
        WHEN mode = 'run' THEN pg_catalog.format(
            'SELECT src.*, m.match_tag AS manual FROM (%s) src '
            'LEFT JOIN (SELECT c.key, c.id FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %s '
            'AND c.is_ledger OPERATOR(pg_catalog.=) %s AND c.run_id IS NOT NULL) c '
            'ON c.id OPERATOR(pg_catalog.=) src.id '
            'AND c.key IS NOT DISTINCT FROM (src.key)::text %s WHERE c.id IS NULL',
            t.side, recon_id, t.b, t.manual_join)
        ELSE pg_catalog.format(
            'SELECT src.*, c.match_tag AS manual FROM (%s) src LEFT JOIN (SELECT c.key, c.id, c.match_tag '
            'FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %s '
            'AND c.is_ledger OPERATOR(pg_catalog.=) %s AND c.category OPERATOR(pg_catalog.=) '
            '''manual''::reconcile.category) c ON c.id OPERATOR(pg_catalog.=) src.id '
            'AND c.key IS NOT DISTINCT FROM (src.key)::text',
            t.side, recon_id, t.b)
    END
    -- the side's SELECT, its is_ledger as SQL, and the join that tags the manual rows no run has
    -- reported (a run's, with or without a mark); the seq and id columns' types, for a mark
    FROM (SELECT reconcile.side_sql(rel, is_ledger, cols, raw_key) AS side, v.b,
                 pg_catalog.format('LEFT JOIN (SELECT c.key, c.id, c.match_tag FROM reconcile.cleared c '
                                   'WHERE c.recon_id OPERATOR(pg_catalog.=) %s AND c.is_ledger OPERATOR(pg_catalog.=) %s '
                                   'AND c.category OPERATOR(pg_catalog.=) ''manual''::reconcile.category AND c.run_id IS NULL) m '
                                   'ON m.id OPERATOR(pg_catalog.=) src.id AND m.key IS NOT DISTINCT FROM (src.key)::text',
                                   recon_id, v.b) AS manual_join
          FROM (SELECT CASE WHEN is_ledger THEN 'true' ELSE 'false' END AS b) v) t,
         (SELECT (SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = rel AND a.attname = cols ->> 'seq' AND NOT a.attisdropped) AS typ) sq,
         (SELECT (SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = rel AND a.attname = cols ->> 'id' AND NOT a.attisdropped) AS typ) idc
$$;
COMMENT ON FUNCTION reconcile.source_sql(regclass, boolean, jsonb, boolean, bigint, text, text) IS
'Internal to reconcile.matching_sql: the SELECT of one source with the match tag of its manual rows; for a run (mode run, or run_by_value with the cleared rows as parameters), only the rows no earlier run cleared and the manual ones not yet reported; with a mark, of those only the rows past it and the ones still open';

DROP FUNCTION reconcile.matching_sql(reconcile.reconciliations, date, text);
-- The query that matches a reconciliation, for its views and for its runs alike: both sources in
-- canonical columns (for a run, only the rows no earlier run cleared: mode as in source_sql), the
-- rows matched by hand tagged, matched per key by match_detail_agg, one row per result with the
-- columns of <name>_matches.  A run's as_of replaces the rule's.  Written so that Citus can push the matching
-- down to the shards when the sources are distributed by the key and co-located: the key is grouped
-- on as stored where that is safe (raw_key), the cleared rows come from a subquery (sent to the
-- workers as an intermediate result), and the result array is unnested in the SELECT list (a
-- LATERAL join over a subquery that reads an intermediate result cannot be pushed down).
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
        'u.batch, %s, u.manual) AS ms FROM (%s UNION ALL %s) u GROUP BY u.key) g) s',
        reconcile.rule_sql(CASE WHEN mode <> 'view'
                                THEN ROW((reg.rule).abs_tol, (reg.rule).rel_tol, (reg.rule).days_before,
                                         (reg.rule).days_after, (reg.rule).use_ref, as_of)::reconcile.rule
                                ELSE reg.rule END),
        reconcile.source_sql(reg.ledger, true, reg.columns -> 'ledger', k.raw, reg.id, mode, ledger_mark),
        reconcile.source_sql(reg.statement, false, reg.columns -> 'statement', k.raw, reg.id, mode,
                             statement_mark))
    FROM (SELECT reconcile.raw_key(reg.ledger, reg.statement, reg.columns) AS raw) k
$$;
COMMENT ON FUNCTION reconcile.matching_sql(reconcile.reconciliations, date, text, text, text) IS
'Internal to reconcile.create and reconcile.run: the query that matches a reconciliation''s sources per key (for a run, as of a date, only the rows no earlier run cleared; with a side''s mark, only its rows past the mark and the ones still open); Citus pushes it down';

-- The three views of a registration, created (or, with replace, replaced) as the calling role.
CREATE OR REPLACE FUNCTION reconcile.define_views(reg reconcile.reconciliations, replace boolean)
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

DROP FUNCTION reconcile.run_query(bigint, date, name);
-- The query of a run, once its registration is locked (55P03 at once when another run holds it),
-- and per side what the run records as its mark (SPEC 5a): the query of the side's greatest seq,
-- which reconcile.run reads as the caller before the rows, or the mark it keeps.
-- A caller that row level security narrows on a source may not read the cleared rows of others'
-- runs: for it, they go into the query as parameters (their hashes, and the tags of the manual
-- matches not yet reported), each side's three as source_sql's mode run_by_value expects; it
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
               statement_mark text, p1 bytea[], p2 bytea[], p3 text[], p4 bytea[], p5 bytea[], p6 text[])
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
        SELECT reconcile.matching_sql(reg, run_query.as_of, 'run_by_value', NULL, NULL), NULL::text, NULL::text,
               CASE WHEN lseq IS NOT NULL THEN prev.ledger_mark END,
               CASE WHEN sseq IS NOT NULL THEN prev.statement_mark END,
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE c.is_ledger AND NOT c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE c.is_ledger AND c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.match_tag) FILTER (WHERE c.is_ledger AND c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE NOT c.is_ledger AND NOT c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE NOT c.is_ledger AND c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.match_tag) FILTER (WHERE NOT c.is_ledger AND c.unreported), '{}')
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
                            NULL::bytea[], NULL::bytea[], NULL::text[];
        RETURN;
    END IF;
    -- the rows at or before a mark that are still open
    RETURN QUERY
    WITH pending AS (
        SELECT true AS is_ledger, i.key, i.ledger_id AS id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status <> 'cleared' AND i.ledger_id IS NOT NULL AND lmark IS NOT NULL
        UNION
        SELECT false, i.key, i.statement_id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status <> 'cleared' AND i.statement_id IS NOT NULL AND smark IS NOT NULL
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
           COALESCE(pg_catalog.array_agg(o.id) FILTER (WHERE NOT o.is_ledger), '{}')
    FROM open_rows o;
END
$$;
COMMENT ON FUNCTION reconcile.run_query(bigint, date, name, boolean) IS
'Internal to reconcile.run: locks the registration (55P03 at once while another run holds it) and returns the query of the run (with the cleared rows as parameters for a caller narrowed by row level security, with the open rows as parameters for a side read from its mark) and per side the query of its new mark or the mark it keeps';
REVOKE ALL ON FUNCTION reconcile.run_query(bigint, date, name, boolean) FROM PUBLIC;

DROP FUNCTION reconcile.record_run(bigint, date, timestamptz, name, bigint);
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
BEGIN
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = record_run.recon_id;
    INSERT INTO reconcile.runs (name, as_of, started_at, run_by, recon_id, ledger_mark, statement_mark)
    VALUES (reg.name, record_run.as_of, record_run.started_at, record_run.run_by, reg.id,
            record_run.ledger_mark, record_run.statement_mark)
    RETURNING run_id INTO rid;

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

    -- matched rows are cleared for good; the rows matched together share a tag
    -- (a pair's rows are on one result row each; the shared row of a group is on each of its lines,
    -- so only groups need DISTINCT, and the unique index would refuse any other repeat)
    INSERT INTO reconcile.cleared (name, is_ledger, key, id, category, run_id, match_tag, recon_id)
    SELECT reg.name, side.is_ledger, x.key, side.id, x.category, rid,
           'r' || rid || ':' || pg_catalog.encode(reconcile.row_ident(x.key, 'l' || x.ledger_id), 'hex'),
           reg.id
    FROM reconcile.results x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE x.run_id = rid AND side.id IS NOT NULL AND reconcile.clears(x.category) AND x.group_id IS NULL
    UNION ALL
    SELECT DISTINCT ON (side.is_ledger, x.key, side.id)
           reg.name, side.is_ledger, x.key, side.id, x.category, rid,
           'r' || rid || ':' || pg_catalog.encode(reconcile.row_ident(x.key, 'g' || x.group_id), 'hex'),
           reg.id
    FROM reconcile.results x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE x.run_id = rid AND side.id IS NOT NULL AND reconcile.clears(x.category) AND x.group_id IS NOT NULL;

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
        SELECT COALESCE(pg_catalog.array_agg(i.item_id), '{}') INTO unread
        FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status <> 'cleared'
          AND ((i.ledger_id IS NOT NULL
                AND NOT EXISTS (SELECT FROM reconcile.results x
                                WHERE x.run_id = rid AND x.ledger_id = i.ledger_id
                                  AND x.key IS NOT DISTINCT FROM i.key))
               OR (i.statement_id IS NOT NULL
                   AND NOT EXISTS (SELECT FROM reconcile.results x
                                   WHERE x.run_id = rid AND x.statement_id = i.statement_id
                                     AND x.key IS NOT DISTINCT FROM i.key)));
    ELSE
        -- it read every row unmatch released, whatever its marks
        DELETE FROM reconcile.released r WHERE r.recon_id = reg.id;
    END IF;

    -- items found again with other amounts, dates or category: approved for those amounts only
    WITH found AS (
        SELECT x.* FROM reconcile.results x WHERE x.run_id = rid AND reconcile.is_discrepancy(x.category)),
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

    -- items: the discrepancies found, one per pair or row, kept across runs
    WITH out_of_sight AS MATERIALIZED (
        SELECT i.key, i.ledger_id, i.statement_id
        FROM reconcile.items i JOIN pg_catalog.unnest(unread) AS u(item_id) ON u.item_id = i.item_id)
    INSERT INTO reconcile.items AS i (name, key, ledger_id, statement_id, category, amount_diff,
                                      ledger_amount, statement_amount, ledger_date, statement_date,
                                      first_run_id, last_run_id, recon_id)
    SELECT reg.name, x.key, x.ledger_id, x.statement_id, x.category, x.amount_diff, x.ledger_amount,
           x.statement_amount, x.ledger_date, x.statement_date, rid, rid, reg.id
    FROM reconcile.results x
    WHERE x.run_id = rid AND reconcile.is_discrepancy(x.category)
      AND NOT EXISTS (SELECT FROM out_of_sight o
                      WHERE o.ledger_id = x.ledger_id AND o.key IS NOT DISTINCT FROM x.key)
      AND NOT EXISTS (SELECT FROM out_of_sight o
                      WHERE o.statement_id = x.statement_id AND o.key IS NOT DISTINCT FROM x.key)
    ON CONFLICT (recon_id, reconcile.item_ident(key, ledger_id, statement_id)) WHERE status <> 'cleared'
    DO UPDATE SET last_run_id = excluded.last_run_id, category = excluded.category,
                  amount_diff = excluded.amount_diff, ledger_amount = excluded.ledger_amount,
                  statement_amount = excluded.statement_amount, ledger_date = excluded.ledger_date,
                  statement_date = excluded.statement_date;

    -- items not found again: what became of the rows this run read
    WITH seen AS MATERIALIZED (
        SELECT side.is_ledger, x.key, side.id,
               reconcile.clears(x.category) OR x.category = 'manual' AS settled
        FROM reconcile.results x
        CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
        WHERE x.run_id = rid AND side.id IS NOT NULL),
    item_rows AS (
        SELECT i.item_id, i.status, true AS is_ledger, i.key, i.ledger_id AS id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status IN ('open', 'resolved', 'approved') AND i.last_run_id <> rid
          AND i.ledger_id IS NOT NULL
        UNION ALL
        SELECT i.item_id, i.status, false, i.key, i.statement_id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status IN ('open', 'resolved', 'approved') AND i.last_run_id <> rid
          AND i.statement_id IS NOT NULL),
    fate AS (
        SELECT r.item_id, r.status, pg_catalog.bool_and(s.settled) AS matched
        FROM item_rows r JOIN seen s ON s.is_ledger = r.is_ledger AND s.id = r.id AND s.key IS NOT DISTINCT FROM r.key
        WHERE NOT EXISTS (SELECT FROM pg_catalog.unnest(unread) AS u(item_id) WHERE u.item_id = r.item_id)
        GROUP BY r.item_id, r.status),
    moved AS (
        UPDATE reconcile.items i
        SET status = CASE WHEN f.matched OR f.status = 'open' THEN 'cleared' ELSE 'open' END,
            resolution = CASE WHEN f.matched OR f.status = 'open' THEN i.resolution END,
            resolved_by = CASE WHEN f.matched OR f.status = 'open' THEN i.resolved_by END,
            resolved_at = CASE WHEN f.matched OR f.status = 'open' THEN i.resolved_at END,
            resolved_session = CASE WHEN f.matched OR f.status = 'open' THEN i.resolved_session END,
            approved_by = CASE WHEN f.matched OR f.status = 'open' THEN i.approved_by END,
            approved_at = CASE WHEN f.matched OR f.status = 'open' THEN i.approved_at END,
            approved_session = CASE WHEN f.matched OR f.status = 'open' THEN i.approved_session END
        FROM fate f WHERE i.item_id = f.item_id
        RETURNING i.item_id, f.status AS was_status, f.matched)
    INSERT INTO reconcile.audit_log (acting_role, action, name, item_id, details, recon_id)
    SELECT record_run.run_by, 'reopen', reg.name, m.item_id,
           pg_catalog.jsonb_build_object('run_id', rid, 'why', 'its rows are now in another discrepancy',
                                         'was_status', m.was_status),
           reg.id
    FROM moved m WHERE NOT m.matched AND m.was_status <> 'open';

    -- the rows this run cleared or reported that a live item still holds, or that unmatch had
    -- released: a run from a mark leaves them out (run_query); and the ones no longer so held.
    -- Only items this run did not find again can hold such a row (the rows of a discrepancy are
    -- not cleared in the run that finds it): usually none, and then nothing is scanned.
    IF EXISTS (SELECT FROM reconcile.items i WHERE i.recon_id = reg.id AND i.status <> 'cleared' AND i.last_run_id <> rid)
       OR EXISTS (SELECT FROM reconcile.released r WHERE r.recon_id = reg.id) THEN
        WITH live AS MATERIALIZED (
            SELECT true AS is_ledger, i.key, i.ledger_id AS id FROM reconcile.items i
            WHERE i.recon_id = reg.id AND i.status <> 'cleared' AND i.last_run_id <> rid AND i.ledger_id IS NOT NULL
            UNION ALL
            SELECT false, i.key, i.statement_id FROM reconcile.items i
            WHERE i.recon_id = reg.id AND i.status <> 'cleared' AND i.last_run_id <> rid AND i.statement_id IS NOT NULL
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
                          WHERE k.is_ledger AND i.recon_id = reg.id AND i.status <> 'cleared'
                            AND i.ledger_id = k.id AND i.key IS NOT DISTINCT FROM k.key)
          AND NOT EXISTS (SELECT FROM reconcile.items i
                          WHERE NOT k.is_ledger AND i.recon_id = reg.id AND i.status <> 'cleared'
                            AND i.statement_id = k.id AND i.key IS NOT DISTINCT FROM k.key)
          AND NOT EXISTS (SELECT FROM reconcile.released r
                          WHERE r.recon_id = reg.id AND r.is_ledger = k.is_ledger AND r.id = k.id
                            AND r.key IS NOT DISTINCT FROM k.key);
    END IF;

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

DROP FUNCTION reconcile.run(text, date);
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

-- Release the matches ledger row ledger_id is in.  An actor that row level security narrows on a
-- source must have found (reconcile.captured()) every row of them on that side; else, as when the
-- row is not matched, 42704: the match is out of its sight.
CREATE OR REPLACE FUNCTION reconcile.record_unmatch(recon_id bigint, ledger_id text, actor name, name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg   reconcile.reconciliations;
    tags  text[];
    hits  jsonb;
    nl    boolean;
    ns    boolean;
    freed jsonb;
BEGIN
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = record_unmatch.recon_id;
    SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('l', t.is_ledger, 'k', t.key, 'i', t.id)), '[]')
    INTO hits
    FROM reconcile.captured() AS t(is_ledger boolean, key text, id text);
    nl := reconcile.narrowed(reg.ledger, actor);
    ns := reconcile.narrowed(reg.statement, actor);
    SELECT pg_catalog.array_agg(DISTINCT c.match_tag) INTO tags
    FROM reconcile.cleared c WHERE c.recon_id = reg.id AND c.is_ledger AND c.id = record_unmatch.ledger_id;
    IF tags IS NULL
       OR EXISTS (SELECT FROM reconcile.cleared c
                  WHERE c.recon_id = reg.id AND c.match_tag = ANY (tags)
                    AND CASE WHEN c.is_ledger THEN nl ELSE ns END
                    AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
                                    WHERE (f ->> 'l')::boolean = c.is_ledger AND f ->> 'i' = c.id
                                      AND f ->> 'k' IS NOT DISTINCT FROM c.key)) THEN
        RAISE EXCEPTION 'ledger row "%" of "%" is not matched', ledger_id, name USING ERRCODE = '42704';
    END IF;
    -- released: read again by the next run, even one that reads from a mark (SPEC 5a)
    WITH d AS (DELETE FROM reconcile.cleared c WHERE c.recon_id = reg.id AND c.match_tag = ANY (tags)
               RETURNING c.is_ledger, c.key, c.id, c.category),
    r AS (INSERT INTO reconcile.released (recon_id, is_ledger, key, id)
          SELECT reg.id, d.is_ledger, d.key, d.id FROM d
          ON CONFLICT DO NOTHING),
    k AS (DELETE FROM reconcile.skipped k USING d
          WHERE k.recon_id = reg.id AND k.is_ledger = d.is_ledger AND k.id = d.id
            AND k.key IS NOT DISTINCT FROM d.key)
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('ledger', d.is_ledger, 'id', d.id,
                                                              'category', d.category))
    INTO freed FROM d;
    PERFORM reconcile.audit(reg.id, 'unmatch', name, NULL,
                            pg_catalog.jsonb_build_object('ledger_id', ledger_id, 'released', freed), actor);
END
$$;
COMMENT ON FUNCTION reconcile.record_unmatch(bigint, text, name, text) IS
'Internal to reconcile.unmatch: releases the matches of a ledger row, when an actor narrowed by row level security found all their rows; runs as the tables'' owner, within reconcile.unmatch only';
REVOKE ALL ON FUNCTION reconcile.record_unmatch(bigint, text, name, text) FROM PUBLIC;

