/* reconcile--0.4.1--0.4.2.sql: cleared rows partitioned by registration, a first run's indexed once filled */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reconcile UPDATE TO '0.4.2'" to load this file. \quit

-- What changes for users (see the README's "0.4.2"): nothing they call.  reconcile.cleared
-- becomes a table partitioned by registration, a partition (reconcile.cleared_<recon_id>) made
-- bare with each new registration; its first clearing fills it, then indexes it.
-- The table of 0.4.1 becomes the partition of the registrations that exist (and of none: history
-- of one dropped before 0.4.0), cleared_before_0_4_2, with its rows, indexes, policy and grant as
-- they were (their views read it); it leaves the extension, as the partitions runs make are not
-- in it, so that pg_dump dumps it with its rows.  Attaching it reads it once.

ALTER TABLE reconcile.cleared RENAME TO cleared_before_0_4_2;
ALTER INDEX reconcile.cleared_identity RENAME TO cleared_before_0_4_2_identity;
ALTER INDEX reconcile.cleared_recon_id_match_tag_idx RENAME TO cleared_before_0_4_2_recon_id_match_tag_idx;
ALTER INDEX reconcile.cleared_manual RENAME TO cleared_before_0_4_2_manual;

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
ALTER TABLE reconcile.cleared ENABLE ROW LEVEL SECURITY;
CREATE POLICY cleared_visible ON reconcile.cleared FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (recon_id IN (SELECT reconcile.readable(false))
               AND (run_id IN (SELECT u.run_id FROM reconcile.runs u WHERE u.run_by = current_user)
                    OR made_by = current_user)));
GRANT SELECT ON reconcile.cleared TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('reconcile.cleared', '');

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
-- manual matches, which every view reads (few, whatever the history).  CREATE INDEX locks the
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
END
$$;
COMMENT ON FUNCTION reconcile.cleared_index(regclass) IS
'Internal: builds the indexes of a bare partition of reconcile.cleared over the rows in it';
REVOKE ALL ON FUNCTION reconcile.cleared_index(regclass) FROM PUBLIC;

DO $$
DECLARE
    vals text;
BEGIN
    SELECT pg_catalog.string_agg(v::text, ', ' ORDER BY v) INTO vals
    FROM (SELECT r.id AS v FROM reconcile.reconciliations r
          UNION SELECT o.recon_id FROM reconcile.cleared_before_0_4_2 o WHERE o.recon_id IS NOT NULL) ids;
    EXECUTE pg_catalog.format('ALTER TABLE reconcile.cleared ATTACH PARTITION reconcile.cleared_before_0_4_2 FOR VALUES IN (%s)',
                              pg_catalog.concat_ws(', ', 'NULL', vals));
END
$$;
ALTER EXTENSION reconcile DROP TABLE reconcile.cleared_before_0_4_2;
COMMENT ON TABLE reconcile.cleared_before_0_4_2 IS 'The rows of reconcile.cleared of the registrations made before 0.4.2, and of none (history of one dropped before 0.4.0)';

-- a registration's first clearing fills its bare partition, then indexes it
CREATE OR REPLACE FUNCTION reconcile.record_run(recon_id bigint, as_of date, started_at timestamptz, run_by name,
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
    UNION ALL
    SELECT DISTINCT ON (side.is_ledger, x.key, side.id)
           reg.name, side.is_ledger, x.key, side.id, x.category, rid,
           'r' || rid || ':' || pg_catalog.encode(pg_catalog.substr(reconcile.row_ident(x.key, 'g' || x.group_id), 1, 16), 'hex'),
           reg.id
    FROM reconcile.results x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE x.run_id = rid AND side.id IS NOT NULL AND reconcile.clears(x.category) AND x.group_id IS NOT NULL;
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

-- a manual match indexes a bare partition first
CREATE OR REPLACE FUNCTION reconcile.record_manual(recon_id bigint, ledger_ids text[], statement_ids text[], note text,
                                        actor name, name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tag   text := 'm' || pg_catalog.gen_random_uuid();
    hits  jsonb;
    bad   record;
    n     bigint;
    part  record;
BEGIN
    SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_object('l', t.is_ledger, 'k', t.key, 'i', t.id)), '[]')
    INTO hits
    FROM reconcile.captured() AS t(is_ledger boolean, key text, id text);

    SELECT w.side, w.id INTO bad
    FROM (SELECT true AS side, x AS id FROM pg_catalog.unnest(ledger_ids) x
          UNION SELECT false, x FROM pg_catalog.unnest(statement_ids) x) w
    WHERE NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
                      WHERE (f ->> 'l')::boolean = w.side AND f ->> 'i' = w.id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% row "%" does not exist', CASE WHEN bad.side THEN 'ledger' ELSE 'statement' END, bad.id
            USING ERRCODE = '42704';
    END IF;
    SELECT (f ->> 'l')::boolean AS side, f ->> 'i' AS id INTO bad
    FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
    GROUP BY 1, 2 HAVING pg_catalog.count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% id "%" stands under more than one key', CASE WHEN bad.side THEN 'ledger' ELSE 'statement' END, bad.id
            USING ERRCODE = '22023', HINT = 'Match its rows by hand in a reconciliation grouped by that key.';
    END IF;

    -- a bare partition (no run has cleared rows yet) is indexed first, for ON CONFLICT
    SELECT * INTO part FROM reconcile.cleared_target(record_manual.recon_id);
    IF part.bare THEN
        PERFORM reconcile.cleared_index(part.part);
    END IF;
    WITH ins AS (
        INSERT INTO reconcile.cleared (name, is_ledger, key, id, category, run_id, match_tag, recon_id, made_by)
        SELECT record_manual.name, (f ->> 'l')::boolean, f ->> 'k', f ->> 'i', 'manual', NULL, tag, record_manual.recon_id,
               actor
        FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
        ON CONFLICT DO NOTHING
        RETURNING 1)
    SELECT pg_catalog.count(*) INTO n FROM ins;
    IF n <> pg_catalog.jsonb_array_length(hits) THEN
        SELECT (f ->> 'l')::boolean AS side, f ->> 'i' AS id INTO bad
        FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
        WHERE EXISTS (SELECT FROM reconcile.cleared c
                      WHERE c.recon_id = record_manual.recon_id AND c.match_tag <> tag
                        AND c.is_ledger = (f ->> 'l')::boolean AND c.id = f ->> 'i'
                        AND c.key IS NOT DISTINCT FROM f ->> 'k')
        LIMIT 1;
        RAISE EXCEPTION '% row "%" is already matched', CASE WHEN bad.side THEN 'ledger' ELSE 'statement' END, bad.id
            USING ERRCODE = '55000', HINT = 'reconcile.unmatch releases it first.';
    END IF;

    UPDATE reconcile.items i SET status = 'cleared'
    FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
    WHERE i.recon_id = record_manual.recon_id AND i.status <> 'cleared'
      AND i.key IS NOT DISTINCT FROM f ->> 'k'
      AND CASE WHEN (f ->> 'l')::boolean THEN i.ledger_id ELSE i.statement_id END = f ->> 'i';
    PERFORM reconcile.audit(recon_id, 'manual_match', name, NULL,
                            pg_catalog.jsonb_build_object('ledger_ids', ledger_ids,
                                                          'statement_ids', statement_ids,
                                                          'note', note, 'match_tag', tag), actor);
END
$$;
COMMENT ON FUNCTION reconcile.record_manual(bigint, text[], text[], text, name, text) IS
'Internal to reconcile.manual_match: records a manual match from the rows it found with the caller''s rights; runs as the tables'' owner, within reconcile.manual_match only';
REVOKE ALL ON FUNCTION reconcile.record_manual(bigint, text[], text[], text, name, text) FROM PUBLIC;

-- a new registration gets its partition
CREATE OR REPLACE FUNCTION reconcile.register_by(actor name, person name, name text, ledger regclass,
                                      statement regclass, rule reconcile.rule, columns jsonb,
                                      view_schema name)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r   reconcile.rule;
    rid bigint;
BEGIN
    IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]{0,40}$' THEN
        RAISE EXCEPTION 'invalid reconciliation name "%"', name USING ERRCODE = '22023';
    END IF;
    IF ledger IS NULL OR statement IS NULL OR rule IS NULL OR columns IS NULL OR view_schema IS NULL THEN
        RAISE EXCEPTION 'a registration needs every argument' USING ERRCODE = '22023';
    END IF;
    r := reconcile.rule(rule.abs_tol, rule.rel_tol, rule.days_before, rule.days_after, rule.use_ref, rule.as_of);
    IF NOT COALESCE(pg_catalog.has_table_privilege(actor, ledger, 'SELECT')
                    AND pg_catalog.has_table_privilege(actor, statement, 'SELECT'), false) THEN
        RAISE EXCEPTION 'permission denied to reconcile % against %', ledger, statement
            USING ERRCODE = '42501', HINT = 'The role needs SELECT on both relations.';
    END IF;
    INSERT INTO reconcile.reconciliations (name, ledger, statement, rule, columns, view_schema, owner)
    VALUES (register_by.name, ledger, statement, r, columns, view_schema,
            (SELECT o.oid FROM pg_catalog.pg_roles o WHERE o.rolname = actor)::regrole)
    ON CONFLICT DO NOTHING
    RETURNING id INTO rid;
    IF rid IS NULL THEN
        RAISE EXCEPTION 'reconciliation "%" already exists', name USING ERRCODE = '42710';
    END IF;
    PERFORM reconcile.cleared_partition(rid);
    PERFORM reconcile.audit(rid, 'create', name, NULL,
                            pg_catalog.jsonb_build_object('ledger', ledger::text, 'statement', statement::text,
                                                          'rule', pg_catalog.to_jsonb(r), 'columns', columns,
                                                          'view_schema', view_schema), actor);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION reconcile.register_by(name, name, text, regclass, regclass, reconcile.rule, jsonb, name) IS
'Internal to reconcile.register (src/act.c), as the tables'' owner: registers a reconciliation for the acting role (who must be able to SELECT both sources) and audits it; 42710 when the name is taken';
REVOKE ALL ON FUNCTION reconcile.register_by(name, name, text, regclass, regclass, reconcile.rule, jsonb, name) FROM PUBLIC;
