/* 70_followup.sql: open items and their follow-up (maker-checker), manual matches */

----------------------------------------------------------------------------
-- Items
----------------------------------------------------------------------------

CREATE TABLE reconcile.items (
    item_id        bigserial PRIMARY KEY,
    name           text NOT NULL,
    key            text,
    ledger_id      text,
    statement_id   text,
    category       reconcile.category NOT NULL,
    amount_diff    numeric,
    ledger_amount  numeric,
    statement_amount numeric,
    ledger_date    date,
    statement_date date,
    first_run_id   bigint NOT NULL,
    last_run_id    bigint NOT NULL,
    status         text NOT NULL DEFAULT 'open'
                   CONSTRAINT items_status_check
                   CHECK (status IN ('open', 'resolved', 'approved', 'cleared', 'suggested', 'rejected')),
    assignee       text,
    resolution     text,
    note           text,
    resolved_by    name,
    resolved_at    timestamptz,
    approved_by    name,
    approved_at    timestamptz,
    recon_id       bigint,
    resolved_session name,
    approved_session name,
    score          double precision,
    reason         text,
    group_tag      text
);
CREATE UNIQUE INDEX items_identity ON reconcile.items
    (recon_id, reconcile.item_ident(key, ledger_id, statement_id))
    WHERE status NOT IN ('cleared', 'rejected');
COMMENT ON TABLE reconcile.items IS 'One row per discrepancy found by a run, with its follow-up: open, resolved (by a maker), approved (by a different checker) or cleared (its rows were matched later); and (0.6.0) per match held for review: suggested, then cleared (accepted) or rejected';
COMMENT ON COLUMN reconcile.items.item_id IS 'Item id, for assign/resolve/approve/reopen';
COMMENT ON COLUMN reconcile.items.name IS 'Reconciliation';
COMMENT ON COLUMN reconcile.items.key IS 'Group key';
COMMENT ON COLUMN reconcile.items.ledger_id IS 'Ledger row, NULL when absent';
COMMENT ON COLUMN reconcile.items.statement_id IS 'Statement row, NULL when absent';
COMMENT ON COLUMN reconcile.items.category IS 'Category found by the latest run that found it';
COMMENT ON COLUMN reconcile.items.amount_diff IS 'Statement minus ledger amount';
COMMENT ON COLUMN reconcile.items.ledger_amount IS 'Amount of the ledger row';
COMMENT ON COLUMN reconcile.items.statement_amount IS 'Amount of the statement row';
COMMENT ON COLUMN reconcile.items.ledger_date IS 'Date of the ledger row';
COMMENT ON COLUMN reconcile.items.statement_date IS 'Date of the statement row';
COMMENT ON COLUMN reconcile.items.note IS 'Free text of the follow-up';
COMMENT ON COLUMN reconcile.items.resolved_at IS 'When it was resolved';
COMMENT ON COLUMN reconcile.items.approved_at IS 'When it was approved';
COMMENT ON COLUMN reconcile.items.first_run_id IS 'Run that first found it';
COMMENT ON COLUMN reconcile.items.last_run_id IS 'Latest run that found it';
COMMENT ON COLUMN reconcile.items.status IS 'open, resolved, approved or cleared; suggested (a match held for review, 0.6.0), then cleared by reconcile.accept or rejected by reconcile.reject';
COMMENT ON COLUMN reconcile.items.score IS 'The score of the match or discrepancy the latest run found (0.6.0)';
COMMENT ON COLUMN reconcile.items.reason IS 'The note of the match or discrepancy the latest run found (0.6.0)';
COMMENT ON COLUMN reconcile.items.group_tag IS 'Shared by the items of one group (a many_to_one or one_to_many match held for review, a fee_difference payout batch), which are accepted, rejected and written off whole (0.6.0)';
COMMENT ON COLUMN reconcile.items.assignee IS 'Who follows it up';
COMMENT ON COLUMN reconcile.items.resolution IS 'How it was resolved (e.g. written off, booked, chased)';
COMMENT ON COLUMN reconcile.items.resolved_by IS 'Role that resolved it (the maker), as it acted';
COMMENT ON COLUMN reconcile.items.approved_by IS 'Role that approved the resolution (the checker; never the maker)';
COMMENT ON COLUMN reconcile.items.recon_id IS 'The registration it was found for';
COMMENT ON COLUMN reconcile.items.resolved_session IS 'The maker as a person: the role that logged in (SET SESSION AUTHORIZATION does not change it)';
COMMENT ON COLUMN reconcile.items.approved_session IS 'The checker as a person: the role that logged in';

ALTER TABLE reconcile.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY items_visible ON reconcile.items FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (recon_id IN (SELECT reconcile.readable(false))
               AND last_run_id IN (SELECT u.run_id FROM reconcile.runs u WHERE u.run_by = current_user)));
GRANT SELECT ON reconcile.items TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('reconcile.items', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.items_item_id_seq', '');

----------------------------------------------------------------------------
-- Internal: items, for the functions below
----------------------------------------------------------------------------

-- Whether role who may see item it, as items_visible lets it.
CREATE FUNCTION reconcile.item_visible(it reconcile.items, who name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT it.recon_id IN (SELECT reconcile.readable(true, who))
           OR (it.recon_id IN (SELECT reconcile.readable(false, who))
               AND EXISTS (SELECT FROM reconcile.runs u WHERE u.run_id = it.last_run_id AND u.run_by = who))
$$;
REVOKE ALL ON FUNCTION reconcile.item_visible(reconcile.items, name) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.item_visible(reconcile.items, name) IS
'Internal: whether a role may see an item (as the policy items_visible lets it)';

-- The item, locked, if role who may see it as items_visible lets it: 42704 otherwise, revealing
-- nothing, and locking nothing (a role that may not see it cannot hold it against a run).
CREATE FUNCTION reconcile.item_for_update(item_id bigint, who name)
RETURNS reconcile.items
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it  reconcile.items;
BEGIN
    SELECT * INTO it FROM reconcile.items i WHERE i.item_id = item_for_update.item_id;
    IF NOT FOUND OR NOT reconcile.item_visible(it, who) THEN
        RAISE EXCEPTION 'item % does not exist', item_id USING ERRCODE = '42704';
    END IF;
    SELECT * INTO it FROM reconcile.items i WHERE i.item_id = item_for_update.item_id FOR UPDATE;
    RETURN it;
END
$$;
REVOKE ALL ON FUNCTION reconcile.item_for_update(bigint, name) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.item_for_update(bigint, name) IS
'Internal: the item, locked for update, when the role may see it (42704 otherwise, revealing nothing)';

----------------------------------------------------------------------------
-- Follow-up: each reconcile.<f> is src/act.c's entry point, which calls reconcile.<f>_by(acting
-- role, person, its arguments) as the tables' owner
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.assign_by(actor name, person name, item_id bigint, assignee text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items := reconcile.item_for_update(item_id, actor);
BEGIN
    UPDATE reconcile.items i SET assignee = assign_by.assignee WHERE i.item_id = it.item_id;
    PERFORM reconcile.audit(it.recon_id, 'assign', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('from', it.assignee, 'to', assignee), actor);
END
$$;
COMMENT ON FUNCTION reconcile.assign_by(name, name, bigint, text) IS
'Internal to reconcile.assign (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.assign_by(name, name, bigint, text) FROM PUBLIC;

CREATE FUNCTION reconcile.assign(item_id bigint, assignee text)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.assign(bigint, text) IS 'Assigns an item to someone to follow up';

-- With an account (0.6.0), the item's difference becomes an adjustment to that account, pending
-- until the item is approved (reconcile.adjustments).  An item of a group (a fee_difference payout
-- batch: its items share group_tag) is resolved with the rest of its group, whose difference is
-- the group's, with one adjustment.
CREATE FUNCTION reconcile.resolve_by(actor name, person name, item_id bigint, resolution text,
                                     note text, account text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it   reconcile.items := reconcile.item_for_update(item_id, actor);
    unit bigint[];
BEGIN
    IF it.status <> 'open' THEN
        RAISE EXCEPTION 'item % is %, not open', item_id, it.status USING ERRCODE = '55000';
    END IF;
    IF resolution IS NULL OR resolution = '' THEN
        RAISE EXCEPTION '"resolution" must not be empty' USING ERRCODE = '22023';
    END IF;
    IF account = '' THEN
        RAISE EXCEPTION '"account" must not be empty' USING ERRCODE = '22023',
            HINT = 'Leave it NULL to resolve without an adjustment.';
    END IF;
    SELECT pg_catalog.array_agg(i.item_id ORDER BY i.item_id) INTO unit FROM reconcile.items i
    WHERE i.item_id = it.item_id
       OR (it.group_tag IS NOT NULL AND i.recon_id = it.recon_id AND i.group_tag = it.group_tag AND i.status = 'open');
    UPDATE reconcile.items i
    SET status = 'resolved', resolution = resolve_by.resolution, note = COALESCE(resolve_by.note, i.note),
        resolved_by = actor, resolved_session = person, resolved_at = pg_catalog.now()
    WHERE i.item_id = ANY (unit);
    IF account IS NOT NULL THEN
        PERFORM reconcile.adjust(unit, account, COALESCE(note, resolution), actor);
    END IF;
    PERFORM reconcile.audit(it.recon_id, 'resolve', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('resolution', resolution, 'note', note, 'account', account),
                            actor);
END
$$;
COMMENT ON FUNCTION reconcile.resolve_by(name, name, bigint, text, text, text) IS
'Internal to reconcile.resolve (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.resolve_by(name, name, bigint, text, text, text) FROM PUBLIC;

CREATE FUNCTION reconcile.resolve(item_id bigint, resolution text, note text DEFAULT NULL, account text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.resolve(bigint, text, text, text) IS 'Resolves an open item (the maker): records the resolution, who (the role that logged in and the role it acted as) and when; with an account (0.6.0) the item''s difference becomes an adjustment to it, pending until a checker approves the item';

-- Maker-checker between persons: neither the checker's person (the role that logged in: SET
-- SESSION AUTHORIZATION does not change it) nor the role it acts as may be, or be a member of,
-- the maker's person or acting role.  SET ROLE, SET SESSION AUTHORIZATION, membership and other
-- roles' SECURITY DEFINER functions do not make a second person; a superuser is a member of every
-- role, so it approves nothing.
CREATE FUNCTION reconcile.approve_by(actor name, person name, item_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items := reconcile.item_for_update(item_id, actor);
    me name;
    maker name;
BEGIN
    IF it.status <> 'resolved' THEN
        RAISE EXCEPTION 'item % is %, not resolved', item_id, it.status USING ERRCODE = '55000';
    END IF;
    FOREACH me IN ARRAY ARRAY[person, actor] LOOP
        FOREACH maker IN ARRAY ARRAY[it.resolved_session, it.resolved_by] LOOP
            IF maker IS NOT NULL AND EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = maker)
               AND pg_catalog.pg_has_role(me, maker, 'MEMBER') THEN
                RAISE EXCEPTION 'item % was resolved by %, who cannot also approve it', item_id, it.resolved_by
                    USING ERRCODE = '42501',
                          DETAIL = pg_catalog.format('%s acts as or is a member of %s.', me, maker),
                          HINT = 'A second person approves (maker-checker).';
            END IF;
        END LOOP;
    END LOOP;
    -- a group resolved whole (its items share group_tag and one adjustment) is approved whole
    UPDATE reconcile.items i
    SET status = 'approved', approved_by = actor, approved_session = person, approved_at = pg_catalog.now()
    WHERE i.item_id = it.item_id
       OR (it.group_tag IS NOT NULL AND i.recon_id = it.recon_id AND i.group_tag = it.group_tag
           AND i.status = 'resolved' AND i.resolution IS NOT DISTINCT FROM it.resolution
           AND i.resolved_by IS NOT DISTINCT FROM it.resolved_by);
    PERFORM reconcile.audit(it.recon_id, 'approve', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('resolved_by', it.resolved_by,
                                                          'resolved_session', it.resolved_session,
                                                          'approved_session', person), actor);
END
$$;
COMMENT ON FUNCTION reconcile.approve_by(name, name, bigint) IS
'Internal to reconcile.approve (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.approve_by(name, name, bigint) FROM PUBLIC;

CREATE FUNCTION reconcile.approve(item_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.approve(bigint) IS 'Approves a resolved item (the checker); 42501 when the approving person (the role that logged in) or acting role is, or is a member of, the one who resolved it';

CREATE FUNCTION reconcile.reopen_by(actor name, person name, item_id bigint, note text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items := reconcile.item_for_update(item_id, actor);
BEGIN
    IF it.status NOT IN ('resolved', 'approved') THEN
        RAISE EXCEPTION 'item % is %, not resolved or approved', item_id, it.status USING ERRCODE = '55000';
    END IF;
    -- a group resolved whole is reopened whole
    UPDATE reconcile.items i
    SET status = 'open', note = reopen_by.note, resolution = NULL, resolved_by = NULL, resolved_at = NULL,
        resolved_session = NULL, approved_by = NULL, approved_at = NULL, approved_session = NULL
    WHERE i.item_id = it.item_id
       OR (it.group_tag IS NOT NULL AND i.recon_id = it.recon_id AND i.group_tag = it.group_tag
           AND i.status IN ('resolved', 'approved'));
    PERFORM reconcile.audit(it.recon_id, 'reopen', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('was', it.status, 'resolution', it.resolution,
                                                          'resolved_by', it.resolved_by,
                                                          'approved_by', it.approved_by, 'note', note), actor);
END
$$;
COMMENT ON FUNCTION reconcile.reopen_by(name, name, bigint, text) IS
'Internal to reconcile.reopen (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.reopen_by(name, name, bigint, text) FROM PUBLIC;

CREATE FUNCTION reconcile.reopen(item_id bigint, note text)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.reopen(bigint, text) IS 'Reopens a resolved or approved item; the earlier resolution stays in audit_log';

----------------------------------------------------------------------------
-- Internal: a manual match's bookkeeping (src/run.c calls these as the tables' owner)
----------------------------------------------------------------------------

-- The query that finds rows in the sources by id ($1 ledger ids, $2 statement ids), for
-- manual_match and unmatch to run with the caller's rights.
CREATE FUNCTION reconcile.rows_query(reg reconcile.reconciliations)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    raw boolean := reconcile.raw_key(reg.ledger, reg.statement, reg.columns);
BEGIN
    RETURN pg_catalog.format(
        'SELECT true AS is_ledger, (s.key)::text AS key, s.id FROM (%s) s WHERE s.id OPERATOR(pg_catalog.=) ANY ($1) '
        'UNION ALL SELECT false, (s.key)::text, s.id FROM (%s) s WHERE s.id OPERATOR(pg_catalog.=) ANY ($2)',
        reconcile.side_sql(reg.ledger, true, reg.columns -> 'ledger', raw),
        reconcile.side_sql(reg.statement, false, reg.columns -> 'statement', raw));
END
$$;
COMMENT ON FUNCTION reconcile.rows_query(reconcile.reconciliations) IS
'Internal to reconcile.manual_match and reconcile.unmatch: the query that finds source rows by id ($1 ledger, $2 statement), run with the caller''s rights';
REVOKE ALL ON FUNCTION reconcile.rows_query(reconcile.reconciliations) FROM PUBLIC;

-- The query that finds the rows of a manual match in the sources, once the registration is locked
-- (waiting for a run that holds it).
CREATE FUNCTION reconcile.manual_query(recon_id bigint)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations;
BEGIN
    PERFORM reconcile.lock_registration(recon_id, false);
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = manual_query.recon_id;
    RETURN reconcile.rows_query(reg);
END
$$;
COMMENT ON FUNCTION reconcile.manual_query(bigint) IS
'Internal to reconcile.manual_match: locks the registration (waiting for a run) and returns the query that finds the rows to match';
REVOKE ALL ON FUNCTION reconcile.manual_query(bigint) FROM PUBLIC;

-- Record a manual match from the rows reconcile.manual_match found (reconcile.captured()): every
-- id must be a row (42704) of one key (22023) not matched yet (55000); their items are cleared.
CREATE FUNCTION reconcile.record_manual(recon_id bigint, ledger_ids text[], statement_ids text[], note text,
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
    WHERE i.recon_id = record_manual.recon_id AND i.status NOT IN ('cleared', 'rejected')
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

----------------------------------------------------------------------------
-- Manual matches
----------------------------------------------------------------------------

-- One C entry point (src/run.c): the rows are found in the sources with the caller's rights, the
-- match is written with the tables' owner's (src/trust.c).
CREATE FUNCTION reconcile.manual_match(name text, ledger_ids text[], statement_ids text[], note text)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_manual_match'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.manual_match(text, text[], text[], text) IS
'Matches ledger and statement rows by hand (category manual), finding them in the sources with the caller''s rights: they show as manual in the views and in the next run''s results, every later run leaves them alone, and their items are cleared';

----------------------------------------------------------------------------
-- Unmatch
----------------------------------------------------------------------------

-- The rows of the matches that ledger row ledger_id is in, once the registration is locked
-- (waiting for a run), with the query that finds them in the sources (reconcile.rows_query);
-- 42704 when it is in none.
CREATE FUNCTION reconcile.unmatch_query(recon_id bigint, ledger_id text)
RETURNS TABLE (query text, ledger_ids text[], statement_ids text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    reg  reconcile.reconciliations;
    tags text[];
BEGIN
    PERFORM reconcile.lock_registration(recon_id, false);
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = unmatch_query.recon_id;
    SELECT pg_catalog.array_agg(DISTINCT c.match_tag) INTO tags
    FROM reconcile.cleared c WHERE c.recon_id = reg.id AND c.is_ledger AND c.id = unmatch_query.ledger_id;
    IF tags IS NULL THEN
        RAISE EXCEPTION 'ledger row "%" of "%" is not matched', unmatch_query.ledger_id, reg.name
            USING ERRCODE = '42704';
    END IF;
    RETURN QUERY
    SELECT reconcile.rows_query(reg),
           COALESCE(pg_catalog.array_agg(c.id) FILTER (WHERE c.is_ledger), '{}'),
           COALESCE(pg_catalog.array_agg(c.id) FILTER (WHERE NOT c.is_ledger), '{}')
    FROM reconcile.cleared c WHERE c.recon_id = reg.id AND c.match_tag = ANY (tags);
END
$$;
COMMENT ON FUNCTION reconcile.unmatch_query(bigint, text) IS
'Internal to reconcile.unmatch: locks the registration (waiting for a run), and returns the ids of the rows matched with the ledger row and the query that finds them in the sources (42704 when it is not matched)';
REVOKE ALL ON FUNCTION reconcile.unmatch_query(bigint, text) FROM PUBLIC;

-- Release the matches ledger row ledger_id is in.  An actor that row level security narrows on a
-- source must have found (reconcile.captured()) every row of them on that side; else, as when the
-- row is not matched, 42704: the match is out of its sight.
CREATE FUNCTION reconcile.record_unmatch(recon_id bigint, ledger_id text, actor name, name text)
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

-- One C entry point (src/run.c): the rows are found in the sources with the caller's rights, the
-- release is written with the tables' owner's.
CREATE FUNCTION reconcile.unmatch(name text, ledger_id text)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_unmatch'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.unmatch(text, text) IS
'Releases a matched ledger row and the rows matched with it (under every key it stands under), so that the next run matches them again; a role that row level security narrows must see all of them';

